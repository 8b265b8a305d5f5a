"""METADATA.QUALITY_METRICS: one row per check per table per run, merged so reruns are safe."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from etl_lib.io.warehouse import Warehouse, WriteResult
from etl_lib.quality.outcome import CheckOutcome

__all__ = [
    "METRICS_KEYS", "QUALITY_METRICS_SCHEMA", "TableOutcomes", "metrics_frame", "write_metrics",
]

QUALITY_METRICS_SCHEMA = T.StructType([
    T.StructField("run_id", T.StringType(), False),
    T.StructField("run_date", T.DateType(), False),
    T.StructField("run_time", T.TimestampType(), False),
    T.StructField("layer", T.StringType(), False),
    T.StructField("table", T.StringType(), False),
    T.StructField("check_name", T.StringType(), False),
    T.StructField("check_type", T.StringType(), False),
    T.StructField("severity", T.StringType(), False),
    T.StructField("status", T.StringType(), False),
    T.StructField("error_count", T.LongType(), False),
    T.StructField("rows_checked", T.LongType(), True),
    T.StructField("details", T.StringType(), True),
])

#: A rerun of the same run id replaces its rows instead of adding new ones.
METRICS_KEYS = ("run_id", "table", "check_name")


@dataclass(frozen=True)
class TableOutcomes:
    """The checks of one table in one gate: where, how many rows, and what each concluded."""

    table: str
    layer: str
    rows_checked: int | None
    outcomes: Sequence[CheckOutcome]

    @property
    def failures(self) -> list[CheckOutcome]:
        return [o for o in self.outcomes if o.failed]


def metrics_frame(
    spark: SparkSession,
    results: Sequence[TableOutcomes],
    run_id: str,
    run_date: date,
    run_time: datetime,
) -> DataFrame:
    """QUALITY_METRICS rows for ``results`` (``run_time``: a time-zone-aware datetime)."""
    rows = [
        (run_id, run_date, run_time, r.layer, r.table, o.check_name, o.check_type, o.severity,
         o.status, o.error_count, r.rows_checked, o.details)
        for r in results
        for o in r.outcomes
    ]
    return spark.createDataFrame(rows, QUALITY_METRICS_SCHEMA)


def write_metrics(warehouse: Warehouse, table: str, frame: DataFrame) -> WriteResult:
    """Merge ``frame`` into ``table`` on run_id + table + check_name (created if missing)."""
    return warehouse.merge(frame, table, keys=list(METRICS_KEYS))
