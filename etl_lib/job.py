"""The common entry point of every job: arguments, context, run log, exit codes.

A job module defines ``run(ctx: JobContext) -> RunStats`` (read, call its pure
``transform``, write) and a two-line ``main``::

    def main(argv=None) -> int:
        return run_job("sales_enrich", run, argv)

``run_job`` parses ``--env``, ``--run-date`` and ``--conf key=value`` (ignoring the
arguments Glue and Dataproc inject), validates the configuration before Spark starts,
builds the context, records a RUN_LOG row whatever happens, and returns 0, 1 (the job
failed) or 2 (bad arguments or configuration), printing one clear line on failure.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T

from etl_lib.config import AppConfig, ConfigError, load_config
from etl_lib.io.warehouse import Warehouse, WriteResult
from etl_lib.logs import configure_logging

if TYPE_CHECKING:
    from etl_lib.quality.gate import QualityGate

__all__ = [
    "JobArgs",
    "JobContext",
    "RunStats",
    "create_context",
    "execute_step",
    "open_warehouse",
    "parse_args",
    "run_job",
]

#: Arguments that Glue, Dataproc or EMR add on their own; they are accepted and ignored.
PLATFORM_ARGUMENTS = frozenset({
    "--JOB_NAME", "--JOB_ID", "--JOB_RUN_ID", "--TempDir", "--job-bookmark-option",
    "--job-language", "--enable-metrics", "--enable-spark-ui", "--spark-event-logs-path",
    "--enable-job-insights", "--enable-observability-metrics", "--enable-glue-datacatalog",
    "--enable-continuous-cloudwatch-log", "--enable-continuous-log-filter",
    "--continuous-log-logGroup", "--extra-py-files", "--extra-jars", "--extra-files",
    "--additional-python-modules", "--python-modules-installer-option", "--datalake-formats",
    "--enable-auto-scaling", "--redshift-tmp-dir", "--encryption-type", "--job-type",
})

RUN_LOG_SCHEMA = T.StructType([
    T.StructField("run_id", T.StringType(), False),
    T.StructField("job", T.StringType(), False),
    T.StructField("run_date", T.DateType(), False),
    T.StructField("env", T.StringType(), False),
    T.StructField("status", T.StringType(), False),
    T.StructField("rows_in", T.LongType(), False),
    T.StructField("rows_out", T.LongType(), False),
    T.StructField("rows_rejected", T.LongType(), False),
    T.StructField("tables", T.MapType(T.StringType(), T.LongType()), False),
    T.StructField("started_at", T.TimestampType(), False),
    T.StructField("duration_s", T.DoubleType(), False),
    T.StructField("error", T.StringType(), True),
])


class JobFailed(RuntimeError):
    """A job step failed; its RUN_LOG row has been written."""


@dataclass(frozen=True)
class JobArgs:
    env: str
    run_date: date
    overrides: tuple[str, ...]
    run_id: str
    ignored: tuple[str, ...] = ()


@dataclass
class RunStats:
    """What a job did: rows read, loaded and rejected, and rows written per table."""

    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    tables: dict[str, int] = field(default_factory=dict)

    def wrote(self, result: WriteResult, counts_as: str = "out") -> WriteResult:
        """Record a write; its rows count as ``out`` (loaded), ``rejected``, or ``other``."""
        if counts_as not in ("out", "rejected", "other"):
            raise ValueError(f"counts_as must be out, rejected or other, not {counts_as!r}")
        self.tables[result.table] = self.tables.get(result.table, 0) + result.rows_written
        if counts_as == "rejected":
            self.rows_rejected += result.rows_written
        elif counts_as == "out":
            self.rows_out += result.rows_written
        return result


@dataclass
class JobContext:
    """Everything a job's ``run`` needs; built once per process."""

    spark: SparkSession
    config: AppConfig
    warehouse: Warehouse
    run_date: date
    run_id: str
    log: logging.Logger
    _gate: QualityGate | None = field(default=None, init=False, repr=False)

    def table(self, logical_name: str) -> str:
        return self.config.table(logical_name)

    def cache(self, frame: DataFrame) -> DataFrame:
        """Persist ``frame``, which several actions reuse, at conf's ``spark.cache_level``."""
        return frame.persist(getattr(StorageLevel, self.config.spark.cache_level))

    def masking_key(self) -> bytes:
        """The PII masking key from env or AWS Secrets Manager (see etl_lib.masking)."""
        from etl_lib.masking import load_masking_key

        settings = self.config.masking
        return load_masking_key(
            settings.key_env, settings.key_secret_id, settings.key_secret_region
        )

    def masking_policies(self, dataset: str) -> dict[str, str]:
        """Column -> policy for ``dataset`` (empty when the dataset holds no PII)."""
        return dict(self.config.masking.policies.get(dataset, {}))

    def quality_gate(self, **frames: DataFrame) -> None:
        """Check frames against their tables' conf ``quality`` rules, before writing them.

        Keywords are logical table names: ``ctx.quality_gate(stg_sales=staged)``. Every
        check gives a QUALITY_METRICS row (written when the job ends, see
        :func:`execute_step`); a ``warn`` check that does not hold is only recorded, a
        ``fail`` one writes the rows at once and raises
        ``etl_lib.quality.gate.QualityGateFailed`` naming it, so the job stops before the
        write. Tables without rules are skipped.
        """
        self._quality().run(frames)

    def reconcile_landing(self, table: str, landing: DataFrame) -> None:
        """After the staging writes: each of the day's ``landing`` lines is in ``table``, in
        its REJECTED table, or superseded (conf ``landing_balance`` checks of ``table``)."""
        self._quality().reconcile_landing(table, landing)

    def flush_quality_metrics(self) -> None:
        """Write the QUALITY_METRICS rows of the gates run so far (one MERGE)."""
        if self._gate is not None:
            self._gate.flush()

    def _quality(self) -> QualityGate:
        from etl_lib.quality.gate import QualityGate

        if self._gate is None:
            self._gate = QualityGate(self.spark, self.warehouse, self.config, self.run_id,
                                     self.run_date, self.log, defer_metrics=True)
        return self._gate


def _run_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--run-date {text!r} is not a date (YYYY-MM-DD)") from None


def parse_args(argv: Sequence[str] | None = None, prog: str | None = None) -> JobArgs:
    """Parse job arguments; platform-injected ones (``--JOB_NAME``, ``--TempDir``, ...) are dropped.

    ``--conf spark.*=value`` is passed through as Spark configuration.
    """
    parser = argparse.ArgumentParser(prog=prog, description="Run an ETL job for one business day.")
    parser.add_argument("--env", default="local", help="conf overlay: conf/<env>.yaml (default local)")
    parser.add_argument("--run-date", required=True, type=_run_date, help="business day, YYYY-MM-DD")
    parser.add_argument(
        "--conf", action="append", default=[], metavar="KEY=VALUE",
        help="override a conf value, e.g. --conf warehouse.root=/data/wh (repeatable)",
    )
    parser.add_argument("--run-id", default=None, help="id for RUN_LOG (default: a new UUID)")
    known, unknown = parser.parse_known_args(_drop_platform_arguments(list(argv or [])))
    overrides = tuple(
        f"spark.conf.{item}" if item.startswith("spark.") else item for item in known.conf
    )
    return JobArgs(
        env=known.env,
        run_date=known.run_date,
        overrides=overrides,
        run_id=known.run_id or uuid.uuid4().hex,
        ignored=tuple(unknown),
    )


def _drop_platform_arguments(argv: list[str]) -> list[str]:
    kept: list[str] = []
    skip_value = False
    for item in argv:
        if skip_value:
            skip_value = False
            continue
        name = item.split("=", 1)[0]
        if name in PLATFORM_ARGUMENTS:
            skip_value = "=" not in item
            continue
        kept.append(item)
    return kept


def open_warehouse(spark: SparkSession, config: AppConfig) -> Warehouse:
    """The warehouse adapter ``warehouse.kind`` names."""
    if config.warehouse.kind == "delta":
        from etl_lib.io.delta import DeltaWarehouse

        return DeltaWarehouse(spark, config.warehouse.root)
    from etl_lib.io.snowflake import SnowflakeWarehouse

    return SnowflakeWarehouse.from_config(spark, config)


def create_context(
    job_name: str, args: JobArgs, config: AppConfig | None = None, spark: SparkSession | None = None
) -> JobContext:
    """Validate conf (unless given), start or attach to Spark, and open the warehouse."""
    from etl_lib.session import build_session, detect_platform

    config = config or load_config(args.env, args.overrides)
    platform = detect_platform() if config.platform == "auto" else config.platform
    configure_logging(config.logging.level, config.logging.format, platform)
    log = logging.getLogger(f"etl.{job_name}")
    if args.ignored:
        log.warning("ignoring unrecognised arguments: %s", " ".join(args.ignored))
    spark = spark or build_session(config, f"{job_name}-{args.run_date}")
    return JobContext(
        spark=spark,
        config=config,
        warehouse=open_warehouse(spark, config),
        run_date=args.run_date,
        run_id=args.run_id,
        log=log,
    )


def execute_step(
    ctx: JobContext, job_name: str, run: Callable[[JobContext], RunStats]
) -> RunStats:
    """Run one job against ``ctx``, log its outcome and record its RUN_LOG row.

    Raises:
        JobFailed: the job raised; the cause is chained and a FAILED row is recorded.
    """
    started = datetime.now(timezone.utc)
    clock = time.monotonic()
    ctx.log.info("%s: started for %s (run %s)", job_name, ctx.run_date, ctx.run_id)
    stats, error = RunStats(), None
    try:
        stats = run(ctx)
        ctx.flush_quality_metrics()  # the job's gate calls, in one write
    except JobFailed as exc:  # a nested step failed and has logged its own traceback
        error = str(exc)
    except Exception as exc:  # recorded, then re-raised as JobFailed
        error = describe_error(exc)
        ctx.log.error("%s failed:\n%s", job_name, traceback.format_exc().rstrip())
    if error:
        _flush_quality_metrics(ctx, job_name)
    duration = time.monotonic() - clock
    _record_run(ctx, job_name, stats, started, duration, error)
    if error:
        raise JobFailed(f"{job_name} failed for {ctx.run_date}: {error}")
    ctx.log.info(
        "%s: done in %.1fs: %d read, %d loaded, %d rejected",
        job_name, duration, stats.rows_in, stats.rows_out, stats.rows_rejected,
    )
    return stats


def describe_error(exc: BaseException) -> str:
    """One line saying what went wrong (for JVM errors, the Java exception, not py4j's wrapper)."""
    java = getattr(exc, "java_exception", None)
    text = str(java.toString()) if java is not None else f"{type(exc).__name__}: {exc}"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[0] if lines else type(exc).__name__)[:1000]


def _flush_quality_metrics(ctx: JobContext, job_name: str) -> None:
    """After a failure: keep the metrics of the gates that ran before it."""
    try:
        ctx.flush_quality_metrics()
    except Exception as exc:  # like RUN_LOG: the job's outcome matters more than its metrics
        ctx.log.error("could not record QUALITY_METRICS for %s: %s", job_name, exc)


def _record_run(
    ctx: JobContext, job_name: str, stats: RunStats, started: datetime, duration: float,
    error: str | None,
) -> None:
    row = (
        ctx.run_id, job_name, ctx.run_date, ctx.config.env, "FAILED" if error else "SUCCEEDED",
        stats.rows_in, stats.rows_out, stats.rows_rejected, dict(stats.tables),
        started, round(duration, 3), error,  # aware: the same instant in any driver zone
    )
    frame = ctx.spark.createDataFrame([row], RUN_LOG_SCHEMA)
    try:
        ctx.warehouse.merge(frame, ctx.table("run_log"), keys=["run_id", "job"])
    except Exception as exc:  # the run's own outcome matters more than its log row
        ctx.log.error("could not record RUN_LOG for %s: %s", job_name, exc)


def run_job(
    job_name: str, run: Callable[[JobContext], RunStats], argv: Sequence[str] | None = None
) -> int:
    """Entry point for ``spark-submit jobs/<job>.py``: returns the process exit code."""
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = parse_args(argv, prog=job_name)
        ctx = create_context(job_name, args)
    except SystemExit as exc:  # argparse has printed its message
        return int(exc.code or 2)
    except ConfigError as exc:
        print(f"{job_name}: {exc}", file=sys.stderr)
        return 2
    try:
        execute_step(ctx, job_name, run)
    except JobFailed as exc:
        print(f"ERROR {exc} (run_id={ctx.run_id})", file=sys.stderr)
        return 1
    return 0
