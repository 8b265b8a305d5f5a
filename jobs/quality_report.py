"""quality_report: the business day's quality verdict, the last stage of the hourly DAG.

The gates run inside each job (etl_lib.quality); this job looks at what they recorded for
the run date in METADATA.QUALITY_METRICS (the latest result of each table and check) and:

* logs the checks per layer and status (PASS / WARN / FAIL) and each WARN and FAIL;
* fails (exit 1) when a ``fail`` check did not hold, or when a table that has rules in conf
  was written that day (RUN_LOG) without any metrics: a gate that should have run did not.

Writes nothing, so a scheduler can run it after every stage as often as it likes.

Run alone: ``spark-submit jobs/quality_report.py --env local --run-date 2024-01-15``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from etl_lib.job import JobContext, RunStats, run_job

JOB_NAME = "quality_report"
#: Listed WARN / FAIL checks at most (the counts cover them all).
MAX_LISTED = 50


class QualityReportFailed(RuntimeError):
    """The day's quality metrics show a failed ``fail`` check or a missing gate."""


@dataclass(frozen=True)
class Report:
    """What the day's metrics say: counts per (layer, status), the checks that did not
    pass (at most MAX_LISTED), and gated tables written without metrics."""

    counts: dict[tuple[str, str], int]
    not_passed: list[tuple[str, str, str, str, str]]  # table, check, severity, status, details
    missing: list[str]

    @property
    def failures(self) -> list[str]:
        failed = [f"{t}.{c}" for t, c, _, status, _ in self.not_passed if status == "FAIL"]
        return failed + [f"{t} (no quality metrics)" for t in self.missing]


def report(metrics: DataFrame, written: Iterable[str], gated: Iterable[str], day: date) -> Report:
    """The :class:`Report` of ``day`` from QUALITY_METRICS rows.

    ``written``: tables written on ``day`` by successful runs; ``gated``: tables with
    rules in conf. Reruns count once: the latest row of each table and check.
    """
    latest_first = Window.partitionBy("table", "check_name").orderBy(F.col("run_time").desc())
    todays = (
        metrics.where(F.col("run_date") == F.lit(day))
        .withColumn("_n", F.row_number().over(latest_first))
        .where(F.col("_n") == 1)
        .cache()
    )
    try:
        counts = {(r.layer, r.status): r["count"]
                  for r in todays.groupBy("layer", "status").count().collect()}
        not_passed = [
            (r.table, r.check_name, r.severity, r.status, r.details)
            for r in todays.where(F.col("status") != "PASS")
            .orderBy("status", "table", "check_name").limit(MAX_LISTED).collect()  # FAIL first
        ]
        checked = {r.table for r in todays.select("table").distinct().collect()}
    finally:
        todays.unpersist()
    missing = sorted((set(written) & set(gated)) - checked)
    return Report(counts, not_passed, missing)


def written_tables(run_log: DataFrame, day: date) -> set[str]:
    """Tables that successful runs of ``day`` wrote rows to (RUN_LOG ``tables``)."""
    rows = (
        run_log.where((F.col("run_date") == F.lit(day)) & (F.col("status") == "SUCCEEDED"))
        .select(F.explode("tables").alias("table", "rows"))
        .where(F.col("rows") > 0)
        .select("table").distinct().collect()
    )
    return {r.table for r in rows}


def run(ctx: JobContext) -> RunStats:
    wh, day, quality = ctx.warehouse, ctx.run_date, ctx.config.quality
    metrics = wh.read_or_none(ctx.table(quality.metrics_table))
    if metrics is None:
        raise QualityReportFailed(
            f"{ctx.table(quality.metrics_table)} does not exist: no gate has run yet")
    run_log = wh.read_or_none(ctx.table("run_log"))
    written = set() if run_log is None else written_tables(run_log, day)
    gated = {ctx.table(name) for name in quality.tables}
    found = report(metrics, written, gated, day)
    for (layer, status), count in sorted(found.counts.items()):
        ctx.log.info("%s: %d %s", layer, count, status)
    for table, check, severity, status, details in found.not_passed:
        ctx.log.warning("%s %s.%s (%s): %s", status, table, check, severity, details)
    if found.failures:
        raise QualityReportFailed(f"quality checks failed for {day}: " + ", ".join(found.failures))
    stats = RunStats()
    stats.rows_in = sum(found.counts.values())
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB_NAME, run, argv)


if __name__ == "__main__":
    sys.exit(main())
