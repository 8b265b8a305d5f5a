"""stores_dim: landing stores CSV -> STG_STORES + REJECTED_STORES -> DIM_STORE (SCD1).

Stores files arrive "any day": on a day without one, DIM_STORE is left as it is (its
unknown member is still guaranteed).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl_lib.cleansing import normalize_text, parse_date, trim_strings
from etl_lib.dedupe import dedupe_latest
from etl_lib.dimensions import upsert_scd1
from etl_lib.io.files import SOURCE_FILE
from etl_lib.job import JobContext, RunStats, run_job
from etl_lib.joins import surrogate_key
from etl_lib.landing import STORES_SCHEMA
from etl_lib.staging import StagedBatch, read_optional_landing, stage_rows, write_staged
from etl_lib.validation import is_missing, not_parsed

JOB_NAME = "stores_dim"
RAW_COLUMNS = tuple(field.name for field in STORES_SCHEMA.fields)


def transform(raw: DataFrame, business_date: date) -> tuple[StagedBatch, DataFrame]:
    """Stage a stores file and derive DIM_STORE rows (one per store_id, chosen deterministically).

    Returns:
        (staged batch for STG_STORES / REJECTED_STORES, DIM_STORE rows without the unknown member)
    """
    trimmed = trim_strings(raw, RAW_COLUMNS)
    typed = trimmed.withColumns({
        "region_clean": normalize_text(F.col("region"), "title"),
        "opened": parse_date(F.col("opened_date")),
        "source_file": F.col(SOURCE_FILE),
    })
    rules = [is_missing("store_id"), not_parsed("opened_date", F.col("opened"))]
    record = F.struct(*[F.col(c) for c in RAW_COLUMNS])
    batch = stage_rows(typed, rules, record, business_date)
    staged = batch.valid.select(
        "store_id", "store_name", "city", F.col("region_clean").alias("region"), "country",
        F.col("opened").alias("opened_date"), "source_file",
        F.lit(business_date).alias("business_date"),
    )
    # A store listed twice in one file (a full list should not do that): every copy is
    # staged, and the member is the copy with the greatest attributes, the same on a rerun.
    latest_first = ["source_file", "store_name", "city", "region", "country", "opened_date"]
    members = dedupe_latest(staged, ["store_id"], latest_first).select(
        surrogate_key("store_id").alias("store_key"),
        "store_id", "store_name", "city", "region", "country", "opened_date",
        F.col("business_date").alias("source_date"),
    )
    return StagedBatch(valid=staged, rejected=batch.rejected), members


def run(ctx: JobContext) -> RunStats:
    stats, day = RunStats(), ctx.run_date
    raw = read_optional_landing(
        ctx.spark, ctx.warehouse, ctx.config.landing.root, "stores", day, ctx.table("dim_store")
    )
    if raw is None:
        ctx.log.info("no stores file for %s: DIM_STORE keeps its current members", day)
        return stats
    batch, members = transform(raw, day)
    ctx.quality_gate(stg_stores=batch.valid, rejected_stores=batch.rejected, dim_store=members)
    write_staged(ctx.warehouse, batch, ctx.table("stg_stores"), ctx.table("rejected_stores"), day, stats)
    stats.wrote(upsert_scd1(
        ctx.warehouse, members, ctx.table("dim_store"), "store_key", "store_id", ["source_date"]
    ))
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB_NAME, run, argv)


if __name__ == "__main__":
    sys.exit(main())
