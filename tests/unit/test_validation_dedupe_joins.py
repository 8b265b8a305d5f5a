from datetime import date

from chispa import assert_df_equality
from pyspark.sql import functions as F

from etl_lib.dedupe import dedupe_latest
from etl_lib.dimensions import date_key
from etl_lib.joins import UNKNOWN_KEY, lookup_key, surrogate_key
from etl_lib.staging import stage_rows
from etl_lib.validation import Rule, is_missing, split_valid, with_reasons

import pytest


def test_every_broken_rule_is_a_reason_and_no_row_is_lost(spark):
    df = spark.createDataFrame([("a", 1), (None, -1), ("c", None), (None, 5)], "id string, qty int")
    rules = [is_missing("id"), Rule("qty_not_positive", F.col("qty") <= 0)]
    valid, rejected = split_valid(with_reasons(df, rules))
    assert_df_equality(valid, spark.createDataFrame([("a", 1), ("c", None)], "id string, qty int"),
                       ignore_row_order=True, ignore_nullable=True)
    expected = spark.createDataFrame(
        [(None, -1, ["id_missing", "qty_not_positive"]), (None, 5, ["id_missing"])],
        "id string, qty int, reject_reasons array<string>",
    )
    assert_df_equality(rejected, expected, ignore_row_order=True, ignore_nullable=True)


def test_rules_are_evaluated_once_not_again_in_the_split_filter(spark):
    df = spark.createDataFrame([("a", 1)], "id string, qty int")
    valid, _ = split_valid(with_reasons(df, [Rule("qty_not_positive", F.col("qty") <= 0)]))
    plan = valid._jdf.queryExecution().optimizedPlan().toString()
    filters = [line for line in plan.splitlines() if "Filter" in line]
    assert filters and all("reject_reasons" in f and "qty" not in f for f in filters), plan


def test_stage_rows_split_filters_read_only_the_reasons(spark):
    df = spark.createDataFrame([("a", 1, None, "f")],
                               "id string, qty int, _raw_record string, _source_file string")
    batch = stage_rows(df, [Rule("qty_not_positive", F.col("qty") <= 0)], F.struct("id", "qty"),
                       date(2024, 1, 15))
    for frame in (batch.valid, batch.rejected):
        plan = frame._jdf.queryExecution().optimizedPlan().toString()
        filters = [line for line in plan.splitlines() if "Filter" in line]
        assert filters and all("reject_reasons" in f and "qty" not in f for f in filters), plan
    assert batch.valid.count() == 1 and batch.rejected.count() == 0


def test_with_reasons_needs_rules(spark):
    with pytest.raises(ValueError):
        with_reasons(spark.range(1), [])


def test_dedupe_latest_keeps_latest_and_breaks_ties_by_later_file(spark):
    df = spark.createDataFrame(
        [("t1", 1, "2024-01-15 10:00:00", "f1", 1), ("t1", 1, "2024-01-15 11:00:00", "f1", 2),
         ("t2", 1, "2024-01-15 10:00:00", "f1", 3), ("t2", 1, "2024-01-15 10:00:00", "f2", 4),
         ("t3", 2, "2024-01-15 09:00:00", "f1", 5)],
        "tid string, line int, ts string, file string, qty int",
    )
    out = dedupe_latest(df, ["tid", "line"], ["ts", "file"])
    expected = spark.createDataFrame(
        [("t1", 1, "2024-01-15 11:00:00", "f1", 2), ("t2", 1, "2024-01-15 10:00:00", "f2", 4),
         ("t3", 2, "2024-01-15 09:00:00", "f1", 5)],
        "tid string, line int, ts string, file string, qty int",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_dedupe_passthrough_rows_are_all_kept_and_displace_no_row(spark):
    df = spark.createDataFrame(
        [("t1", "10:00", False, 1), ("t1", "11:00", True, 2), ("t1", "12:00", True, 3),
         ("t1", "09:00", False, 4), (None, "10:00", True, 5), (None, "10:00", True, 6),
         ("t2", "10:00", None, 7)],
        "tid string, ts string, rejected boolean, n int",
    )
    out = dedupe_latest(df, ["tid"], ["ts"], passthrough=F.col("rejected"))
    assert sorted(r.n for r in out.collect()) == [1, 2, 3, 5, 6, 7]
    assert out.columns == df.columns


def test_dedupe_latest_names_missing_columns(spark):
    with pytest.raises(ValueError, match="nope"):
        dedupe_latest(spark.range(1), ["id"], ["nope"])


def test_lookup_key_links_misses_and_nulls_to_the_unknown_member(spark):
    facts = spark.createDataFrame([(1, "P1"), (2, "P9"), (3, None)], "line int, product_id string")
    dim = spark.createDataFrame([("P1",)], "product_id string").withColumn(
        "product_key", surrogate_key("product_id"))
    out = lookup_key(facts, dim, "product_id", "product_key").orderBy("line")
    keys = [r.product_key for r in out.collect()]
    assert keys[1:] == [UNKNOWN_KEY, UNKNOWN_KEY]
    assert keys[0] == dim.first().product_key != UNKNOWN_KEY


def test_surrogate_key_is_stable_across_frames(spark):
    a = spark.createDataFrame([("C1",), ("C2",)], "id string").select(surrogate_key("id").alias("k"))
    b = spark.createDataFrame([("C2",), ("C1",)], "id string").select(surrogate_key("id").alias("k"))
    assert sorted(r.k for r in a.collect()) == sorted(r.k for r in b.collect())


def test_date_key_is_the_yyyymmdd_of_the_date(spark):
    days = spark.createDataFrame(
        [(date(2024, 1, 15),), (date(2024, 2, 29),), (date(999, 12, 31),),
         (date(9999, 12, 31),), (None,)], "day date",
    )
    keys = days.select(
        date_key("day").alias("key"), F.date_format("day", "yyyyMMdd").cast("int").alias("text")
    ).collect()
    assert [row.key for row in keys] == [20240115, 20240229, 9991231, 99991231, None]
    assert all(row.key == row.text for row in keys)
