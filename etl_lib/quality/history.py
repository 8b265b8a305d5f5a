"""What earlier runs saw: row counts from QUALITY_METRICS and RUN_LOG, one small query each.

Both look only at run dates before the current one (a rerun of a day compares with the
day before, not with its own first attempt), and take the latest attempt of each date.
At most ``limit`` rows reach the driver.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

__all__ = ["previous_rows_checked", "written_rows_history"]


def previous_rows_checked(metrics: DataFrame, table: str, run_date: date) -> int | None:
    """``rows_checked`` of ``table`` on the latest earlier run date in QUALITY_METRICS, or None."""
    row = (
        metrics.where(
            (F.col("table") == table) & (F.col("run_date") < F.lit(run_date))
            & F.col("rows_checked").isNotNull()  # e.g. schema_drift rows count no rows
        )
        .orderBy(F.col("run_date").desc(), F.col("run_time").desc())
        .select("rows_checked")
        .first()
    )
    return None if row is None else int(row[0])


def written_rows_history(run_log: DataFrame, table: str, run_date: date, limit: int) -> list[int]:
    """Rows written to ``table`` by the last ``limit`` successful earlier run dates (RUN_LOG).

    RUN_LOG's ``tables`` maps SCHEMA.NAME -> rows written by one job run; of several rows
    for one run date (reruns, or a pipeline row next to its step's row) the latest counts.
    """
    written = F.col("tables").getItem(table)
    candidates = run_log.where(
        (F.col("status") == "SUCCEEDED") & (F.col("run_date") < F.lit(run_date))
        & written.isNotNull()
    ).select("run_date", "started_at", written.alias("rows"))
    latest_first = Window.partitionBy("run_date").orderBy(F.col("started_at").desc())
    per_date = (
        candidates.withColumn("_n", F.row_number().over(latest_first))
        .where(F.col("_n") == 1)
        .orderBy(F.col("run_date").desc())
        .limit(limit)
    )
    return [int(r["rows"]) for r in per_date.collect()]
