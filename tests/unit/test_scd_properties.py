"""Properties of apply_changes' logic (hypothesis), checked against a plain-Python model.

The model below is the contract written as the obvious loop: events of a key applied one
at a time in sequence order. The properties:

* any shuffle and duplication of one batch gives the model's table (SCD1 and SCD2, with
  deletes, ignore_null_updates and track-history lists);
* a valid source history (a delete only removes a live row, every update changes the row)
  gives the model's table however it is shuffled, duplicated and split into batches, and
  the SCD2 invariants hold after every batch.

Small sizes and few examples (one Spark job per batch) keep this file short.
"""

import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import Row
from pyspark.sql import functions as F

from etl_lib.changes import ChangeSpec
from etl_lib.scd import compute_changes

SCHEMA = "k string, s int, op string, x int, y string"
VALUES = ("x", "y")
PROPERTY_SETTINGS = settings(
    max_examples=12, deadline=None, derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


def spec_for(scd_type, ignore_null=False, tracked=None):
    return ChangeSpec(
        keys=("k",), sequence_by="s", stored_as_scd_type=scd_type, apply_as_deletes="op = 'D'",
        ignore_null_updates=ignore_null, except_column_list=("op", "s"),
        track_history_column_list=tracked, surrogate_key="sk" if scd_type == 2 else None,
    )


# ---------------------------------------------------------------- the model


def model(events, scd_type, ignore_null=False, tracked=VALUES):
    """The target after applying ``events`` one by one in sequence order.

    Returns SCD1 rows (k, x, y, _sequence) or SCD2 rows (k, x, y, valid_from, valid_to,
    is_current, _sequence), sorted.
    """
    by_key = {}
    for k, s, op, x, y in set(events):
        by_key.setdefault(k, {})[s] = (op, x, y)
    out = []
    for k, events_of_key in by_key.items():
        state, version, versions, last = None, None, [], None
        for s in sorted(events_of_key):
            op, x, y = events_of_key[s]
            if op == "D":
                if version is not None:
                    version["valid_to"] = s
                state, version = None, None
                continue
            new = {"x": x, "y": y}
            if ignore_null and state is not None:
                new = {c: new[c] if new[c] is not None else state[c] for c in VALUES}
            if state is None or any(new[c] != state[c] for c in tracked):
                if version is not None:
                    version["valid_to"] = s
                version = {"values": new, "valid_from": s, "valid_to": None, "seq": s}
                versions.append(version)
            else:
                version["values"], version["seq"] = new, s
            state, last = new, s
        if scd_type == 1:
            if state is not None:
                out.append((k, state["x"], state["y"], last))
        else:
            out += [(k, v["values"]["x"], v["values"]["y"], v["valid_from"], v["valid_to"],
                     v["valid_to"] is None, v["seq"]) for v in versions]
    return sorted(out, key=repr)


COLUMNS = {1: ("k", "x", "y", "_sequence"),
           2: ("k", "x", "y", "valid_from", "valid_to", "is_current", "_sequence")}


def table_rows(df, scd_type):
    return sorted((tuple(r) for r in df.select(*COLUMNS[scd_type]).collect()), key=repr)


def apply_in_batches(spark, batches, spec):
    """Apply batches one after another, as the Delta MERGE does: touched keys are replaced.

    One Spark job per batch: the new rows and tombstones are collected together.
    """
    stored, graves, checks = [], [], []
    target_schema = tombstone_schema = None
    for batch in batches:
        target = spark.createDataFrame(stored, target_schema) if target_schema else None
        tomb = spark.createDataFrame(graves, tombstone_schema) if tombstone_schema else None
        result = compute_changes(spark.createDataFrame(batch, SCHEMA), spec, target, tomb)
        target_schema, tombstone_schema = result.rows.schema, result.tombstones.schema
        both = result.rows.withColumn("_dead", F.lit(False)).unionByName(
            result.tombstones.withColumn("_dead", F.lit(True)), allowMissingColumns=True
        ).collect()
        touched = {k for k, *_ in batch}
        stored = [r for r in stored if r.k not in touched] + [
            Row(**{c: r[c] for c in target_schema.fieldNames()}) for r in both if not r._dead]
        graves = [r for r in graves if r.k not in touched] + [
            Row(**{c: r[c] for c in tombstone_schema.fieldNames()}) for r in both if r._dead]
        checks.append(stored)
    return stored, checks


# ---------------------------------------------------------------- strategies

kinds = st.sampled_from(["I", "U", "U", "D"])
xs = st.one_of(st.none(), st.integers(0, 2))
ys = st.sampled_from([None, "p", "q"])


@st.composite
def any_events(draw):
    """Unique (key, sequence) events with small value domains: no-ops, nulls, redundant deletes."""
    ids = draw(st.lists(st.tuples(st.sampled_from("abc"), st.integers(1, 9)), unique=True, max_size=14))
    return [(k, s, draw(kinds), draw(xs), draw(ys)) for k, s in ids]


@st.composite
def source_histories(draw):
    """Per key, what a source database emits: insert, updates that change x, delete, re-insert."""
    events = []
    for k in draw(st.lists(st.sampled_from("abcd"), unique=True, min_size=1, max_size=3)):
        live, s = False, 0
        for _ in range(draw(st.integers(1, 6))):
            s += draw(st.integers(1, 3))
            if live and draw(st.booleans()) and draw(st.booleans()):
                events.append((k, s, "D", None, None))
                live = False
            else:
                events.append((k, s, "U" if live else "I", s, draw(ys)))
                live = True
    return events


def shuffled_with_duplicates(draw, events):
    copies = draw(st.lists(st.sampled_from(events), max_size=4)) if events else []
    mixed = events + copies
    random.Random(draw(st.integers(0, 10_000))).shuffle(mixed)
    return mixed


# ---------------------------------------------------------------- properties


@PROPERTY_SETTINGS
@given(data=st.data(), events=any_events(), scd_type=st.sampled_from([1, 2]),
       ignore_null=st.booleans(), track_x_only=st.booleans())
def test_one_batch_in_any_order_with_duplicates_matches_in_order_application(
    spark, data, events, scd_type, ignore_null, track_x_only
):
    tracked = ("x",) if track_x_only and scd_type == 2 else None
    spec = spec_for(scd_type, ignore_null, tracked)
    batch = shuffled_with_duplicates(data.draw, events)
    result = compute_changes(spark.createDataFrame(batch, SCHEMA), spec)
    expected = model(events, scd_type, ignore_null, tracked or VALUES)
    assert table_rows(result.rows, scd_type) == expected


@settings(PROPERTY_SETTINGS, max_examples=8)
@given(data=st.data(), events=source_histories(), scd_type=st.sampled_from([1, 2]))
def test_batches_in_any_order_converge_and_keep_scd2_invariants(spark, data, events, scd_type):
    mixed = shuffled_with_duplicates(data.draw, events)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(mixed)), max_size=2)))
    batches = [mixed[a:b] for a, b in zip([0, *cuts], [*cuts, len(mixed)])]
    final, after_each_batch = apply_in_batches(spark, batches, spec_for(scd_type))
    assert sorted((tuple(r[c] for c in COLUMNS[scd_type]) for r in final), key=repr) == model(events, scd_type)
    if scd_type == 2:
        deletes = {(k, s) for k, s, op, _, _ in events if op == "D"}
        for stored in after_each_batch:
            assert_scd2_invariants(stored, deletes)


def assert_scd2_invariants(stored, deletes):
    """One current row per key at most; versions ordered, non-overlapping, contiguous unless deleted."""
    by_key = {}
    for row in stored:
        by_key.setdefault(row.k, []).append(row)
    assert len({r.sk for r in stored}) == len(stored)
    for k, versions in by_key.items():
        versions.sort(key=lambda r: r.valid_from)
        assert sum(r.is_current for r in versions) <= 1
        for r in versions:
            assert r.is_current == (r.valid_to is None)
            assert r.valid_to is None or r.valid_from < r.valid_to
            assert r.valid_from <= r._sequence and (r.valid_to is None or r._sequence < r.valid_to)
        for before, after in zip(versions, versions[1:]):
            assert before.valid_to is not None and before.valid_to <= after.valid_from
            if before.valid_to != after.valid_from:
                assert (k, before.valid_to) in deletes, f"gap without a delete: {before} -> {after}"
