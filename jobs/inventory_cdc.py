"""inventory_cdc: landing inventory CDC events -> REJECTED_INVENTORY, the audit trail,
CURATED.INVENTORY_CURRENT (current state) and CURATED.FACT_INVENTORY (end-of-day positions).

* Malformed events (unparseable, unknown op, no seq or key, bad op_ts, missing or negative
  quantities) go to STAGING.REJECTED_INVENTORY with every reason that applies.
* The audit trail is Parquet at ``<warehouse.root>/audit/inventory_cdc/business_date=D/``:
  one row per distinct valid event (``op_type`` ADD / UPDATE / DELETE, ``seq``, ``op_ts``,
  the row, ``run_id``), no table. A rerun replaces the day's partition (dynamic partition
  overwrite: one directory swap per partition), so the trail never holds an event twice.
* INVENTORY_CURRENT: one row per (product_id, store_id), by ``apply_changes`` (SCD1,
  ``sequence_by`` seq, ``op = 'D'`` deletes): duplicates and out-of-order events give the
  state of the replay in seq order; ``_sequence`` is the seq of the last change applied.
* FACT_INVENTORY: partition ``snapshot_date = D`` holds the positions at the end of day D
  (events of days up to D). A rerun of D replaces that partition; when later days have
  already been applied, D's positions are replayed from the audit trail.

Run alone: ``spark-submit jobs/inventory_cdc.py --env local --run-date 2024-01-15``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date
from pathlib import Path

from pydantic import BaseModel, ConfigDict
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from etl_lib.changes import ChangeSpec
from etl_lib.cleansing import blank_to_null, parse_timestamp
from etl_lib.dimensions import date_key
from etl_lib.io import files
from etl_lib.io.files import SOURCE_FILE
from etl_lib.job import JobContext, RunStats, run_job
from etl_lib.joins import lookup_key
from etl_lib.landing import INVENTORY_CDC_SCHEMA, empty_landing, read_landing
from etl_lib.scd import SEQUENCE, compute_changes
from etl_lib.staging import StagedBatch, stage_rows
from etl_lib.validation import Rule

JOB_NAME = "inventory_cdc"
KEYS = ("product_id", "store_id")
RAW_COLUMNS = tuple(field.name for field in INVENTORY_CDC_SCHEMA.fields)
OP_TYPES = {"I": "ADD", "U": "UPDATE", "D": "DELETE"}
CHANGE_COLUMNS = (
    "product_id", "store_id", "quantity_on_hand", "reorder_point", "op_ts", "op", "seq",
)
#: INVENTORY_CURRENT = product_id, store_id, quantity_on_hand, reorder_point, op_ts, _sequence.
CHANGE_SPEC = ChangeSpec(
    keys=KEYS, sequence_by="seq", apply_as_deletes="op = 'D'", except_column_list=("op", "seq"),
)
AUDIT_COLUMNS = ("op_type", "seq", "op_ts", "product_id", "store_id", "quantity_on_hand",
                 "reorder_point", "run_id", "business_date")


class Params(BaseModel):
    """``jobs.inventory_cdc`` in conf."""

    model_config = ConfigDict(extra="forbid")
    #: Root of the audit trail; unset = ``<warehouse.root>/audit/inventory_cdc``.
    audit_path: str | None = None


def standardize(raw: DataFrame) -> DataFrame:
    """Typed event columns next to the raw ones (``op`` upper-cased, ``op_ts`` parsed to UTC)."""
    return raw.withColumns({
        "op_clean": F.upper(blank_to_null(F.col("op"))),
        "product_id_clean": blank_to_null(F.col("product_id")),
        "store_id_clean": blank_to_null(F.col("store_id")),
        "op_ts_parsed": parse_timestamp(F.col("op_ts")),
        "source_file": F.col(SOURCE_FILE),
    })


def rejection_rules() -> list[Rule]:
    """Why an event cannot be applied (every reason that applies is kept)."""
    op, quantity = F.col("op_clean"), F.col("quantity_on_hand")
    op_ts = blank_to_null(F.col("op_ts"))
    return [
        Rule("op_missing", op.isNull()),
        Rule("op_invalid", ~op.isin(*OP_TYPES)),
        Rule("seq_missing", F.col("seq").isNull()),
        Rule("product_id_missing", F.col("product_id_clean").isNull()),
        Rule("store_id_missing", F.col("store_id_clean").isNull()),
        Rule("op_ts_missing", op_ts.isNull()),
        Rule("op_ts_invalid", op_ts.isNotNull() & F.col("op_ts_parsed").isNull()),
        Rule("quantity_on_hand_missing", op.isin("I", "U") & quantity.isNull()),
        Rule("quantity_on_hand_negative", quantity < 0),
        Rule("reorder_point_negative", F.col("reorder_point") < 0),
    ]


def stage(raw: DataFrame, business_date: date) -> StagedBatch:
    """Valid typed events (duplicates kept: apply_changes collapses them) and REJECTED rows."""
    record = F.struct(*[F.col(c) for c in RAW_COLUMNS])
    batch = stage_rows(standardize(raw), rejection_rules(), record, business_date)
    valid = batch.valid.select(
        F.col("op_clean").alias("op"), "seq", F.col("op_ts_parsed").alias("op_ts"),
        F.col("product_id_clean").alias("product_id"), F.col("store_id_clean").alias("store_id"),
        "quantity_on_hand", "reorder_point", "source_file",
    )
    return StagedBatch(valid=valid, rejected=batch.rejected)


def audit_rows(events: DataFrame, business_date: date, run_id: str) -> DataFrame:
    """The audit trail rows of a day: one per distinct event, ``op`` mapped to ``op_type``."""
    op_type = F.create_map(*[F.lit(v) for pair in OP_TYPES.items() for v in pair])[F.col("op")]
    return events.select(
        op_type.alias("op_type"), "seq", "op_ts", *KEYS, "quantity_on_hand", "reorder_point",
    ).distinct().select(
        *AUDIT_COLUMNS[:-2],
        F.lit(run_id).alias("run_id"),
        F.lit(business_date).alias("business_date"),
    )


def audit_changes(audit: DataFrame) -> DataFrame:
    """Audit rows back as change rows (``op`` I/U/D) for :data:`CHANGE_SPEC`."""
    codes = F.create_map(*[F.lit(v) for pair in OP_TYPES.items() for v in reversed(pair)])
    op = codes[F.col("op_type")]
    return audit.withColumn("op", op).select(*CHANGE_COLUMNS)


def replay_positions(changes: DataFrame) -> DataFrame:
    """The INVENTORY_CURRENT rows that replaying ``changes`` from nothing gives."""
    return compute_changes(changes, CHANGE_SPEC).rows


def daily_positions(
    positions: DataFrame, snapshot_date: date, dim_product: DataFrame, dim_store: DataFrame
) -> DataFrame:
    """FACT_INVENTORY rows: the positions at the end of ``snapshot_date`` with surrogate keys."""
    linked = lookup_key(positions, dim_product, "product_id", "product_key")
    linked = lookup_key(linked, dim_store, "store_id", "store_key")
    return linked.select(
        F.lit(snapshot_date).alias("snapshot_date"),
        date_key(F.lit(snapshot_date)).alias("date_key"),
        "product_key", "store_key", *KEYS, "quantity_on_hand", "reorder_point",
        (F.col("quantity_on_hand") <= F.col("reorder_point")).alias("below_reorder_point"),
        F.col("op_ts").alias("last_change_ts"),
        F.col(SEQUENCE).alias("last_seq"),
    )


def audit_root(ctx: JobContext, params: Params) -> str:
    """Where the audit trail lives (a local root is made absolute)."""
    if params.audit_path:
        return params.audit_path
    root = ctx.config.warehouse.root
    base = root if "://" in root else str(Path(root).resolve())
    return f"{base.rstrip('/')}/audit/inventory_cdc"


def audit_days(spark: SparkSession, root: str) -> list[date]:
    """The business dates the audit trail holds (from its partition directories)."""
    paths = files.glob_files(spark, [f"{root.rstrip('/')}/business_date=*/*.parquet"])
    return sorted({date.fromisoformat(p.split("business_date=")[1][:10]) for p in paths})


def write_audit(spark: SparkSession, audit: DataFrame, root: str, day: date, rows: int) -> None:
    """Replace the day's partition of the audit trail (removed when the day has no event)."""
    if rows:
        (
            audit.repartition("business_date").write.mode("overwrite")
            .option("partitionOverwriteMode", "dynamic").partitionBy("business_date")
            .parquet(root)
        )
        return
    jvm = spark.sparkContext._jvm
    path = jvm.org.apache.hadoop.fs.Path(f"{root.rstrip('/')}/business_date={day.isoformat()}")
    filesystem = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if filesystem.exists(path):
        filesystem.delete(path, True)


def read_audit(spark: SparkSession, root: str, until: date) -> DataFrame:
    """Audit rows of the days up to ``until``."""
    return spark.read.parquet(root).filter(F.col("business_date") <= F.lit(until))


def run(ctx: JobContext) -> RunStats:
    """Reject, audit, apply, snapshot: four writes, each safe to repeat for the same day."""
    params = ctx.config.job_params(JOB_NAME, Params)
    stats, day, wh, spark = RunStats(), ctx.run_date, ctx.warehouse, ctx.spark
    raw = read_landing(spark, ctx.config.landing.root, "inventory_cdc", day)
    raw = (raw if raw is not None else empty_landing(spark, "inventory_cdc")).cache()
    stats.rows_in = raw.count()
    batch = stage(raw, day)
    stats.wrote(wh.overwrite_partitions(
        batch.rejected, ctx.table("rejected_inventory"), "business_date", [day],
        partition_by=["business_date"],
    ), counts_as="rejected")

    root = audit_root(ctx, params)
    audit = audit_rows(batch.valid, day, ctx.run_id).cache()
    audited = audit.count()
    write_audit(spark, audit, root, day, audited)
    ctx.log.info("audit trail: %d distinct events for %s at %s", audited, day, root)

    current_table = ctx.table("inventory_current")
    stats.wrote(wh.apply_changes(batch.valid.select(*CHANGE_COLUMNS), current_table, CHANGE_SPEC))
    if any(later > day for later in audit_days(spark, root)):
        positions = replay_positions(audit_changes(read_audit(spark, root, day)))
    else:
        positions = wh.read(current_table)
    snapshot = daily_positions(
        positions, day, wh.read(ctx.table("dim_product")), wh.read(ctx.table("dim_store"))
    )
    # INVENTORY_CURRENT is checked as apply_changes left it, before the day's snapshot.
    ctx.quality_gate(inventory_current=wh.read(current_table), fact_inventory=snapshot)
    stats.wrote(wh.overwrite_partitions(
        snapshot, ctx.table("fact_inventory"), "snapshot_date", [day],
        partition_by=["snapshot_date"],
    ))
    audit.unpersist()
    raw.unpersist()
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB_NAME, run, argv)


if __name__ == "__main__":
    sys.exit(main())
