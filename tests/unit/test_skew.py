"""salted_join and skew_aware_groupby give the plain results, and spread a hot key."""

from __future__ import annotations

from decimal import Decimal

import pytest
from chispa import assert_df_equality
from hypothesis import given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from etl_lib.skew import (
    HotKey,
    SkewError,
    SkewSettings,
    find_hot_keys,
    salted_join,
    skew_aware_groupby,
)
from etl_lib.session import temporary_conf

#: Detect from every row, against 8 partitions: a key with > 1/8 of the rows is hot.
DETECT = SkewSettings(sample_fraction=1.0, hot_factor=1.0, partitions=8, broadcast_mb=0)
#: The same, hot keys always salted (never joined against a broadcast of their rows).
SALT = DETECT.model_copy(update={"hot_broadcast_rows": 0})

keys = st.one_of(st.none(), st.integers(0, 4))
left_rows = st.lists(st.tuples(keys, st.integers(-5, 5)), max_size=30)
right_rows = st.lists(st.tuples(keys, st.sampled_from(["a", "b", None])), max_size=12)


def rows_of(df):
    return sorted((tuple(r) for r in df.collect()), key=repr)


def inner_and_left_joins(spark, left, right, options):
    """(how, salted_join of left and right on k, its executed plan) for inner and left,
    planned and run with AQE and automatic broadcasts off."""
    with temporary_conf(spark, {"spark.sql.adaptive.enabled": "false",
                                "spark.sql.autoBroadcastJoinThreshold": "-1"}):
        for how in ("inner", "left"):
            joined = salted_join(left, right, ["k"], how, settings=options)
            yield how, joined, joined._jdf.queryExecution().executedPlan().toString()


@settings(max_examples=20, deadline=None)
@given(
    left=left_rows,
    right=right_rows,
    how=st.sampled_from(["inner", "left", "right", "full"]),
    skewed=st.sampled_from(["left", "right"]),
    given_hot=st.sampled_from([None, [0], [0, 3, 9], [None, 2]]),
    hot_broadcast_rows=st.sampled_from([0, 1, 10_000]),
)
def test_salted_join_gives_exactly_the_plain_join_rows(
    spark, left, right, how, skewed, given_hot, hot_broadcast_rows
):
    ldf = spark.createDataFrame(left + [(0, 1)] * 12, "k int, a int")  # key 0 is hot
    rdf = spark.createDataFrame(right, "k int, b string")
    hot = None if given_hot is None else [HotKey((k,), 0.5, 3) for k in given_hot]
    options = DETECT.model_copy(update={"hot_broadcast_rows": hot_broadcast_rows})
    got = salted_join(ldf, rdf, ["k"], how, skewed=skewed, settings=options, hot_keys=hot)
    expected = ldf.join(rdf, ["k"], how)
    assert got.columns == expected.columns
    assert rows_of(got) == rows_of(expected)


def test_salted_join_salts_only_the_hot_keys_and_replicates_them_per_bucket(spark):
    left = spark.createDataFrame([(0, i) for i in range(30)] + [(1, 0), (2, 0)], "k int, a int")
    right = spark.createDataFrame([(0, "zero"), (1, "one")], "k int, b string")
    hot = find_hot_keys(left, ["k"], DETECT)
    assert [(h.values, h.buckets) for h in hot] == [((0,), 120)]  # 16 * 30/32 * 8
    joined = salted_join(left, right, ["k"], "inner", settings=SALT)
    plan = joined._jdf.queryExecution().optimizedPlan().toString()
    assert "__skew_salt" in plan and "Generate explode" in plan
    assert_df_equality(joined, left.join(right, ["k"]), ignore_row_order=True, ignore_nullable=True)


def test_salted_join_spreads_a_key_holding_half_the_rows(spark):
    big = spark.range(4000).select(
        F.when(F.col("id") % 2 == 0, 0).otherwise(F.col("id") % 997 + 1).alias("k"), "id")
    small = spark.range(998).select(F.col("id").alias("k"), F.lit("x").alias("label"))

    def max_over_median(df):
        loads = sorted(r[1] for r in df.groupBy(F.spark_partition_id()).count().collect())
        return loads[-1] / loads[len(loads) // 2]

    with temporary_conf(spark, {"spark.sql.adaptive.enabled": "false",
                                "spark.sql.shuffle.partitions": "8",
                                "spark.sql.autoBroadcastJoinThreshold": "-1"}):
        plain = max_over_median(big.join(small, ["k"], "left"))
        salted_df = salted_join(big, small, ["k"], "left", settings=SkewSettings(
            sample_fraction=0.5, broadcast_mb=0, hot_broadcast_rows=0))
        salted = max_over_median(salted_df)
    assert plain > 5
    assert salted < 2


def test_salted_inner_and_left_joins_sort_by_one_hash_key(spark):
    left = spark.createDataFrame([(0, i) for i in range(30)] + [(1, 0)], "k int, a int")
    right = spark.createDataFrame([(0, "zero"), (1, "one")], "k int, b string")
    for how, joined, plan in inner_and_left_joins(spark, left, right, SALT):
        assert "SortMergeJoin [xxhash64(" in plan and "Sort [xxhash64(" in plan, plan
        assert "Exchange hashpartitioning(xxhash64(" in plan, plan
        assert rows_of(joined) == rows_of(left.join(right, ["k"], how))


@pytest.mark.parametrize("options", [DETECT, SALT], ids=["isolated", "salted"])
def test_salted_join_on_double_keys_matches_signed_zeros_and_nans_as_spark_does(spark, options):
    left = spark.createDataFrame([(0.0, 1), (-0.0, 2), (float("nan"), 3), (1.5, 4)] + [(0.0, 9)] * 10,
                                 "k double, a int")
    right = spark.createDataFrame([(-0.0, "zero"), (float("nan"), "nan"), (1.5, "x")],
                                  "k double, b string")
    for how in ("inner", "left"):
        joined = salted_join(left, right, ["k"], how, settings=options)
        # repr: NaN never equals itself, in Python as in SQL outside joins
        expected = left.join(right, ["k"], how)
        assert list(map(repr, rows_of(joined))) == list(map(repr, rows_of(expected)))


def test_salted_join_joins_hot_keys_against_a_broadcast_of_their_few_rows(spark):
    # Keys 0 and 3 are hot; 3 has no match, so a left join keeps its rows with a null b.
    left = spark.createDataFrame(
        [(k, i) for k in (0, 3) for i in range(30)] + [(1, 0), (2, 0), (None, 0)], "k int, a int")
    right = spark.createDataFrame([(0, "zero"), (1, "one"), (2, "two"), (None, "null")],
                                  "k int, b string")
    for how, joined, plan in inner_and_left_joins(spark, left, right, DETECT):
        assert "BroadcastHashJoin" in plan and "SortMergeJoin" in plan, plan
        assert "__skew_salt" not in plan, plan
        assert rows_of(joined) == rows_of(left.join(right, ["k"], how))


def test_salted_join_salts_a_key_hot_on_both_sides(spark):
    left = spark.createDataFrame([(0, i) for i in range(30)] + [(1, 0)], "k int, a int")
    right = spark.createDataFrame([(0, f"z{i}") for i in range(5)] + [(1, "one")],
                                  "k int, b string")
    options = DETECT.model_copy(update={"hot_broadcast_rows": 4})  # key 0 has 5 rows there
    joined = salted_join(left, right, ["k"], "inner", settings=options)
    plan = joined._jdf.queryExecution().optimizedPlan().toString()
    assert "__skew_salt" in plan, plan
    assert rows_of(joined) == rows_of(left.join(right, ["k"]))


def test_salted_join_broadcasts_a_small_side_it_may_broadcast(spark):
    left = spark.createDataFrame([(0, 1), (0, 2), (1, 3)], "k int, a int")
    right = spark.range(1).select(F.col("id").cast("int").alias("k"), F.lit("z").alias("b"))
    joined = salted_join(left, right, ["k"], "left", settings=SkewSettings(broadcast_mb=1))
    plan = joined._jdf.queryExecution().executedPlan().toString()
    assert "BroadcastHashJoin" in plan and "__skew_salt" not in plan
    assert rows_of(joined) == rows_of(left.join(right, ["k"], "left"))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"how": "cross"}, "how='cross' is not supported"),
        ({"on": ["missing"]}, "missing"),
        ({"on": "k"}, "list of column names"),
        ({"skewed": "middle"}, "skewed must be"),
    ],
)
def test_salted_join_rejects_bad_arguments(spark, kwargs, message):
    left = spark.createDataFrame([(0, 1)], "k int, a int")
    right = spark.createDataFrame([(0, "z")], "k int, b string")
    args = {"on": ["k"], "how": "inner", **kwargs}
    with pytest.raises(SkewError, match=message):
        salted_join(left, right, args.pop("on"), args.pop("how"), **args)


def test_salted_join_refuses_ambiguous_columns(spark):
    left = spark.createDataFrame([(0, 1)], "k int, a int")
    with pytest.raises(SkewError, match="non-key columns on both sides: a; rename"):
        salted_join(left, left, ["k"])


AGGREGATIONS = {
    "total": ("sum", "v"), "amount": ("sum", "d"), "lines": ("count", "*"),
    "values": ("count", "v"), "low": ("min", "v"), "high": ("max", "d"),
}


@settings(max_examples=10, deadline=None)
@given(
    rows=st.lists(
        st.tuples(keys, st.one_of(st.none(), st.integers(-100, 100)),
                  st.decimals(-1000, 1000, places=2, allow_nan=False)),
        max_size=40,
    ),
    given_hot=st.sampled_from([None, [0], [None, 2]]),
)
def test_skew_aware_groupby_matches_the_plain_groupby(spark, rows, given_hot):
    df = spark.createDataFrame(rows + [(0, 1, Decimal("1.50"))] * 10, "k int, v int, d decimal(12,2)")
    hot = None if given_hot is None else [HotKey((k,), 0.5, 4) for k in given_hot]
    got = skew_aware_groupby(df, ["k"], AGGREGATIONS, DETECT, hot_keys=hot)
    expected = df.groupBy("k").agg(
        F.sum("v").alias("total"), F.sum("d").alias("amount"), F.count(F.lit(1)).alias("lines"),
        F.count("v").alias("values"), F.min("v").alias("low"), F.max("d").alias("high"),
    )
    assert_df_equality(got, expected, ignore_row_order=True)


def test_skew_aware_groupby_names_unsupported_aggregations(spark):
    df = spark.createDataFrame([(0, 1)], "k int, v int")
    with pytest.raises(SkewError, match="'p' uses 'percentile'"):
        skew_aware_groupby(df, ["k"], {"p": ("percentile", "v")})
    with pytest.raises(SkewError, match="'t' reads 'nope'"):
        skew_aware_groupby(df, ["k"], {"t": ("sum", "nope")})
