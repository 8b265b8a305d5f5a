"""apply_changes / apply_changes_from_snapshot on real Delta tables (DeltaWarehouse)."""

from datetime import datetime

import pytest
from delta.tables import DeltaTable

from etl_lib.cdc import (
    ChangesInputError,
    StaleSnapshotError,
    TargetMismatchError,
    apply_changes_from_snapshot,
    tombstones_table,
)
from etl_lib.changes import ChangeSpec
from etl_lib.io.warehouse import WriteResult
from tests.unit.test_scd import DLT_FEED, DLT_SCHEMA, dlt_spec, rows

TABLE = "CURATED.USERS"


def commits(spark, warehouse, table):
    return DeltaTable.forPath(spark, warehouse.location(table)).history().count()


def test_dlt_example_with_late_updates_in_a_second_batch(spark, warehouse):
    """DLT: the late UPDATEs (sequence 5) are dropped by SCD1 and placed in SCD2 history."""
    early = spark.createDataFrame(DLT_FEED[:6], DLT_SCHEMA)
    late = spark.createDataFrame(DLT_FEED[6:], DLT_SCHEMA)
    warehouse.apply_changes(early, "CURATED.USERS_SCD1", dlt_spec(1))
    warehouse.apply_changes(late, "CURATED.USERS_SCD1", dlt_spec(1))
    assert rows(warehouse.read("CURATED.USERS_SCD1"), "userId", "name", "city") == [
        (124, "Raul", "Oaxaca"), (125, "Mercedes", "Guadalajara"), (126, "Lily", "Cancun"),
    ]
    assert rows(warehouse.read(tombstones_table("CURATED.USERS_SCD1")), "userId", "_sequence") == [(123, 6)]

    spec = dlt_spec(2, surrogate_key="user_key")
    warehouse.apply_changes(early, TABLE, spec)
    keys_before = {(r.userId, r.valid_from): r.user_key for r in warehouse.read(TABLE).collect()}
    before = commits(spark, warehouse, TABLE)
    warehouse.apply_changes(late, TABLE, spec)
    assert commits(spark, warehouse, TABLE) == before + 1  # the late events: one atomic commit
    history = warehouse.read(TABLE)
    assert rows(history, "userId", "name", "city", "valid_from", "valid_to") == sorted([
        (123, "Isabel", "Monterrey", 1, 5), (123, "Isabel", "Chihuahua", 5, 6),
        (124, "Raul", "Oaxaca", 1, None), (125, "Mercedes", "Tijuana", 2, 5),
        (125, "Mercedes", "Mexicali", 5, 6), (125, "Mercedes", "Guadalajara", 6, None),
        (126, "Lily", "Cancun", 2, None),
    ])
    kept = {(r.userId, r.valid_from): r.user_key for r in history.collect()}
    assert all(kept[version] == key for version, key in keys_before.items())  # stable per version
    assert history.columns == ["user_key", "userId", "name", "city", "valid_from", "valid_to",
                               "is_current", "_sequence"]


def test_reapplying_a_batch_changes_nothing(spark, warehouse):
    feed = spark.createDataFrame(DLT_FEED, DLT_SCHEMA)
    spec = dlt_spec(2, surrogate_key="user_key")
    warehouse.apply_changes(feed, TABLE, spec)
    before = sorted(warehouse.read(TABLE).collect())
    again = warehouse.apply_changes(feed.union(feed), TABLE, spec)
    assert again == WriteResult(TABLE)  # the MERGE matched everything and changed nothing
    assert sorted(warehouse.read(TABLE).collect()) == before


def test_snapshots_through_delta_detect_deletes_and_refuse_older_snapshots(spark, warehouse):
    """DLT's periodic snapshot example, applied twice, then an older snapshot refused."""
    t1, t2 = datetime(2024, 1, 1, 0, 0), datetime(2024, 1, 1, 12, 0)
    first = spark.createDataFrame([(1, "a1"), (2, "a2")], "Key int, Value string")
    second = spark.createDataFrame([(2, "b2"), (3, "a3")], "Key int, Value string")
    apply_changes_from_snapshot(warehouse, first, TABLE, ["Key"], t1, stored_as_scd_type=2)
    apply_changes_from_snapshot(warehouse, second, TABLE, ["Key"], t2, stored_as_scd_type=2)
    expected = [(1, "a1", t1, t2), (2, "a2", t1, t2), (2, "b2", t2, None), (3, "a3", t2, None)]
    assert rows(warehouse.read(TABLE), "Key", "Value", "valid_from", "valid_to") == expected
    rerun = apply_changes_from_snapshot(warehouse, second, TABLE, ["Key"], t2, stored_as_scd_type=2)
    assert rerun.rows_written == 0 and rerun.rows_deleted == 0
    with pytest.raises(StaleSnapshotError, match="newer than snapshot 2024-01-01 00:00:00"):
        apply_changes_from_snapshot(warehouse, first, TABLE, ["Key"], t1, stored_as_scd_type=2)
    assert rows(warehouse.read(TABLE), "Key", "Value", "valid_from", "valid_to") == expected


def test_bad_batches_and_mismatched_targets_are_refused_with_what_to_fix(spark, warehouse):
    spec = ChangeSpec(keys=("k",), sequence_by="s")
    good = spark.createDataFrame([("a", 1, "x")], "k string, s int, v string")
    warehouse.apply_changes(good, TABLE, spec)
    with pytest.raises(ChangesInputError, match="null key or s"):
        warehouse.apply_changes(spark.createDataFrame([("b", None, "y")], "k string, s int, v string"), TABLE, spec)
    with pytest.raises(TargetMismatchError, match="another SCD type"):
        warehouse.apply_changes(good, TABLE, ChangeSpec(keys=("k",), sequence_by="s", stored_as_scd_type=2))
    with pytest.raises(TargetMismatchError, match="columns extra are not in the table"):
        apply_changes_from_snapshot(warehouse, good.select("k", "v", good.v.alias("extra")), TABLE, ["k"], 2)
    assert rows(warehouse.read(TABLE), "k", "v", "_sequence") == [("a", "x", 1)]
