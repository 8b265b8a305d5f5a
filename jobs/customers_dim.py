"""customers_dim: a day's customer snapshot -> STG_CUSTOMERS, REJECTED_CUSTOMERS, DIM_CUSTOMER.

PII is masked first (HMAC tokens are deterministic per value and key), so neither STAGING,
REJECTED nor the dimension ever holds raw PII, and a changed email still reads as a change.

DIM_CUSTOMER keeps every version of a customer (apply_changes_from_snapshot, SCD2, the
snapshot date as the version): ``customer_key`` (stable per version), ``valid_from`` /
``valid_to`` (snapshot dates; a version is valid from 00:00 UTC of its snapshot's day up
to, not including, the next one), ``is_current``, ``_sequence`` (last snapshot folded in).
A customer missing from a snapshot is deleted: its current version closes at that date.
A change to ``updated_at`` alone updates the current version in place. The unknown member
(key -1) is kept alongside. A snapshot older than the one applied is staged only.

Run alone: ``spark-submit jobs/customers_dim.py --env local --run-date 2024-01-15``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl_lib.cdc import StaleSnapshotError, apply_changes_from_snapshot
from etl_lib.cleansing import normalize_text, trim_strings
from etl_lib.dedupe import dedupe_latest
from etl_lib.dimensions import unknown_member
from etl_lib.io.files import SOURCE_FILE
from etl_lib.io.warehouse import Warehouse, WriteResult
from etl_lib.job import JobContext, RunStats, run_job
from etl_lib.landing import CUSTOMERS_SCHEMA, read_landing
from etl_lib.masking import Policy, mask_columns
from etl_lib.staging import StagedBatch, stage_rows, write_staged
from etl_lib.validation import is_missing

JOB_NAME = "customers_dim"
KEY, NATURAL_KEY = "customer_key", "customer_id"
RAW_COLUMNS = tuple(field.name for field in CUSTOMERS_SCHEMA.fields)
TEXT_COLUMNS = ("customer_id", "first_name", "last_name", "email", "phone", "segment", "city",
                "state", "country")
#: Changes to these columns update the current version in place instead of adding one.
UNTRACKED = ("updated_at",)


def transform(
    raw: DataFrame,
    snapshot_date: date,
    pii_policies: Mapping[str, Policy],
    masking_key: bytes,
) -> tuple[StagedBatch, DataFrame]:
    """Mask PII, stage a snapshot and derive its DIM_CUSTOMER members.

    Returns:
        (the staged batch, one masked row per customer_id: the snapshot to apply)
    """
    cleaned = trim_strings(raw, TEXT_COLUMNS).withColumns({
        "email": F.lower(F.col("email")),
        "segment": normalize_text(F.col("segment"), "title"),
        "country": F.upper(F.col("country")),
        "source_file": F.col(SOURCE_FILE),
    })
    cleaned = mask_columns(cleaned, pii_policies, masking_key)
    record = F.struct(*[F.col(c) for c in RAW_COLUMNS])
    batch = stage_rows(cleaned, [is_missing("customer_id")], record, snapshot_date)
    staged = batch.valid.select(
        *RAW_COLUMNS, "source_file",
        F.lit(snapshot_date).alias("business_date"),
    )
    latest = dedupe_latest(staged, [NATURAL_KEY], ["updated_at", "source_file"])
    members = latest.select(*RAW_COLUMNS)
    return StagedBatch(valid=staged, rejected=batch.rejected), members


def load_dimension(
    warehouse: Warehouse, members: DataFrame, table: str, snapshot_date: date
) -> WriteResult:
    """Apply the snapshot to DIM_CUSTOMER as SCD2; a new DIM_CUSTOMER gets the unknown member.

    Raises:
        StaleSnapshotError: DIM_CUSTOMER already reflects a later snapshot.
    """
    created = not warehouse.exists(table)
    result = apply_changes_from_snapshot(
        warehouse, members, table, keys=[NATURAL_KEY], snapshot_version=snapshot_date,
        stored_as_scd_type=2, track_history_except_column_list=UNTRACKED, surrogate_key=KEY,
    )
    if created:
        dimension = warehouse.read(table)
        unknown = unknown_member(dimension, KEY, NATURAL_KEY).withColumn("is_current", F.lit(True))
        warehouse.merge(unknown, table, keys=[KEY])
    return result


def run(ctx: JobContext) -> RunStats:
    stats, day, wh = RunStats(), ctx.run_date, ctx.warehouse
    raw = read_landing(ctx.spark, ctx.config.landing.root, "customers", day)
    batch, members = transform(
        raw, day, ctx.masking_policies("customers"), ctx.masking_key()
    )
    ctx.quality_gate(
        stg_customers=batch.valid, rejected_customers=batch.rejected, dim_customer=members
    )
    write_staged(wh, batch, ctx.table("stg_customers"), ctx.table("rejected_customers"), day, stats)
    try:
        stats.wrote(load_dimension(wh, members, ctx.table("dim_customer"), day))
    except StaleSnapshotError as exc:
        ctx.log.warning("snapshot %s is only staged: %s", day, exc)
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB_NAME, run, argv)


if __name__ == "__main__":
    sys.exit(main())
