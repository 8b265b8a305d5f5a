"""etl_lib.scd, the pure logic of apply_changes, on inline frames (no table I/O).

The reference is Databricks DLT's APPLY CHANGES documentation: its sample CDC feed and
the SCD1 / SCD2 / track-history / snapshot results it documents are reproduced below
(``__START_AT`` / ``__END_AT`` are our ``valid_from`` / ``valid_to``).
"""

from datetime import date, datetime

import pytest
from pyspark.sql import functions as F

from etl_lib.changes import ChangeSpec
from etl_lib.scd import (
    ChangesInputError,
    as_of_lookup,
    compute_changes,
    resolve_layout,
    snapshot_changes,
    snapshot_spec,
)

# The sample feed of DLT's "APPLY CHANGES" docs (Process SCD type 1 / type 2 updates).
DLT_FEED = [
    (124, "Raul", "Oaxaca", "INSERT", 1),
    (123, "Isabel", "Monterrey", "INSERT", 1),
    (125, "Mercedes", "Tijuana", "INSERT", 2),
    (126, "Lily", "Cancun", "INSERT", 2),
    (123, None, None, "DELETE", 6),
    (125, "Mercedes", "Guadalajara", "UPDATE", 6),
    (125, "Mercedes", "Mexicali", "UPDATE", 5),
    (123, "Isabel", "Chihuahua", "UPDATE", 5),
]
DLT_SCHEMA = "userId int, name string, city string, operation string, sequenceNum int"


def dlt_spec(scd_type, **options):
    return ChangeSpec(
        keys=("userId",), sequence_by="sequenceNum", stored_as_scd_type=scd_type,
        apply_as_deletes="operation = 'DELETE'", except_column_list=("operation", "sequenceNum"),
        **options,
    )


def rows(df, *columns):
    return sorted(tuple(r) for r in df.select(*columns).collect())


def test_dlt_docs_scd1_example(spark):
    result = compute_changes(spark.createDataFrame(DLT_FEED, DLT_SCHEMA), dlt_spec(1))
    assert rows(result.rows, "userId", "name", "city") == [
        (124, "Raul", "Oaxaca"), (125, "Mercedes", "Guadalajara"), (126, "Lily", "Cancun"),
    ]
    assert rows(result.tombstones, "userId", "_sequence") == [(123, 6)]


def test_dlt_docs_scd2_example(spark):
    result = compute_changes(spark.createDataFrame(DLT_FEED, DLT_SCHEMA), dlt_spec(2))
    assert rows(result.rows, "userId", "name", "city", "valid_from", "valid_to") == sorted([
        (123, "Isabel", "Monterrey", 1, 5),
        (123, "Isabel", "Chihuahua", 5, 6),
        (124, "Raul", "Oaxaca", 1, None),
        (125, "Mercedes", "Tijuana", 2, 5),
        (125, "Mercedes", "Mexicali", 5, 6),
        (125, "Mercedes", "Guadalajara", 6, None),
        (126, "Lily", "Cancun", 2, None),
    ])
    current = {r.userId for r in result.rows.filter("is_current").collect()}
    assert current == {124, 125, 126}


def test_dlt_docs_scd2_track_history_except_city(spark):
    spec = dlt_spec(2, track_history_except_column_list=("city",))
    result = compute_changes(spark.createDataFrame(DLT_FEED, DLT_SCHEMA), spec)
    assert rows(result.rows, "userId", "name", "city", "valid_from", "valid_to") == [
        (123, "Isabel", "Chihuahua", 1, 6),
        (124, "Raul", "Oaxaca", 1, None),
        (125, "Mercedes", "Guadalajara", 2, None),
        (126, "Lily", "Cancun", 2, None),
    ]


def test_dlt_docs_periodic_snapshot_example(spark):
    """DLT's "periodic snapshot processing" example, SCD2 over two snapshots."""
    t1, t2 = datetime(2024, 1, 1, 0, 0), datetime(2024, 1, 1, 12, 0)
    spec = snapshot_spec(["Key"], 2)
    first = snapshot_changes(None, spark.createDataFrame([(1, "a1"), (2, "a2")], "Key int, Value string"), ["Key"], t1)
    state = compute_changes(first, spec).rows
    second = snapshot_changes(
        state.filter("is_current"),
        spark.createDataFrame([(2, "b2"), (3, "a3")], "Key int, Value string"), ["Key"], t2,
    )
    result = compute_changes(second, spec, target=state)
    assert rows(result.rows, "Key", "Value", "valid_from", "valid_to") == [
        (1, "a1", t1, t2), (2, "a2", t1, t2), (2, "b2", t2, None), (3, "a3", t2, None),
    ]


def test_dlt_docs_historical_snapshot_example_tracks_one_column(spark):
    """DLT's "historical snapshot processing" example: history on TrackingColumn only."""
    schema = "Key int, TrackingColumn string, NonTrackingColumn string"
    spec = snapshot_spec(["Key"], 2, track_history_column_list=["TrackingColumn"])
    snap1 = spark.createDataFrame([(1, "a1", "b1"), (2, "a2", "b2"), (4, "a4", "b4")], schema)
    snap2 = spark.createDataFrame([(2, "a2_new", "b2"), (3, "a3", "b3"), (4, "a4", "b4_new")], schema)
    state = compute_changes(snapshot_changes(None, snap1, ["Key"], 1), spec).rows
    changes = snapshot_changes(state.filter("is_current"), snap2, ["Key"], 2)
    result = compute_changes(changes, spec, target=state)
    assert rows(result.rows, "Key", "TrackingColumn", "NonTrackingColumn", "valid_from", "valid_to") == [
        (1, "a1", "b1", 1, 2), (2, "a2", "b2", 1, 2), (2, "a2_new", "b2", 2, None),
        (3, "a3", "b3", 2, None), (4, "a4", "b4_new", 1, None),
    ]


def test_snapshot_changes_are_only_the_differences(spark):
    current = spark.createDataFrame(
        [("k1", "x"), ("k2", "y"), ("k3", None), (None, "Unknown")], "k string, v string")
    snapshot = spark.createDataFrame([("k1", "x"), ("k2", "z"), ("k3", None), ("k4", "w")], "k string, v string")
    changes = snapshot_changes(current, snapshot, ["k"], date(2024, 1, 2))
    assert rows(changes, "k", "v", "_cdc_snapshot_op") == [("k2", "z", "U"), ("k4", "w", "U")]
    gone = snapshot_changes(current, snapshot.filter("k != 'k1'"), ["k"], 7)
    assert rows(gone.filter("_cdc_snapshot_op = 'D'"), "k", "_cdc_snapshot_version") == [("k1", 7)]


def test_late_events_of_a_later_batch_follow_dlt_semantics(spark):
    """DLT notes the late UPDATEs at sequence 5 are dropped by SCD1 and placed by SCD2."""
    early = spark.createDataFrame(DLT_FEED[:6], DLT_SCHEMA)
    late = spark.createDataFrame(DLT_FEED[6:], DLT_SCHEMA)
    for scd_type in (1, 2):
        first = compute_changes(early, dlt_spec(scd_type))
        second = compute_changes(late, dlt_spec(scd_type), target=first.rows, tombstones=first.tombstones)
        touched = {r.userId for r in second.keys.collect()}
        whole = compute_changes(spark.createDataFrame(DLT_FEED, DLT_SCHEMA), dlt_spec(scd_type))
        expected = whole.rows.filter(F.col("userId").isin(*touched))
        assert rows(second.rows, *expected.columns) == rows(expected, *expected.columns)


def test_column_list_and_ignore_null_updates(spark):
    """Partial updates keep stored values; only the listed columns are stored."""
    events = [("a", 1, "x1", "y1", "z1"), ("a", 2, None, "y2", "z2"), ("a", 3, "x3", None, None),
              ("b", 1, "x1", None, "z1")]
    changes = spark.createDataFrame(events, "k string, s int, x string, y string, z string")
    spec = ChangeSpec(keys=("k",), sequence_by="s", column_list=("k", "x", "y"), ignore_null_updates=True)
    result = compute_changes(changes, spec)
    assert result.rows.columns == ["k", "x", "y", "_sequence"]
    assert rows(result.rows, "k", "x", "y", "_sequence") == [("a", "x3", "y2", 3), ("b", "x1", None, 1)]
    whole = compute_changes(changes, ChangeSpec(keys=("k",), sequence_by="s", column_list=("x",)))
    assert rows(whole.rows, "k", "x") == [("a", "x3"), ("b", "x1")]


def test_replaying_a_batch_changes_nothing(spark):
    feed = spark.createDataFrame(DLT_FEED, DLT_SCHEMA)
    for spec in (dlt_spec(1), dlt_spec(2, ignore_null_updates=True, track_history_column_list=("name",))):
        once = compute_changes(feed, spec)
        stored = spark.createDataFrame(once.rows.collect(), once.rows.schema)
        twice = compute_changes(feed, spec, target=stored, tombstones=once.tombstones)
        assert rows(twice.rows, *stored.columns) == rows(stored, *stored.columns)
        assert rows(twice.tombstones, "userId", "_sequence") == [(123, 6)]


def test_surrogate_key_is_xxhash64_of_keys_and_valid_from_text(spark):
    """The formula the Snowflake adapter mirrors, pinned to standard XXH64 (seed 42)."""
    spec = ChangeSpec(keys=("k", "n"), sequence_by="ts", stored_as_scd_type=2, surrogate_key="sk")
    ts = datetime(2024, 1, 15, 10, 22, 3, 500)
    result = compute_changes(spark.createDataFrame([("C1", 7, ts)], "k string, n int, ts timestamp"), spec)
    row = result.rows.first()
    text = "C1\x1f7\x1f2024-01-15T10:22:03.000500"
    assert row.sk == _signed(xxh64(text.encode("utf-8"), seed=42))
    day_spec = snapshot_spec(["k"], 2, surrogate_key="sk")
    by_day = compute_changes(
        snapshot_changes(None, spark.createDataFrame([("C1",)], "k string"), ["k"], date(2024, 1, 15)), day_spec)
    assert by_day.rows.first().sk == _signed(xxh64(b"C1\x1f2024-01-15", seed=42))


def test_conflicting_events_at_one_sequence_resolve_the_same_in_any_order(spark):
    events = [("a", 1, "U", "x"), ("a", 1, "U", "y"), ("b", 1, "U", "x"), ("b", 1, "D", "z")]
    spec = ChangeSpec(keys=("k",), sequence_by="s", apply_as_deletes="op = 'D'", except_column_list=("op", "s"))
    schema = "k string, s int, op string, v string"
    forward = compute_changes(spark.createDataFrame(events, schema), spec)
    backward = compute_changes(spark.createDataFrame(events[::-1], schema), spec)
    assert rows(forward.rows, "k", "v") == rows(backward.rows, "k", "v") == [("a", "y")]
    assert rows(forward.tombstones, "k") == [("b",)]


def test_input_errors_say_what_to_fix(spark):
    changes = spark.createDataFrame([("a", 1, {"x": "1"})], "k string, s int, m map<string,string>")
    with pytest.raises(ChangesInputError, match="not in the change rows: nope"):
        resolve_layout(ChangeSpec(keys=("nope",), sequence_by="s"), changes.schema)
    with pytest.raises(ChangesInputError, match="MAP columns cannot be compared: m"):
        resolve_layout(ChangeSpec(keys=("k",), sequence_by="s"), changes.schema)
    clashing = spark.createDataFrame([("a", 1, 2)], "k string, s int, valid_from int").schema
    with pytest.raises(ChangesInputError, match="reserved names: valid_from"):
        resolve_layout(ChangeSpec(keys=("k",), sequence_by="s", stored_as_scd_type=2), clashing)
    with pytest.raises(ChangesInputError, match="track-history columns are not stored columns: zz"):
        resolve_layout(ChangeSpec(keys=("k",), sequence_by="s", stored_as_scd_type=2,
                                  track_history_column_list=("zz",), except_column_list=("m",)), changes.schema)
    with pytest.raises(ChangesInputError, match="snapshot_version must be"):
        snapshot_changes(None, changes.select("k"), ["k"], "2024-01-01")


def test_as_of_lookup_links_exactly_one_version(spark):
    versions = spark.createDataFrame(
        [("C1", 11, date(2024, 1, 15), date(2024, 1, 16)), ("C1", 12, date(2024, 1, 16), date(2024, 1, 17)),
         ("C2", 21, date(2024, 1, 16), None), (None, -1, None, None)],
        "customer_id string, customer_key long, valid_from date, valid_to date",
    )
    facts = spark.createDataFrame(
        [("t0", "C1", datetime(2024, 1, 10, 9)),   # before the first version: the first one
         ("t1", "C1", datetime(2024, 1, 15, 23)),
         ("t2", "C1", datetime(2024, 1, 16, 0)),   # the boundary belongs to the new version
         ("t3", "C1", datetime(2024, 1, 20, 8)),   # after the delete: the last version
         ("t4", "C2", datetime(2024, 1, 15, 8)),   # member arrived later: its first version
         ("t5", "C9", datetime(2024, 1, 15, 8)),   # no such member
         ("t6", None, datetime(2024, 1, 15, 8))],  # anonymous
        "tx string, customer_id string, ts timestamp",
    )
    linked = as_of_lookup(facts, versions, "customer_id", "customer_key", "ts")
    assert rows(linked, "tx", "customer_key") == [
        ("t0", 11), ("t1", 11), ("t2", 12), ("t3", 12), ("t4", 21), ("t5", -1), ("t6", -1),
    ]


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def xxh64(data: bytes, seed: int = 0) -> int:
    """Reference XXH64 (Collet's algorithm, little-endian), to pin the surrogate key formula."""
    p1, p2, p3, p4, p5 = (0x9E3779B185EBCA87, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9,
                          0x85EBCA77C2B2AE63, 0x27D4EB2F165667C5)
    mask = (1 << 64) - 1

    def rotl(x, r):
        return ((x << r) | (x >> (64 - r))) & mask

    def round_(acc, lane):
        return (rotl((acc + lane * p2) & mask, 31) * p1) & mask

    def merge(acc, val):
        return ((acc ^ round_(0, val)) * p1 + p4) & mask

    n, i = len(data), 0
    if n >= 32:
        v = [(seed + p1 + p2) & mask, (seed + p2) & mask, seed & mask, (seed - p1) & mask]
        while i + 32 <= n:
            for j in range(4):
                v[j] = round_(v[j], int.from_bytes(data[i + 8 * j:i + 8 * j + 8], "little"))
            i += 32
        h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & mask
        for lane in v:
            h = merge(h, lane)
    else:
        h = (seed + p5) & mask
    h = (h + n) & mask
    while i + 8 <= n:
        h = (rotl(h ^ round_(0, int.from_bytes(data[i:i + 8], "little")), 27) * p1 + p4) & mask
        i += 8
    if i + 4 <= n:
        h = (rotl(h ^ (int.from_bytes(data[i:i + 4], "little") * p1 & mask), 23) * p2 + p3) & mask
        i += 4
    while i < n:
        h = (rotl(h ^ (data[i] * p5 & mask), 11) * p1) & mask
        i += 1
    h ^= h >> 33
    h = (h * p2) & mask
    h ^= h >> 29
    h = (h * p3) & mask
    return h ^ (h >> 32)
