"""The etl_lib quality checks (the kinds Great Expectations lacks), on tiny inline frames."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import types as T

from etl_lib.quality import checks, history
from etl_lib.quality.rules import (
    Continuity,
    Freshness,
    LandingBalance,
    Outliers,
    Reconcile,
    Relationships,
    RowCountChange,
    VolumeAnomaly,
)

RUN_DATE = date(2024, 1, 16)


def status(outcome) -> tuple[str, int]:
    return outcome.status, outcome.error_count


# ------------------------------------------------------------------ table-level (no Spark)


@pytest.mark.parametrize(
    ("latest", "expected"),
    [
        (datetime(2024, 1, 15, 23, 59), ("PASS", 0)),
        (date(2024, 1, 16), ("PASS", 0)),
        (date(2024, 1, 12), ("WARN", 3)),  # 4 days old, 1 allowed: 3 days too old
        (None, ("WARN", 1)),
    ],
)
def test_freshness_counts_days_beyond_the_allowed_age(latest, expected):
    rule = Freshness(check="freshness", column="ts", max_age_days=1, severity="warn")
    assert status(checks.freshness(rule, latest, RUN_DATE)) == expected


@pytest.mark.parametrize(
    ("rows", "previous", "expected"),
    [(100, None, ("PASS", 0)), (120, 100, ("PASS", 0)), (151, 100, ("FAIL", 1)),
     (49, 100, ("FAIL", 1)), (0, 0, ("PASS", 0)), (5, 0, ("FAIL", 1))],
)
def test_row_count_change_against_the_previous_run(rows, previous, expected):
    rule = RowCountChange(check="row_count_change", max_change_pct=50)
    assert status(checks.row_count_change(rule, rows, previous)) == expected


@pytest.mark.parametrize(
    ("rows", "past", "expected"),
    [(10, [100, 100], ("PASS", 0)),          # too little history: passes, says so
     (104, [100, 98, 102, 101], ("PASS", 0)),
     (150, [100, 98, 102, 101], ("WARN", 1)),
     (100, [100, 100, 100], ("PASS", 0)),
     (101, [100, 100, 100], ("WARN", 1))],    # no spread: any change is an anomaly
)
def test_volume_anomaly_is_a_z_score_on_run_log_history(rows, past, expected):
    rule = VolumeAnomaly(check="volume_anomaly", max_z=3, min_history=3, severity="warn")
    outcome = checks.volume_anomaly(rule, rows, past)
    assert status(outcome) == expected
    assert ("needed" in outcome.details) == (len(past) < 3)


# ------------------------------------------------------------------ frame checks


def test_profile_counts_rows_and_takes_maxima_in_one_pass(spark):
    df = spark.createDataFrame(
        [(1, date(2024, 1, 14)), (2, date(2024, 1, 15)), (3, None)], "id int, d date"
    )
    assert checks.profile(df, ["d", "id"]) == {"rows": 3, "d": date(2024, 1, 15), "id": 3}


def test_relationships_counts_orphan_rows_and_names_the_lowest_and_highest(spark):
    facts = spark.createDataFrame(
        [("P1",), ("P2",), ("P8",), ("P9",), ("P9",), (None,)], "product_id string"
    )
    dim = spark.createDataFrame([("P1",), ("P2",)], "product_id string")
    rule = Relationships(check="relationships", column="product_id", to="dim_product",
                         field="product_id", severity="warn")
    outcome = checks.relationships(rule, facts, dim)
    assert status(outcome) == ("WARN", 3)
    assert outcome.details == (
        "3 row(s) with a product_id not in dim_product.product_id, e.g. P8, P9")
    known = facts.where("product_id IN ('P1', 'P2') OR product_id IS NULL")
    assert status(checks.relationships(rule, known, dim)) == ("PASS", 0)
    assert status(checks.relationships(rule, facts, None)) == ("WARN", 5)


def test_reconcile_compares_totals_per_key_present_in_the_frame(spark):
    summary = spark.createDataFrame(
        [(date(2024, 1, 15), "East", Decimal("10.00")),
         (date(2024, 1, 15), "West", Decimal("5.00")),
         (date(2024, 1, 16), "East", Decimal("7.00"))],
        "date date, region string, total_sales decimal(18,2)",
    )
    facts = spark.createDataFrame(
        [(date(2024, 1, 15), Decimal("12.00")), (date(2024, 1, 15), Decimal("3.00")),
         (date(2024, 1, 16), Decimal("6.00")), (date(2024, 1, 14), Decimal("99.00"))],
        "sale_date date, net_amount decimal(14,2)",
    )
    sums = Reconcile(check="reconcile", to="fact_sales", by={"date": "sale_date"},
                     column="total_sales", field="net_amount")
    rows = Reconcile(check="reconcile", to="fact_sales", by={"date": "sale_date"})
    both = [sums, rows]
    outcome, counted = checks.reconcile(both, summary, facts)
    assert status(outcome) == ("FAIL", 1)  # 2024-01-16 differs; 01-14 is not in the frame
    assert "2024-01-16: 7.00 vs 6.00" in outcome.details
    assert status(counted) == ("PASS", 0)  # 2 rows vs 2 on the 15th, 1 vs 1 on the 16th
    assert [status(o) for o in checks.reconcile(both, summary, None)] == [("FAIL", 2), ("FAIL", 2)]
    with pytest.raises(ValueError, match="share `to` and `by`"):
        checks.reconcile([sums, rows.model_copy(update={"to": "stg_sales"})], summary, facts)


def test_reconcile_compares_a_null_key_with_the_reference_null_key(spark):
    summary = spark.createDataFrame(
        [(None, Decimal("4.00")), ("East", Decimal("6.00"))], "region string, total decimal(18,2)")
    facts = spark.createDataFrame(
        [(None, Decimal("1.50")), (None, Decimal("2.50")), ("East", Decimal("6.00"))],
        "region string, amount decimal(14,2)")
    rule = Reconcile(check="reconcile", to="fact_sales", by={"region": "region"},
                     column="total", field="amount")
    assert status(checks.reconcile([rule], summary, facts)[0]) == ("PASS", 0)
    short = facts.where("amount <> 2.50")
    outcome = checks.reconcile([rule], summary, short)[0]
    assert status(outcome) == ("FAIL", 1) and "None: 4.00 vs 1.50" in outcome.details


def test_reconcile_takes_floating_point_totals_equal_within_rounding_only(spark):
    summary = spark.createDataFrame([("a", 0.6), ("b", 1.0)], "k string, total double")
    facts = spark.createDataFrame([("a", 0.1), ("a", 0.2), ("a", 0.3), ("b", 0.999)],
                                  "k string, amount double")  # 0.1 + 0.2 + 0.3 != 0.6 exactly
    rule = Reconcile(check="reconcile", to="fact_sales", by={"k": "k"},
                     column="total", field="amount")
    outcome = checks.reconcile([rule], summary, facts)[0]
    assert status(outcome) == ("FAIL", 1) and "b: 1.0 vs 0.999" in outcome.details


def test_continuity_counts_missing_days_across_frame_and_stored_table(spark):
    stored = spark.createDataFrame(
        [(date(2024, 1, 1),), (date(2024, 1, 2),), (date(2024, 1, 5),)], "date date"
    )
    today = spark.createDataFrame([(date(2024, 1, 6),)], "date date")
    rule = Continuity(check="continuity", column="date")
    outcome = checks.continuity(rule, today, stored)
    assert status(outcome) == ("FAIL", 2)  # 3rd and 4th missing
    assert "4 of 6 days" in outcome.details
    assert status(checks.continuity(rule, today, None)) == ("PASS", 0)
    assert status(checks.continuity(rule, today.where("false"), None)) == ("PASS", 0)


AMOUNTS = [10.0, 11.0, 12.0, 12.5, 13.0, 14.0, 15.0, 16.0, 16.5, 500.0]


def test_flag_outliers_by_median_and_mad_per_group(spark):
    rows = [("S1", i, a) for i, a in enumerate(AMOUNTS)]
    rows += [("S2", i, a * 100) for i, a in enumerate(AMOUNTS[:9])]
    df = spark.createDataFrame(rows, "store_id string, line int, amount double")
    flagged = checks.flag_outliers(df, "amount", ["store_id"], "mad", 3.5, min_group_rows=5)
    expected = spark.createDataFrame([("S1", 9, 500.0)], "store_id string, line int, amount double")
    assert_df_equality(flagged.select("store_id", "line", "amount"), expected)
    assert set(checks.OUTLIER_COLUMNS) <= set(flagged.columns)
    row = flagged.first()
    assert row["group_rows"] == 10 and row["group_median"] == 13.0 and row["outlier_score"] > 3.5


def test_flag_outliers_by_iqr_and_skips_small_or_flat_groups(spark):
    rows = ([("S1", i, a) for i, a in enumerate(AMOUNTS)] + [("S2", 0, 1.0), ("S2", 1, 900.0)]
            + [("S3", i, 5.0) for i in range(12)] + [("S3", 99, 800.0)])
    df = spark.createDataFrame(rows, "store_id string, line int, amount double")
    flagged = checks.flag_outliers(df, "amount", ["store_id"], "iqr", 3.0, min_group_rows=5)
    expected = spark.createDataFrame([("S1", 9, 500.0)], "store_id string, line int, amount double")
    assert_df_equality(flagged.select("store_id", "line", "amount"), expected)
    with pytest.raises(ValueError, match="mad or iqr"):
        checks.flag_outliers(df, "amount", ["store_id"], "zscore")


def test_flag_outliers_on_a_log_scale_flags_only_what_is_far_out_in_proportion(spark):
    amounts = [5.0, 8.0, 10.0, 12.0, 15.0, 20.0, 25.0, 30.0, 40.0, 60.0, 90.0, 140.0, 220.0,
               20000.0]
    df = spark.createDataFrame([("S1", a) for a in amounts], "store_id string, amount double")
    expected = spark.createDataFrame([("S1", a) for a in (140.0, 220.0, 20000.0)],
                                     "store_id string, amount double")
    linear = checks.flag_outliers(df, "amount", ["store_id"], "mad", 3.5, min_group_rows=5)
    assert_df_equality(linear.select("store_id", "amount"), expected, ignore_row_order=True)
    logged = checks.flag_outliers(df, "amount", ["store_id"], "mad", 3.5, 5, log_scale=True)
    assert_df_equality(logged.select("store_id", "amount"), expected.where("amount > 1000"))


def test_flag_outliers_on_one_side_of_the_median(spark):
    amounts = [0.5, 40.0, 45.0, 48.0, 50.0, 52.0, 55.0, 60.0, 5000.0]
    df = spark.createDataFrame([("S1", a) for a in amounts], "store_id string, amount double")

    def flagged(side):
        found = checks.flag_outliers(df, "amount", ["store_id"], "mad", 3.5, 5, side=side)
        return sorted(r.amount for r in found.collect())

    assert flagged("both") == [0.5, 5000.0]
    assert flagged("high") == [5000.0]
    assert flagged("low") == [0.5]
    with pytest.raises(ValueError, match="both, high or low"):
        checks.flag_outliers(df, "amount", ["store_id"], side="up")


def test_outliers_outcome_counts_flagged_rows():
    rule = Outliers(check="outliers", column="net_amount", group_by=["store_id"],
                    keep_in="sales_outliers", severity="warn")
    assert status(checks.outliers(rule, 3)) == ("WARN", 3)
    assert status(checks.outliers(rule, 0)) == ("PASS", 0)


LANDING_SCHEMA = "transaction_id string, line_number string"
STAGED_SCHEMA = "transaction_id string, line_number int"
REJECTED_SCHEMA = "record string"


def test_landing_balance_accounts_for_every_landing_line(spark):
    landing = spark.createDataFrame(
        [("T1", "1"), ("T1", " 1"), ("T1", "2"), ("T2", "1"), (" ", "1"), ("T3", "x")],
        LANDING_SCHEMA,
    )  # T1/1 twice (a correction), a blank key and a bad line number are rejected
    staged = spark.createDataFrame([("T1", 1), ("T1", 2), ("T2", 1)], STAGED_SCHEMA)
    rejected = spark.createDataFrame(
        [('{"transaction_id":" ","line_number":"1"}',),
         ('{"transaction_id":"T3","line_number":"x"}',)],
        REJECTED_SCHEMA,
    )
    rule = LandingBalance(check="landing_balance", rejected="rejected_sales",
                          keys=["transaction_id", "line_number"])
    outcome = checks.landing_balance(rule, landing, staged, rejected)
    assert status(outcome) == ("PASS", 0)
    assert outcome.details == "landing 6 = staged 3 + rejected 2 + superseded 1"
    lost = checks.landing_balance(rule, landing, staged.where("transaction_id != 'T2'"), rejected)
    assert status(lost) == ("FAIL", 1)
    assert "1 unaccounted" in lost.details


def test_landing_balance_finds_lines_superseded_by_a_row_staged_on_another_day(spark):
    rule = LandingBalance(check="landing_balance", rejected="rejected_sales",
                          keys=["transaction_id", "line_number"])
    no_rejections = spark.createDataFrame([], REJECTED_SCHEMA)
    # STG_SALES holds one row per key: T1/1 was corrected on the 16th (that row moved to
    # the 16th); T9/1 is another day's line.
    staged_any_day = spark.createDataFrame(
        [("T1", 1, date(2024, 1, 16)), ("T2", 1, date(2024, 1, 15)), ("T9", 1, date(2024, 1, 14))],
        "transaction_id string, line_number int, business_date date",
    )
    staged_15th = staged_any_day.where("business_date = '2024-01-15'")
    rerun_15th = spark.createDataFrame([("T1", "1"), ("T2", "1")], LANDING_SCHEMA)

    alone = checks.landing_balance(rule, rerun_15th, staged_15th, no_rejections)
    assert status(alone) == ("FAIL", 1)
    outcome = checks.landing_balance(rule, rerun_15th, staged_15th, no_rejections, staged_any_day)
    assert status(outcome) == ("PASS", 0)
    assert outcome.details == "landing 2 = staged 1 + rejected 0 + superseded 1"
    lost = spark.createDataFrame([("T1", "1"), ("T2", "1"), ("T3", "1")], LANDING_SCHEMA)
    still_lost = checks.landing_balance(rule, lost, staged_15th, no_rejections, staged_any_day)
    assert status(still_lost) == ("FAIL", 1)


def test_freshness_takes_a_timestamps_day_in_utc_whatever_the_driver_zone(
    spark, driver_in_new_york
):
    # 02:00 UTC on the run date is still the day before in New York.
    frame = spark.sql("SELECT TIMESTAMP'2024-01-16 02:00:00' AS ts")
    latest = checks.profile(frame, ["ts"])["ts"]
    assert latest == date(2024, 1, 16)
    rule = Freshness(check="freshness", column="ts", max_age_days=0, severity="warn")
    assert status(checks.freshness(rule, latest, RUN_DATE)) == ("PASS", 0)


# ------------------------------------------------------------------ history


def test_previous_rows_checked_takes_the_latest_earlier_run_date(spark):
    schema = "table string, run_date date, run_time timestamp, rows_checked long"
    metrics = spark.createDataFrame(
        [("S.T", date(2024, 1, 14), datetime(2024, 1, 14, 1), 10),
         ("S.T", date(2024, 1, 15), datetime(2024, 1, 15, 1), 20),
         ("S.T", date(2024, 1, 15), datetime(2024, 1, 15, 2), 21),  # a rerun of the 15th
         ("S.T", date(2024, 1, 15), datetime(2024, 1, 15, 3), None),  # e.g. a schema_drift row
         ("S.T", date(2024, 1, 16), datetime(2024, 1, 16, 1), 99),  # this run date: ignored
         ("S.U", date(2024, 1, 15), datetime(2024, 1, 15, 3), 5)],
        schema,
    )
    assert history.previous_rows_checked(metrics, "S.T", RUN_DATE) == 21
    assert history.previous_rows_checked(metrics, "S.T", date(2024, 1, 14)) is None


def test_written_rows_history_reads_successful_earlier_runs_of_the_table(spark):
    schema = T.StructType([
        T.StructField("run_date", T.DateType()), T.StructField("status", T.StringType()),
        T.StructField("started_at", T.TimestampType()),
        T.StructField("tables", T.MapType(T.StringType(), T.LongType())),
    ])
    run_log = spark.createDataFrame(
        [(date(2024, 1, 12), "SUCCEEDED", datetime(2024, 1, 12, 1), {"S.T": 10}),
         (date(2024, 1, 13), "FAILED", datetime(2024, 1, 13, 1), {"S.T": 0}),
         (date(2024, 1, 14), "SUCCEEDED", datetime(2024, 1, 14, 1), {"S.T": 14}),
         (date(2024, 1, 14), "SUCCEEDED", datetime(2024, 1, 14, 2), {"S.T": 15}),
         (date(2024, 1, 15), "SUCCEEDED", datetime(2024, 1, 15, 1), {"S.U": 7}),
         (date(2024, 1, 16), "SUCCEEDED", datetime(2024, 1, 16, 1), {"S.T": 99})],
        schema,
    )
    assert history.written_rows_history(run_log, "S.T", RUN_DATE, 5) == [15, 10]
    assert history.written_rows_history(run_log, "S.T", RUN_DATE, 1) == [15]
