"""Sessionization (etl_lib.sessionize) and the clickstream transforms on tiny inline frames."""

from datetime import date, datetime, timedelta
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import Row, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from etl_lib.landing import CLICKSTREAM_SCHEMA
from etl_lib.sessionize import open_sessions, sessionize, visitor_columns
from jobs import clickstream

DAY = date(2024, 1, 15)
EVENTS = "event_id string, customer_id string, anonymous_id string, event_ts timestamp"
SESSIONIZED = "event_id string, session_start timestamp, session_id long"


def at(hh, mm, ss=0, us=0, day=DAY):
    return datetime(day.year, day.month, day.day, hh, mm, ss, us)


def events(spark, rows):
    return spark.createDataFrame(rows, EVENTS).withColumns(visitor_columns())


def expected_sessions(spark, rows):
    """(event_id, visitor_type, visitor_id, session_start) -> the contract's session ids."""
    df = spark.createDataFrame(
        rows, "event_id string, vt string, vid string, session_start timestamp"
    )
    return df.select(
        "event_id", "session_start", F.xxhash64("vt", "vid", "session_start").alias("session_id")
    )


def test_a_gap_of_exactly_30_minutes_continues_and_one_microsecond_more_starts_a_session(spark):
    df = events(
        spark,
        [
            ("e1", "C1", None, at(10, 0)),
            ("e2", "C1", None, at(10, 30)),
            ("e3", "C1", None, at(11, 0, 0, 1)),
            ("e4", "C1", None, at(11, 10)),
        ],
    )
    out = sessionize(df, 30).select("event_id", "session_start", "session_id")
    expected = expected_sessions(
        spark,
        [
            ("e1", "customer", "C1", at(10, 0)),
            ("e2", "customer", "C1", at(10, 0)),
            ("e3", "customer", "C1", at(11, 0, 0, 1)),
            ("e4", "customer", "C1", at(11, 0, 0, 1)),
        ],
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_anonymous_visitors_are_sessionized_by_anonymous_id_and_never_merged_with_customers(spark):
    df = events(
        spark,
        [
            ("a1", None, "X", at(9, 0)),
            ("a2", None, "X", at(9, 20)),
            ("c1", "X", None, at(9, 10)),  # a customer whose id happens to equal the device id
            ("c2", "C2", "dev-9", at(9, 5)),  # logged in: the customer id wins
            ("b1", None, "Y", at(9, 1)),
        ],
    )
    out = sessionize(df, 30).select("event_id", "session_start", "session_id")
    expected = expected_sessions(
        spark,
        [
            ("a1", "anonymous", "X", at(9, 0)),
            ("a2", "anonymous", "X", at(9, 0)),
            ("c1", "customer", "X", at(9, 10)),
            ("c2", "customer", "C2", at(9, 5)),
            ("b1", "anonymous", "Y", at(9, 1)),
        ],
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_events_without_a_visitor_are_kept_without_a_session_and_change_no_other(spark):
    # The contract's clickstream has no anonymous_id: an anonymous event has no visitor id.
    df = events(
        spark,
        [
            ("n1", None, None, at(9, 0)),
            ("n2", None, None, at(9, 1)),
            ("c1", "C1", None, at(9, 2)),
            ("c2", "C1", None, at(9, 20)),
        ],
    )
    out = sessionize(df, 30).select("event_id", "session_start", "session_id")
    expected = expected_sessions(
        spark, [("c1", "customer", "C1", at(9, 2)), ("c2", "customer", "C1", at(9, 2))]
    ).unionByName(spark.createDataFrame([("n1", None, None), ("n2", None, None)], SESSIONIZED))
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
    late = F.col("event_ts") + F.expr("INTERVAL 14 HOURS 50 MINUTES")  # 23:50 onwards
    before_midnight = df.withColumn("event_ts", late)
    carry = open_sessions(sessionize(before_midnight, 30), DAY + timedelta(days=1), 30)
    assert carry.select("visitor_id").collect() == [Row(visitor_id="C1")]
    facts = fact_rows(
        spark, [("1", "s", at(9, 2), "page_view", "/"), ("2", "s", at(9, 3), "purchase", "/c")]
    ).unionByName(
        fact_rows(spark, [("3", "x", at(9, 0), "page_view", "/")]).withColumns({
            "session_id": F.lit(None).cast("long"),
            "session_start": F.lit(None).cast("timestamp"),
            "visitor_type": F.lit(None).cast("string"),
            "visitor_id": F.lit(None).cast("string"),
            "customer_id": F.lit(None).cast("string"),
        })
    )
    sessions = clickstream.build_sessions(facts)
    assert sessions.select("events", "purchased").collect() == [Row(events=2, purchased=True)]
    funnel = clickstream.conversion_funnel(sessions)
    assert funnel.select("sessions", "purchase_sessions").collect() == [
        Row(sessions=1, purchase_sessions=0)]


def test_ties_on_the_timestamp_share_a_session_and_are_ordered_by_event_id(spark):
    facts = fact_rows(
        spark,
        [
            ("b", "S", at(10, 0), "page_view", "/second-by-id"),
            ("a", "S", at(10, 0), "page_view", "/first-by-id"),
            ("c", "S", at(10, 31), "page_view", "/later"),
        ],
    )
    sessionized = sessionize(
        facts.drop("session_id", "session_start").withColumns(visitor_columns()), 30
    )
    starts = sessionized.select("event_id", "session_start", "session_id")
    assert_df_equality(
        starts,
        expected_sessions(
            spark,
            [
                ("a", "customer", "C1", at(10, 0)),
                ("b", "customer", "C1", at(10, 0)),
                ("c", "customer", "C1", at(10, 31)),
            ],
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    first = clickstream.build_sessions(facts.filter("event_id != 'c'"))
    assert first.select("entry_page", "exit_page", "events").first() == (
        "/first-by-id",
        "/second-by-id",
        2,
    )


def test_a_session_spanning_midnight_keeps_the_previous_days_start_and_id(spark):
    yesterday = DAY - timedelta(days=1)
    previous = events(
        spark,
        [
            ("p1", "C1", None, at(23, 40, day=yesterday)),
            ("p2", "C1", None, at(23, 50, day=yesterday)),
            ("p3", "C2", None, at(23, 10, day=yesterday)),
        ],
    )
    carry = open_sessions(sessionize(previous, 30), DAY, 30)
    today = events(
        spark,
        [
            ("t1", "C1", None, at(0, 15)),
            ("t2", "C1", None, at(1, 0)),
            ("t3", "C2", None, at(0, 5)),
        ],
    )
    out = sessionize(today, 30, carry_over=carry).select("event_id", "session_start", "session_id")
    expected = expected_sessions(
        spark,
        [
            ("t1", "customer", "C1", at(23, 40, day=yesterday)),
            ("t2", "customer", "C1", at(1, 0)),
            ("t3", "customer", "C2", at(0, 5)),
        ],
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def fact_rows(spark, rows):
    """FACT_CLICKSTREAM-shaped rows: (event_id, session, event_ts, event_type, page_url)."""
    df = spark.createDataFrame(
        rows,
        "event_id string, session string, event_ts timestamp, event_type string, page_url string",
    )
    first = F.min("event_ts").over(Window.partitionBy("session"))
    return df.select(
        "event_id",
        "event_ts",
        "event_type",
        "page_url",
        F.xxhash64("session").alias("session_id"),
        first.alias("session_start"),
        F.lit("customer").alias("visitor_type"),
        F.lit("C1").alias("visitor_id"),
        F.lit("C1").alias("customer_id"),
        F.lit(None).cast("string").alias("anonymous_id"),
        F.lit(7).cast("long").alias("customer_key"),
        F.lit("mobile").alias("device_type"),
        F.lit("iOS").alias("device_os"),
        F.lit("US").alias("geo_country"),
        F.lit("Boston").alias("geo_city"),
    )


def test_sessions_and_the_funnel_count_nested_steps_per_session_day(spark):
    next_day = DAY + timedelta(days=1)
    facts = fact_rows(
        spark,
        [
            ("1", "full", at(10, 0), "page_view", "/p/1"),
            ("2", "full", at(10, 1), "add_to_cart", "/p/1"),
            ("3", "full", at(10, 2, 30), "purchase", "/checkout"),
            ("4", "cart", at(11, 0), "page_view", "/p/2"),
            ("5", "cart", at(11, 1), "add_to_cart", "/p/2"),
            ("6", "view", at(12, 0), "page_view", "/"),
            ("7", "view", at(12, 1), "search", "/search"),
            ("8", "noview", at(13, 0), "add_to_cart", "/p/3"),
            ("9", "noview", at(13, 1), "purchase", "/checkout"),
            ("10", "late", at(23, 50), "page_view", "/"),
            ("11", "late", at(0, 10, day=next_day), "purchase", "/c"),
            ("12", "tomorrow", at(9, 0, day=next_day), "page_view", "/"),
        ],
    )
    sessions = clickstream.build_sessions(facts)
    full = sessions.filter(F.col("session_id") == F.xxhash64(F.lit("full"))).select(
        "session_date",
        "session_start",
        "session_end",
        "duration_seconds",
        "events",
        "page_views",
        "add_to_cart_events",
        "purchase_events",
        "viewed",
        "added_to_cart",
        "purchased",
        "entry_page",
        "exit_page",
        "customer_key",
    )
    assert_df_equality(
        full,
        spark.createDataFrame(
            [
                (
                    DAY,
                    at(10, 0),
                    at(10, 2, 30),
                    150,
                    3,
                    1,
                    1,
                    1,
                    True,
                    True,
                    True,
                    "/p/1",
                    "/checkout",
                    7,
                )
            ],
            full.schema,
        ),
        ignore_nullable=True,
    )
    funnel = clickstream.conversion_funnel(sessions)
    expected = spark.createDataFrame(
        [
            (DAY, 20240115, 5, 4, 2, 1, Decimal("0.5000"), Decimal("0.5000"), Decimal("0.2000")),
            (next_day, 20240116, 1, 1, 0, 0, Decimal("0.0000"), None, Decimal("0.0000")),
        ],
        funnel.schema,
    )
    assert_df_equality(funnel, expected, ignore_row_order=True, ignore_nullable=True)


def raw_events(spark, rows):
    """Landing rows as read_landing returns them (contract columns + _raw_record + _source_file)."""
    schema = StructType(
        [
            *CLICKSTREAM_SCHEMA.fields,
            StructField("_raw_record", StringType()),
            StructField("_source_file", StringType()),
        ]
    )
    return spark.createDataFrame(rows, schema)


def click(
    event_id,
    ts="2024-01-15T10:00:00.000Z",
    customer="C1",
    anonymous=None,
    kind="page_view",
    raw=None,
    source="f1.json",
):
    return (
        event_id,
        customer,
        anonymous,
        ts,
        kind,
        "/",
        None,
        Row(type="mobile", os="iOS"),
        Row(country="US", city="Boston"),
        raw,
        source,
    )


def test_staging_rejects_with_every_reason_and_keeps_one_copy_of_a_redelivered_event(spark):
    raw = raw_events(
        spark,
        [
            click("ok"),
            click("nobody", customer=None),
            click("late", ts="2024-01-14T23:59:59Z"),
            click("dup", source="f1.json"),
            click("dup", source="f2.json"),
            click(None, ts="not a time", kind=" "),
            click(None, customer=None, raw='{"event_id": "bad", "device": "mobile"}'),
        ],
    )
    batch = clickstream.stage(raw, DAY)
    staged = batch.valid.select("event_id", "visitor_type", "device__type", "source_file")
    assert_df_equality(
        staged,
        spark.createDataFrame(
            [
                ("ok", "customer", "mobile", "f1.json"),
                ("nobody", None, "mobile", "f1.json"),  # the contract's anonymous event
                ("dup", "customer", "mobile", "f2.json"),
            ],
            staged.schema,
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )
    rejected = batch.rejected.select(
        F.get_json_object("record", "$.event_id").alias("id"), "reject_reasons"
    )
    expected = spark.createDataFrame(
        [
            ("late", ["event_ts_outside_business_day"]),
            ("dup", ["duplicate_event_id"]),
            (None, ["event_id_missing", "event_ts_invalid", "event_type_missing"]),
            (None, ["unparseable_record", "device_type_conflict"]),
        ],
        "id string, reject_reasons array<string>",
    )
    assert_df_equality(rejected, expected, ignore_row_order=True, ignore_nullable=True)
