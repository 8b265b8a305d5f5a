"""clickstream: a day's small JSON event files -> STG_CLICKSTREAM, FACT_CLICKSTREAM, FACT_SESSIONS,
CONVERSION_FUNNEL (decisions in docs/semistructured.md).

* Staging: events are typed and validated; REJECTED_CLICKSTREAM keeps every reason
  (unparseable / ``malformed_json`` / ``<field>_type_conflict``, ``event_id_missing``,
  ``event_ts_missing`` / ``_invalid``, ``event_type_missing``,
  ``event_ts_outside_business_day`` (the contract files events under their own day),
  ``duplicate_event_id`` (a redelivered event: one copy is kept)).
* Sessions: per visitor (customer_id, else anonymous_id; an event with neither is kept,
  in STG_CLICKSTREAM and FACT_CLICKSTREAM, without a session), a new session after more than
  ``jobs.clickstream.session_gap_minutes`` (30) of inactivity; ``session_id`` =
  xxhash64(visitor_type, visitor_id, session_start). A session belongs to the day it
  starts: events after midnight that continue the previous day's session keep its id,
  and that day's FACT_SESSIONS and CONVERSION_FUNNEL rows are rebuilt.
* FACT_CLICKSTREAM (event grain) is partitioned by event_date, FACT_SESSIONS (session
  grain) and CONVERSION_FUNNEL (per day) by session_date; a rerun replaces the partitions.

Run alone (after the dimensions):
``spark-submit jobs/clickstream.py --env local --run-date 2024-01-15``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date, timedelta

from pydantic import BaseModel, ConfigDict, Field
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from etl_lib.cleansing import blank_to_null, normalize_text, parse_timestamp, trim_strings
from etl_lib.dimensions import date_key
from etl_lib.duplicates import superseded_rule
from etl_lib.io.files import RAW_RECORD, SOURCE_FILE
from etl_lib.job import JobContext, RunStats, run_job
from etl_lib.joins import lookup_key
from etl_lib.landing import CLICKSTREAM_SCHEMA
from etl_lib.scd import member_key_at
from etl_lib.semistructured import FlattenSpec, conflict_rules, flatten
from etl_lib.sessionize import open_sessions, sessionize, visitor_columns
from etl_lib.staging import (
    StagedBatch, read_optional_landing, stage_rows, unparseable, write_staged,
)
from etl_lib.validation import Rule, not_parsed

JOB_NAME = "clickstream"
RAW_COLUMNS = tuple(f.name for f in CLICKSTREAM_SCHEMA.fields)
TEXT_COLUMNS = (
    "event_id", "customer_id", "anonymous_id", "page_url", "product_id",
    "device__type", "device__os", "geo__country", "geo__city",
)
STAGED_COLUMNS = (
    "event_id", "event_ts", "event_date", "event_type", "page_url", "product_id", "customer_id",
    "anonymous_id", "visitor_type", "visitor_id", "device__type", "device__os", "geo__country",
    "geo__city", "source_file",
)
FACT_COLUMNS = (
    "event_id", "event_date", "date_key", "event_ts", "event_type", "page_url", "session_id",
    "session_start", "visitor_type", "visitor_id", "customer_id", "anonymous_id",
    "customer_key", "product_id", "product_key", "device_type", "device_os", "geo_country",
    "geo_city", "source_file",
)


class Params(BaseModel):
    """``jobs.clickstream`` in conf."""

    model_config = ConfigDict(extra="forbid")
    session_gap_minutes: int = Field(30, ge=1, le=24 * 60)


def standardize(raw: DataFrame) -> DataFrame:
    """Flat, trimmed, typed event columns (``device__type``, ...); raw row kept as ``_record``."""
    with_record = raw.withColumn("_record", F.struct(*[F.col(c) for c in RAW_COLUMNS]))
    flat = trim_strings(flatten(with_record, FlattenSpec(modes={"_record": "keep"})), TEXT_COLUMNS)
    return flat.withColumns({
        "raw_event_ts": blank_to_null(F.col("event_ts")),
        "event_ts": parse_timestamp(F.col("event_ts")),
        "event_type": normalize_text(F.col("event_type")),
        "source_file": F.col(SOURCE_FILE),
        **visitor_columns(),
    }).withColumn("event_date", F.to_date("event_ts"))


def rejection_rules(business_date: date) -> list[Rule]:
    """Why an event is rejected; "missing" applies only to records the reader could parse."""
    parsed = F.col(RAW_RECORD).isNull()

    def missing(reason: str, column: Column) -> Rule:
        return Rule(reason, parsed & column.isNull())

    return [
        *conflict_rules(CLICKSTREAM_SCHEMA),
        missing("event_id_missing", F.col("event_id")),
        missing("event_ts_missing", F.col("raw_event_ts")),
        not_parsed("raw_event_ts", F.col("event_ts"), "event_ts"),
        missing("event_type_missing", F.col("event_type")),
        Rule("event_ts_outside_business_day", F.col("event_date") != F.lit(business_date)),
    ]


def stage(raw: DataFrame, business_date: date) -> StagedBatch:
    """A day's raw events -> STG_CLICKSTREAM and REJECTED_CLICKSTREAM rows."""
    typed = standardize(raw)
    rules = rejection_rules(business_date)
    marked, duplicate = superseded_rule(
        typed, [unparseable(), *rules], ["event_id"], [SOURCE_FILE], "duplicate_event_id"
    )
    batch = stage_rows(marked, [*rules, duplicate], F.col("_record"), business_date)
    staged = batch.valid.select(*STAGED_COLUMNS, F.lit(business_date).alias("business_date"))
    return StagedBatch(valid=staged, rejected=batch.rejected)


def build_events(
    staged: DataFrame,
    carry_over: DataFrame | None,
    dim_customer: DataFrame,
    dim_product: DataFrame,
    gap_minutes: int = 30,
) -> DataFrame:
    """FACT_CLICKSTREAM rows: sessionized events with customer and product keys (-1 unknown).

    ``carry_over``: the previous day's open sessions (``etl_lib.sessionize.open_sessions``).
    ``dim_customer``: DIM_CUSTOMER's versions; an event links to the one valid at its time.
    """
    events = sessionize(staged, gap_minutes, carry_over=carry_over)
    keyed = member_key_at(events, dim_customer, "customer_id", "customer_key", "event_ts")
    keyed = lookup_key(keyed, dim_product, "product_id", "product_key")
    return keyed.withColumns({
        "date_key": date_key("event_date"),
        "device_type": F.col("device__type"), "device_os": F.col("device__os"),
        "geo_country": F.col("geo__country"), "geo_city": F.col("geo__city"),
    }).select(*FACT_COLUMNS)


def build_sessions(events: DataFrame) -> DataFrame:
    """FACT_SESSIONS rows from FACT_CLICKSTREAM rows (every event of each session).

    Entry/exit page, device and geo come from the first/last event (ties by event_id).
    Events without a visitor (no session_id) belong to no session.
    """
    order = F.struct("event_ts", "event_id")
    is_type = lambda kind: F.col("event_type") == kind  # noqa: E731
    sessions = events.filter(F.col("session_id").isNotNull()).groupBy("session_id").agg(
        F.min("session_start").alias("session_start"),
        F.max("event_ts").alias("session_end"),
        F.min_by("visitor_type", order).alias("visitor_type"),
        F.min_by("visitor_id", order).alias("visitor_id"),
        F.min_by("customer_id", order).alias("customer_id"),
        F.min_by("anonymous_id", order).alias("anonymous_id"),
        F.min_by("customer_key", order).alias("customer_key"),
        F.count(F.lit(1)).alias("events"),
        F.count_if(is_type("page_view")).alias("page_views"),
        F.count_if(is_type("add_to_cart")).alias("add_to_cart_events"),
        F.count_if(is_type("purchase")).alias("purchase_events"),
        F.min_by("page_url", order).alias("entry_page"),
        F.max_by("page_url", order).alias("exit_page"),
        F.min_by("device_type", order).alias("device_type"),
        F.min_by("device_os", order).alias("device_os"),
        F.min_by("geo_country", order).alias("geo_country"),
        F.min_by("geo_city", order).alias("geo_city"),
    )
    return sessions.withColumns({
        "session_date": F.to_date("session_start"),
        "duration_seconds": F.unix_seconds("session_end") - F.unix_seconds("session_start"),
        "viewed": F.col("page_views") > 0,
        "added_to_cart": F.col("add_to_cart_events") > 0,
        "purchased": F.col("purchase_events") > 0,
    }).withColumn("date_key", date_key("session_date")).select(
        "session_id", "session_date", "date_key", "session_start", "session_end",
        "duration_seconds", "visitor_type", "visitor_id", "customer_id", "anonymous_id",
        "customer_key", "events", "page_views", "add_to_cart_events", "purchase_events",
        "viewed", "added_to_cart", "purchased", "entry_page", "exit_page", "device_type",
        "device_os", "geo_country", "geo_city",
    )


def conversion_funnel(sessions: DataFrame) -> DataFrame:
    """CONVERSION_FUNNEL rows: per session day, sessions reaching view -> add_to_cart -> purchase.

    Steps are nested (a purchase counts only in a session that also viewed and added to
    cart); rates are null when their denominator is 0.
    """
    def rate(numerator: str, denominator: str) -> Column:
        return F.when(
            F.col(denominator) > 0, F.round(F.col(numerator) / F.col(denominator), 4)
        ).cast("decimal(7,4)")

    viewed = F.col("viewed")
    carted = viewed & F.col("added_to_cart")
    return (
        sessions.groupBy("session_date")
        .agg(
            F.count(F.lit(1)).alias("sessions"),
            F.count_if(viewed).alias("viewed_sessions"),
            F.count_if(carted).alias("cart_sessions"),
            F.count_if(carted & F.col("purchased")).alias("purchase_sessions"),
        )
        .select(
            "session_date",
            date_key("session_date").alias("date_key"),
            "sessions", "viewed_sessions", "cart_sessions", "purchase_sessions",
            rate("cart_sessions", "viewed_sessions").alias("view_to_cart_rate"),
            rate("purchase_sessions", "cart_sessions").alias("cart_to_purchase_rate"),
            rate("purchase_sessions", "sessions").alias("conversion_rate"),
        )
    )


def run(ctx: JobContext) -> RunStats:
    """Stage the day's events, then replace the day in the fact, sessions and funnel tables."""
    gap = ctx.config.job_params(JOB_NAME, Params).session_gap_minutes
    wh, stats, day = ctx.warehouse, RunStats(), ctx.run_date
    fact_table = ctx.table("fact_clickstream")
    raw = read_optional_landing(
        ctx.spark, wh, ctx.config.landing.root, "clickstream", day, fact_table
    )
    if raw is None:
        ctx.log.info("no clickstream files for %s: tables unchanged", day)
        return stats
    raw = raw.cache()  # many small files: list and parse them once for every write
    batch = stage(raw, day)
    ctx.quality_gate(stg_clickstream=batch.valid, rejected_clickstream=batch.rejected)
    write_staged(
        wh, batch, ctx.table("stg_clickstream"), ctx.table("rejected_clickstream"), day, stats
    )
    previous = wh.read_or_none(fact_table)
    carry = None
    if previous is not None:
        yesterday = previous.filter(F.col("event_date") == day - timedelta(days=1))
        carry = open_sessions(yesterday, day, gap)
    events = build_events(
        batch.valid, carry,
        wh.read(ctx.table("dim_customer")), wh.read(ctx.table("dim_product")),
        gap,
    )
    ctx.quality_gate(fact_clickstream=events)
    stats.wrote(wh.overwrite_partitions(
        events, fact_table, "event_date", [day], partition_by=["event_date"]))
    raw.unpersist()

    facts = wh.read(fact_table)
    started = (
        facts.filter((F.col("event_date") == day) & F.col("session_start").isNotNull())
        .select(F.to_date("session_start")).distinct()
    )
    dates = sorted({day, *(row[0] for row in started.collect())})  # today, maybe yesterday
    span = facts.filter(F.col("event_date").between(dates[0], dates[-1] + timedelta(days=1)))
    sessions = build_sessions(span).filter(F.col("session_date").isin(dates)).cache()
    funnel = conversion_funnel(sessions)
    ctx.quality_gate(fact_sessions=sessions, conversion_funnel=funnel)
    sessions_table = ctx.table("fact_sessions")
    stats.wrote(wh.overwrite_partitions(
        sessions, sessions_table, "session_date", dates, partition_by=["session_date"]), "other")
    stats.wrote(wh.overwrite_partitions(
        funnel, ctx.table("conversion_funnel"), "session_date", dates), "other")
    sessions.unpersist()
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB_NAME, run, argv)


if __name__ == "__main__":
    sys.exit(main())
