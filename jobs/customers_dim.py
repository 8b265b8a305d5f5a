"""customers_dim: the day's customer snapshot -> STG_CUSTOMERS + REJECTED_CUSTOMERS -> DIM_CUSTOMER.

DIM_CUSTOMER holds the current state of every customer in the latest snapshot applied
(one row per customer, ``is_current`` true) plus the unknown member. A snapshot older
than the one already applied is staged but does not regress the dimension.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl_lib.cleansing import normalize_text, trim_strings
from etl_lib.dedupe import dedupe_latest
from etl_lib.dimensions import with_unknown_member
from etl_lib.io.files import SOURCE_FILE
from etl_lib.job import JobContext, RunStats, run_job
from etl_lib.joins import surrogate_key
from etl_lib.masking import Policy, mask_columns
from etl_lib.landing import CUSTOMERS_SCHEMA, read_landing
from etl_lib.staging import StagedBatch, stage_rows, write_staged
from etl_lib.validation import is_missing

JOB_NAME = "customers_dim"
RAW_COLUMNS = tuple(field.name for field in CUSTOMERS_SCHEMA.fields)
TEXT_COLUMNS = ("customer_id", "first_name", "last_name", "email", "phone", "segment", "city",
                "state", "country")


def transform(
    raw: DataFrame,
    snapshot_date: date,
    run_id: str,
    pii_policies: Mapping[str, Policy],
    masking_key: bytes,
) -> tuple[StagedBatch, DataFrame]:
    """Mask PII, stage a snapshot and derive the current DIM_CUSTOMER rows (no unknown member).

    Masking happens first, so neither STAGING, REJECTED nor the dimension ever holds raw PII.
    """
    cleaned = trim_strings(raw, TEXT_COLUMNS).withColumns({
        "email": F.lower(F.col("email")),
        "segment": normalize_text(F.col("segment"), "title"),
        "country": F.upper(F.col("country")),
        "source_file": F.col(SOURCE_FILE),
    })
    cleaned = mask_columns(cleaned, pii_policies, masking_key)
    record = F.struct(*[F.col(c) for c in RAW_COLUMNS])
    batch = stage_rows(cleaned, [is_missing("customer_id")], record, snapshot_date, run_id)
    staged = batch.valid.select(
        *RAW_COLUMNS, "source_file",
        F.lit(snapshot_date).alias("business_date"), F.lit(run_id).alias("run_id"),
    )
    current = dedupe_latest(staged, ["customer_id"], ["updated_at", "source_file"]).select(
        surrogate_key("customer_id").alias("customer_key"),
        *RAW_COLUMNS,
        F.lit(True).alias("is_current"),
        F.col("business_date").alias("snapshot_date"),
    )
    return StagedBatch(valid=staged, rejected=batch.rejected), current


def run(ctx: JobContext) -> RunStats:
    stats, day, wh = RunStats(), ctx.run_date, ctx.warehouse
    raw = read_landing(ctx.spark, ctx.config.landing.root, "customers", day)
    batch, current = transform(
        raw, day, ctx.run_id, ctx.masking_policies("customers"), ctx.masking_key()
    )
    write_staged(wh, batch, ctx.table("stg_customers"), ctx.table("rejected_customers"), day, stats)
    dim_table = ctx.table("dim_customer")
    if wh.exists(dim_table):
        applied = wh.read(dim_table).agg(F.max("snapshot_date")).first()[0]
        if applied is not None and applied > day:
            ctx.log.warning("DIM_CUSTOMER already reflects %s; the %s snapshot is only staged",
                            applied, day)
            return stats
    dimension = with_unknown_member(current, "customer_key", "customer_id")
    stats.wrote(wh.overwrite(dimension, dim_table))
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB_NAME, run, argv)


if __name__ == "__main__":
    sys.exit(main())
