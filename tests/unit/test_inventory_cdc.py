"""inventory_cdc: rejections, the Parquet audit trail, INVENTORY_CURRENT and FACT_INVENTORY."""

import json
from datetime import date

from pyspark.sql import functions as F

from etl_lib.config import load_config
from etl_lib.io.delta import DeltaWarehouse
from etl_lib.job import JobArgs, create_context
from etl_lib.landing import read_landing
from jobs import inventory_cdc

DAY1, DAY2 = date(2024, 1, 15), date(2024, 1, 16)


def event(op, seq, product="P1", store="S1", qoh=10, rop=5, ts="2024-01-15T08:00:00.250Z"):
    return {"op": op, "seq": seq, "op_ts": ts, "product_id": product, "store_id": store,
            "quantity_on_hand": qoh, "reorder_point": rop}


def write_day(landing, day, files):
    folder = landing / f"inventory_cdc/{day:%Y/%m/%d}"
    folder.mkdir(parents=True, exist_ok=True)
    for n, lines in enumerate(files):
        text = "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines)
        (folder / f"cdc_{day:%Y%m%d}_{n:03d}.json").write_text(text + "\n")


def test_malformed_events_are_rejected_with_every_reason(spark, tmp_path):
    write_day(tmp_path, DAY1, [[
        event("I", 1),
        event("X", 2, product=" "),
        event("U", None, qoh=None, ts="yesterday"),
        event("d", 4, qoh=-1, rop=-2, ts=""),
        '{"op": "I", "seq": "not-a-number"',
    ]])
    raw = read_landing(spark, str(tmp_path), "inventory_cdc", DAY1)
    batch = inventory_cdc.stage(raw, DAY1)
    reasons = sorted(tuple(r.reject_reasons) for r in batch.rejected.collect())
    assert reasons == sorted([
        ("op_invalid", "product_id_missing"),
        ("seq_missing", "op_ts_invalid", "quantity_on_hand_missing"),
        ("op_ts_missing", "quantity_on_hand_negative", "reorder_point_negative"),
        ("unparseable_record", "op_missing", "seq_missing", "product_id_missing", "store_id_missing",
         "op_ts_missing"),
    ])
    valid = batch.valid.collect()
    assert [(r.op, r.seq, str(r.op_ts)) for r in valid] == [("I", 1, "2024-01-15 08:00:00.250000")]


def test_days_rerun_and_late_events_keep_the_trail_current_state_and_snapshots_exact(
    spark, tmp_path
):
    landing, root = tmp_path / "landing", tmp_path / "warehouse"
    write_day(landing, DAY1, [
        [event("I", 3, qoh=7), event("I", 1, store="S2", qoh=1), event("U", 5, qoh=6)],
        [event("U", 5, qoh=6), event("D", 6, store="S2", qoh=None, rop=None), event("U", 4, qoh=9)],
    ])
    write_day(landing, DAY2, [[event("U", 2, store="S2", qoh=99), event("U", 8, qoh=4),
                               event("I", 9, product="P2", qoh=3, rop=1)]])
    config = load_config("local", [f"warehouse.root={root}", f"landing.root={landing}"])

    def run(day):
        ctx = create_context("inventory_cdc", JobArgs("local", day, (), f"run-{day}"), config, spark)
        return ctx, inventory_cdc.run(ctx)

    warehouse = DeltaWarehouse(spark, str(root))
    warehouse.overwrite(spark.createDataFrame([("P1", 11)], "product_id string, product_key long"),
                        config.table("dim_product"))
    warehouse.overwrite(spark.createDataFrame([("S1", 11)], "store_id string, store_key long"),
                        config.table("dim_store"))
    ctx, _ = run(DAY1)
    run(DAY2)
    _, stats = run(DAY1)  # a rerun of an older day: its snapshot is replayed from the trail

    audit = spark.read.parquet(inventory_cdc.audit_root(ctx, inventory_cdc.Params()))
    trail = sorted((str(r.business_date), r.op_type, r.seq) for r in audit.collect())
    assert trail == [("2024-01-15", "ADD", 1), ("2024-01-15", "ADD", 3), ("2024-01-15", "DELETE", 6),
                     ("2024-01-15", "UPDATE", 4), ("2024-01-15", "UPDATE", 5),
                     ("2024-01-16", "ADD", 9), ("2024-01-16", "UPDATE", 2), ("2024-01-16", "UPDATE", 8)]
    current = ctx.warehouse.read(ctx.table("inventory_current"))
    # The late U at seq 2 for (P1, S2) must not resurrect a pair deleted at seq 6.
    assert sorted((r.product_id, r.store_id, r.quantity_on_hand, r._sequence) for r in current.collect()) == [
        ("P1", "S1", 4, 8), ("P2", "S1", 3, 9)]
    facts = ctx.warehouse.read(ctx.table("fact_inventory"))
    by_day = sorted((r.snapshot_date, r.product_id, r.store_id, r.quantity_on_hand, r.last_seq,
                     r.product_key, r.store_key) for r in facts.collect())
    assert by_day == [(DAY1, "P1", "S1", 6, 5, 11, 11),
                      (DAY2, "P1", "S1", 4, 8, 11, 11), (DAY2, "P2", "S1", 3, 9, -1, 11)]
    assert facts.filter(F.col("below_reorder_point")).count() == 1
    assert stats.rows_rejected == 0 and stats.rows_in == 6
