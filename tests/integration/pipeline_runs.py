"""The shared integration run and how tests compare warehouses.

:func:`run_three_days` generates one landing zone (every dataset, 3 days) and runs every
pipeline step for each day, once per test session (fixture ``three_days`` in
conftest.py): the expensive part of the suite, checked by many modules. A test that
writes works on :meth:`PipelineRun.copy`; runs elsewhere (s3a, a standalone cluster,
Snowflake SQL) are compared with :attr:`PipelineRun.day_one`, the warehouse after day 1.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import MapType, StringType

from etl_lib.config import AppConfig, load_config
from etl_lib.io.delta import DeltaWarehouse
from etl_lib.io.files import glob_files
from etl_lib.job import JobArgs, JobContext, create_context

REPO = Path(__file__).resolve().parents[2]
START = date(2024, 1, 15)
DAYS = [START + timedelta(days=i) for i in range(3)]
SCALE = 0.05
SEED = 7
#: Parquet folders (not tables) some jobs write under the warehouse root.
PARQUET_ZONES = ("processed/reviews", "processed/review_images", "audit/inventory_cdc")
#: Wall-clock columns, which differ between any two runs: not compared (None: the table).
VOLATILE = {"METADATA.RUN_LOG": None, "METADATA.QUALITY_METRICS": ["run_time"]}


def run_id_of(day: date) -> str:
    """The run id the shared run gives ``day`` (a run compared with it reuses it)."""
    return f"it-{day:%Y%m%d}"


def local_config(landing: Path | str, warehouse: Path | str, *extra: str) -> AppConfig:
    return load_config("local", [f"landing.root={landing}", f"warehouse.root={warehouse}",
                                 "spark.shuffle_partitions=2", *extra])


def context(spark: SparkSession, config: AppConfig, day: date, run_id: str | None = None,
            job: str = "pipeline") -> JobContext:
    args = JobArgs(env=config.env, run_date=day, overrides=(), run_id=run_id or run_id_of(day))
    return create_context(job, args, config=config, spark=spark)


def run_pipeline(spark: SparkSession, config: AppConfig, day: date) -> set[str]:
    """Run jobs/pipeline.py's steps for ``day`` in this process; return the tables written."""
    from jobs import pipeline

    return set(pipeline.run(context(spark, config, day)).tables)


@dataclass(frozen=True)
class PipelineRun:
    """A landing zone, the warehouse the pipeline built from it, and the generator's manifest."""

    spark: SparkSession
    landing: Path
    root: Path  # the warehouse root
    day_one: Path  # a copy of the warehouse after the first day
    manifest: dict
    config: AppConfig
    tables: frozenset[str]  # every table the pipeline wrote

    @property
    def warehouse(self) -> DeltaWarehouse:
        return DeltaWarehouse(self.spark, str(self.root))

    def context(self, day: date, run_id: str | None = None, job: str = "pipeline") -> JobContext:
        return context(self.spark, self.config, day, run_id, job)

    def table(self, logical: str) -> DataFrame:
        return self.warehouse.read(self.config.table(logical))

    def day(self, day: date) -> dict:
        """The generator's manifest entry for ``day``."""
        return self.manifest["days"][day.isoformat()]

    def copy(self, dest: Path) -> "PipelineRun":
        """The same run over its own copy of the warehouse, for a test that writes."""
        shutil.copytree(self.root, dest / "warehouse")
        config = local_config(self.landing, dest / "warehouse")
        return replace(self, root=dest / "warehouse", config=config)


def run_three_days(spark: SparkSession, base: Path) -> PipelineRun:
    """Generate every dataset for DAYS under ``base`` and run the pipeline for each day."""
    import sys

    sys.path.insert(0, str(REPO / "scripts"))
    from generate_data import generate

    landing, root = base / "landing", base / "warehouse"
    manifest = generate(landing, START, len(DAYS), SCALE, SEED)
    config = local_config(landing, root)
    tables: set[str] = set()
    for day in DAYS:
        tables |= run_pipeline(spark, config, day)
        if day == DAYS[0]:
            shutil.copytree(root, base / "day-one")
    return PipelineRun(spark, landing, root, base / "day-one", manifest, config,
                       frozenset(tables))


def parquet_zones(spark: SparkSession, root: str) -> dict[str, DataFrame]:
    """The PARQUET_ZONES present under ``root``, read with partition discovery."""
    found = {}
    for zone in PARQUET_ZONES:
        if glob_files(spark, [f"{root.rstrip('/')}/{zone}/*/*.parquet"]):
            found[zone] = spark.read.parquet(f"{root.rstrip('/')}/{zone}")
    return found


def normalized(df: DataFrame) -> DataFrame:
    """Comparable rows: lineage paths relative to the landing root, maps as sorted entries.

    (Lineage columns hold file paths under the landing root, which differs between runs;
    chispa sorts rows to ignore their order, and Spark cannot sort by a map.)
    """
    for field in df.schema.fields:
        if "source_file" in field.name and isinstance(field.dataType, StringType):
            df = df.withColumn(field.name, F.regexp_replace(field.name, r"^.*/landing/", ""))
        elif isinstance(field.dataType, MapType):
            df = df.withColumn(field.name, F.array_sort(F.map_entries(field.name)))
    return df


def assert_same_tables(expected: DeltaWarehouse, actual: DeltaWarehouse,
                       tables: set[str] | frozenset[str], zones: bool = True) -> None:
    """``tables`` (and, with ``zones``, the Parquet zones) of ``actual`` hold the rows and
    schema of ``expected``."""
    pairs = {}
    if zones:
        expected_zones = parquet_zones(expected.spark, expected.root)
        actual_zones = parquet_zones(actual.spark, actual.root)
        assert set(actual_zones) == set(expected_zones)
        pairs = {zone: (expected_zones[zone], actual_zones[zone]) for zone in expected_zones}
    for table in sorted(tables):
        volatile = VOLATILE.get(table, [])
        if volatile is None:
            continue
        assert actual.exists(table), f"{table} missing at {actual.location(table)}"
        pairs[table] = (expected.read(table).drop(*volatile), actual.read(table).drop(*volatile))
    for want, got in pairs.values():
        assert_df_equality(normalized(got), normalized(want), ignore_row_order=True,
                           ignore_nullable=True, underline_cells=True)
