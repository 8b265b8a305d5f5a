"""customers_oltp_extract: customers changed in the OLTP database since the last run ->
STAGING.STG_CUSTOMERS_OLTP (upsert by key) + STAGING.REJECTED_CUSTOMERS_OLTP.

The source table is read incrementally by a watermark column (``updated_at``), in parallel
ranges of a numeric column (``id``); the high-water mark lives in METADATA.WATERMARKS and
advances only after the rows are merged, so a failed run is simply run again. PII is
masked before anything is written, as for the landing snapshots.

    spark-submit --packages org.postgresql:postgresql:42.7.4 jobs/customers_oltp_extract.py \\
        --env local --run-date 2024-01-15 --conf sources.oltp.url=jdbc:postgresql://db:5432/retail

Credentials: ``sources.<source>.secret_id`` (AWS Secrets Manager) or the environment
variables ``sources.<source>.user_env`` / ``password_env``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict, Field
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from etl_lib.cleansing import trim_strings
from etl_lib.config import ConfigError
from etl_lib.dedupe import dedupe_latest
from etl_lib.io.files import RAW_RECORD, SOURCE_FILE
from etl_lib.io.jdbc import commit_watermark, extract_increment, jdbc_options, read_watermark
from etl_lib.job import JobContext, RunStats, run_job
from etl_lib.masking import Policy, mask_columns
from etl_lib.staging import StagedBatch, stage_rows
from etl_lib.validation import is_missing

JOB_NAME = "customers_oltp_extract"
#: JVM artifacts this job needs beyond the platform's (scripts/deploy.py adds them).
CAPABILITIES = ("postgres",)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = "oltp"
    table: str = "public.customers"
    key: list[str] = Field(default=["customer_id"], min_length=1)
    watermark_column: str = "updated_at"
    #: Numeric column the read is split on; null reads the increment in one query.
    partition_column: str | None = "id"
    num_partitions: int = Field(4, ge=1)
    #: Which masking policies (conf masking.policies.<name>) apply to the rows.
    masking_dataset: str = "customers"


def transform(
    increment: DataFrame,
    key: Sequence[str],
    watermark_column: str,
    lineage: str,
    run_date: date,
    run_id: str,
    pii_policies: Mapping[str, Policy],
    masking_key: bytes,
) -> StagedBatch:
    """Trim text, lower-case e-mails, mask PII, reject rows without a key, keep the latest
    row per key; valid rows gain ``source_file`` (``lineage``), ``business_date``, ``run_id``.
    """
    columns = increment.columns
    cleaned = trim_strings(increment)
    if "email" in columns:
        cleaned = cleaned.withColumn("email", F.lower("email"))
    cleaned = mask_columns(cleaned, pii_policies, masking_key).withColumns({
        RAW_RECORD: F.lit(None).cast(StringType()),
        SOURCE_FILE: F.lit(lineage),
    })
    record = F.struct(*[F.col(c) for c in columns])
    batch = stage_rows(cleaned, [is_missing(k) for k in key], record, run_date)
    valid = dedupe_latest(batch.valid, key, [watermark_column]).select(
        *columns,
        F.col(SOURCE_FILE).alias("source_file"),
        F.lit(run_date).alias("business_date"),
        F.lit(run_id).alias("run_id"),
    )
    return StagedBatch(valid=valid, rejected=batch.rejected)


def run(ctx: JobContext) -> RunStats:
    params = ctx.config.job_params(JOB_NAME, Params)
    source = ctx.config.sources.get(params.source)
    if source is None:
        raise ConfigError(f"conf error: sources.{params.source}: not set (jobs.{JOB_NAME}.source)")
    stats, wh = RunStats(), ctx.warehouse
    marks = ctx.table("watermarks")
    since = read_watermark(wh, marks, params.source, params.table, params.watermark_column)
    increment = extract_increment(
        ctx.spark, jdbc_options(ctx.spark, source), params.table, params.watermark_column,
        since, params.partition_column, params.num_partitions,
    )
    stats.rows_in = increment.rows
    ctx.log.info("%s/%s: %d rows after %s", params.source, params.table, increment.rows,
                 since.value if since else "the beginning")
    if increment.rows == 0:
        return stats
    rows = increment.frame.cache()  # feeds two writes: query the source once
    try:
        batch = transform(
            rows, params.key, params.watermark_column, f"jdbc:{params.source}/{params.table}",
            ctx.run_date, ctx.run_id, ctx.masking_policies(params.masking_dataset),
            ctx.masking_key(),
        )
        stats.wrote(wh.merge(batch.rejected, ctx.table("rejected_customers_oltp"), ["record"]),
                    counts_as="rejected")
        stats.wrote(wh.merge(batch.valid, ctx.table("stg_customers_oltp"), params.key,
                             newer_by=[params.watermark_column]))
    finally:
        rows.unpersist()
    commit_watermark(ctx.spark, wh, marks, params.source, params.table,
                     params.watermark_column, increment, ctx.run_id, ctx.run_date)
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB_NAME, run, argv)


if __name__ == "__main__":
    sys.exit(main())
