"""One contract, two warehouses: each case runs on Delta and on Snowflake SQL (fakesnow).

Every case compares the resulting table with the same expected table built inline, so
the two adapters leave identical tables (column names compared lower-case, values cast
to the expected types: Snowflake stores integers as NUMBER(38,0)). The apply_changes
cases are DLT's documented examples (tests/unit/test_scd.py), split into an early and a
late batch, with deletes, late events, tombstones and replays.
"""

from __future__ import annotations

import math
from datetime import date, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from etl_lib.cdc import apply_changes_from_snapshot
from etl_lib.io.warehouse import TableNotFoundError, WriteResult
from tests.unit.test_scd import DLT_FEED, DLT_SCHEMA, _signed, dlt_spec, xxh64

D1, D2, D3 = date(2024, 1, 1), date(2024, 1, 2), date(2024, 1, 3)
ROWS = "k string, ts int, v string, day date"


def assert_table(warehouse, table, expected_rows, schema):
    """``table`` holds exactly ``expected_rows`` (any order), columns as in ``schema``."""
    spark = warehouse.spark
    expected = spark.createDataFrame(expected_rows, schema)
    stored = warehouse.read(table)
    stored = stored.toDF(*[c.lower() for c in stored.columns])
    actual = stored.select(
        *[F.col(f.name.lower()).cast(f.dataType).alias(f.name) for f in expected.schema]
    )
    assert sorted(stored.columns) == sorted(f.name.lower() for f in expected.schema)
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_reading_a_missing_table_says_which(any_warehouse):
    assert not any_warehouse.exists("CURATED.NOPE")
    with pytest.raises(TableNotFoundError, match="CURATED.NOPE"):
        any_warehouse.read("CURATED.NOPE")


def test_overwrite_partitions_replaces_only_the_given_values(spark, any_warehouse):
    first = spark.createDataFrame([("a", 1, "x", D1), ("b", 1, "y", D2), ("c", 1, "z", D3)], ROWS)
    created = any_warehouse.overwrite_partitions(first, "S.T", "day", [D1, D2, D3], ["day"])
    again = spark.createDataFrame([("d", 2, "it's", D1), ("e", 2, None, D1)], ROWS)
    result = any_warehouse.overwrite_partitions(again, "S.T", "day", [D1, D2], ["day"])

    assert created.rows_inserted == 3
    assert result == WriteResult("S.T", rows_inserted=2, rows_deleted=2)
    expected = [("d", 2, "it's", D1), ("e", 2, None, D1), ("c", 1, "z", D3)]
    assert_table(any_warehouse, "S.T", expected, ROWS)


def test_overwrite_partitions_with_no_rows_empties_them_and_counts_it(spark, any_warehouse):
    first = spark.createDataFrame([("a", 1, "x", D1), ("b", 1, "y", D1), ("c", 1, "z", D2)], ROWS)
    any_warehouse.overwrite_partitions(first, "S.T", "day", [D1, D2], ["day"])
    result = any_warehouse.overwrite_partitions(
        spark.createDataFrame([], ROWS), "S.T", "day", [D1], ["day"]
    )
    assert result == WriteResult("S.T", rows_inserted=0, rows_deleted=2)
    assert_table(any_warehouse, "S.T", [("c", 1, "z", D2)], ROWS)


def test_a_failed_first_write_leaves_no_table(spark, any_warehouse):
    broken = F.when(F.col("id") >= 0, F.raise_error(F.lit("boom"))).otherwise(F.lit("x"))
    batch = spark.range(2).select(F.col("id").alias("k"), broken.alias("v"))
    with pytest.raises(Exception, match="boom"):
        any_warehouse.merge(batch, "S.FAILED", ["k"])
    assert not any_warehouse.exists("S.FAILED")
    null_key = spark.createDataFrame([(None, "Ann", "Lyon", "INSERT", 1)], DLT_SCHEMA)
    with pytest.raises(Exception, match="(?i)null"):
        any_warehouse.apply_changes(null_key, "CURATED.NULL_KEY", dlt_spec(1))
    assert not any_warehouse.exists("CURATED.NULL_KEY")


def test_far_timestamps_and_nan_round_trip(spark, any_warehouse):
    # 9999-12-31 is past pandas' nanosecond range; NaN is a value, not a null.
    rows = [("open_end", datetime(9999, 12, 31), float("nan")),
            ("y2300", datetime(2300, 1, 1, 0, 0, 0, 123456), None)]
    any_warehouse.overwrite(spark.createDataFrame(rows, "k string, t timestamp, x double"), "S.FAR")
    got = {r["k"]: (r["t"], r["x"]) for r in any_warehouse.read("S.FAR").collect()}
    assert got["y2300"] == (datetime(2300, 1, 1, 0, 0, 0, 123456), None)
    assert got["open_end"][0] == datetime(9999, 12, 31) and math.isnan(got["open_end"][1])


def test_overwrite_partitions_refuses_rows_outside_the_values(spark, any_warehouse):
    first = spark.createDataFrame([("a", 1, "x", D1)], ROWS)
    any_warehouse.overwrite_partitions(first, "S.T", "day", [D1])
    stray = spark.createDataFrame([("b", 1, "y", D1), ("c", 1, "z", D2)], ROWS)
    with pytest.raises(Exception, match="(?i)replace"):  # Delta: replaceWhere; Snowflake: its own
        any_warehouse.overwrite_partitions(stray, "S.T", "day", [D1])
    assert_table(any_warehouse, "S.T", [("a", 1, "x", D1)], ROWS)


def test_overwrite_replaces_every_row(spark, any_warehouse):
    first = spark.createDataFrame([("a", 1, "x", D1), ("b", 1, "y", D2)], ROWS)
    any_warehouse.overwrite(first, "S.O")
    result = any_warehouse.overwrite(spark.createDataFrame([("c", 2, "z", D3)], ROWS), "S.O")
    assert result == WriteResult("S.O", rows_inserted=1, rows_deleted=2)
    assert_table(any_warehouse, "S.O", [("c", 2, "z", D3)], ROWS)


def test_merge_with_newer_by_never_lets_older_rows_win(spark, any_warehouse):
    stored = [("a", 5, "new", D1), ("b", 2, "b2", D1), ("n", 1, "null-key-peer", D1),
              (None, 1, "null", D1)]
    any_warehouse.merge(spark.createDataFrame(stored, ROWS), "S.M", ["k"], ["ts", "v"])
    batch = spark.createDataFrame(
        [("a", 3, "old", D2),      # older: ignored
         ("b", 2, "b3", D2),       # same ts, greater v: the second newer_by column decides
         ("c", 1, "c1", D2),       # new key
         (None, 2, "null2", D2)],  # null key: matched null-safely, newer
        ROWS,
    )
    result = any_warehouse.merge(batch, "S.M", ["k"], ["ts", "v"])
    expected = [("a", 5, "new", D1), ("b", 2, "b3", D2), ("c", 1, "c1", D2),
                ("n", 1, "null-key-peer", D1), (None, 2, "null2", D2)]
    assert (result.rows_inserted, result.rows_updated) == (1, 2)
    assert_table(any_warehouse, "S.M", expected, ROWS)

    replay = any_warehouse.merge(batch, "S.M", ["k"], ["ts", "v"])
    assert replay.rows_inserted == 0  # same batch again: nothing new, same table
    assert_table(any_warehouse, "S.M", expected, ROWS)


SCD1 = "userId int, name string, city string, _sequence int"
TOMBSTONES = "userId int, _sequence int"
SCD2 = ("user_key long, userId int, name string, city string, valid_from int, valid_to int, "
        "is_current boolean, _sequence int")


def user_key(user_id, valid_from):
    return _signed(xxh64(f"{user_id}\x1f{valid_from}".encode(), seed=42))


def test_apply_changes_scd1_deletes_and_drops_late_updates(spark, any_warehouse):
    early = spark.createDataFrame(DLT_FEED[:6], DLT_SCHEMA)
    late = spark.createDataFrame(DLT_FEED[6:], DLT_SCHEMA)
    first = any_warehouse.apply_changes(early, "CURATED.USERS", dlt_spec(1))
    second = any_warehouse.apply_changes(late, "CURATED.USERS", dlt_spec(1))

    assert first == WriteResult("CURATED.USERS", rows_inserted=3)
    assert second == WriteResult("CURATED.USERS")  # the late updates are older: dropped
    assert_table(any_warehouse, "CURATED.USERS",
                 [(124, "Raul", "Oaxaca", 1), (125, "Mercedes", "Guadalajara", 6),
                  (126, "Lily", "Cancun", 2)], SCD1)
    assert_table(any_warehouse, "CURATED.USERS__TOMBSTONES", [(123, 6)], TOMBSTONES)


def test_apply_changes_scd2_places_late_events_in_history(spark, any_warehouse):
    spec = dlt_spec(2, surrogate_key="user_key")
    early = spark.createDataFrame(DLT_FEED[:6], DLT_SCHEMA)
    late = spark.createDataFrame(DLT_FEED[6:], DLT_SCHEMA)
    any_warehouse.apply_changes(early, "CURATED.USERS", spec)
    second = any_warehouse.apply_changes(late, "CURATED.USERS", spec)

    versions = [(123, "Isabel", "Monterrey", 1, 5, False, 1),
                (123, "Isabel", "Chihuahua", 5, 6, False, 5),
                (124, "Raul", "Oaxaca", 1, None, True, 1),
                (125, "Mercedes", "Tijuana", 2, 5, False, 2),
                (125, "Mercedes", "Mexicali", 5, 6, False, 5),
                (125, "Mercedes", "Guadalajara", 6, None, True, 6),
                (126, "Lily", "Cancun", 2, None, True, 2)]
    expected = [(user_key(v[0], v[3]), *v) for v in versions]
    # Two late versions inserted; the two versions they split had their valid_to moved.
    assert second == WriteResult("CURATED.USERS", rows_inserted=2, rows_updated=2)
    assert_table(any_warehouse, "CURATED.USERS", expected, SCD2)
    assert_table(any_warehouse, "CURATED.USERS__TOMBSTONES", [(123, 6)], TOMBSTONES)

    replay = any_warehouse.apply_changes(late.union(late), "CURATED.USERS", spec)
    assert replay == WriteResult("CURATED.USERS")
    assert_table(any_warehouse, "CURATED.USERS", expected, SCD2)


def test_apply_changes_scd2_ignore_null_updates_and_tracked_columns(spark, any_warehouse):
    spec = dlt_spec(2, ignore_null_updates=True, track_history_column_list=("name",))
    feed = [(1, "Ann", "Lyon", "INSERT", 1), (1, None, "Paris", "UPDATE", 2),   # city: in place
            (1, "Anne", None, "UPDATE", 4), (2, "Bob", "Rome", "INSERT", 1)]
    first = spark.createDataFrame(feed[:2] + feed[3:], DLT_SCHEMA)
    late = spark.createDataFrame(feed[2:3] + [(1, "Ann", None, "UPDATE", 3)], DLT_SCHEMA)
    any_warehouse.apply_changes(first, "CURATED.P", spec)
    any_warehouse.apply_changes(late, "CURATED.P", spec)
    schema = ("userId int, name string, city string, valid_from int, valid_to int, "
              "is_current boolean, _sequence int")
    assert_table(any_warehouse, "CURATED.P", [
        (1, "Ann", "Paris", 1, 4, False, 3),   # 2 and 3 folded in; null name/city kept
        (1, "Anne", "Paris", 4, None, True, 4),
        (2, "Bob", "Rome", 1, None, True, 1),
    ], schema)


def test_snapshots_detect_deletes_and_reruns_change_nothing(spark, any_warehouse):
    """DLT's periodic snapshot example through apply_changes_from_snapshot (any adapter).

    Column names are lower-case: Snowflake folds identifiers, and reads return lower case.
    """
    t1, t2 = datetime(2024, 1, 1, 0, 0), datetime(2024, 1, 1, 12, 0)
    first = spark.createDataFrame([(1, "a1"), (2, "a2")], "key int, value string")
    second = spark.createDataFrame([(2, "b2"), (3, "a3")], "key int, value string")
    def apply(snapshot, version):
        return apply_changes_from_snapshot(any_warehouse, snapshot, "CURATED.SNAP", ["key"],
                                           version, stored_as_scd_type=2)

    apply(first, t1)
    apply(second, t2)
    rerun = apply(second, t2)

    assert rerun == WriteResult("CURATED.SNAP")
    assert_table(any_warehouse, "CURATED.SNAP", [
        (1, "a1", t1, t2, False, t1), (2, "a2", t1, t2, False, t1), (2, "b2", t2, None, True, t2),
        (3, "a3", t2, None, True, t2),
    ], "key int, value string, valid_from timestamp, valid_to timestamp, is_current boolean, "
       "_sequence timestamp")
