"""Sessionization with window functions: a new session after more than N minutes of inactivity.

A visitor is a known customer (``customer_id``) or, when that is null, an anonymous device
(``anonymous_id``); the two kinds never merge (no identity stitching: a visitor who logs
in mid-visit starts a customer session). An event with neither id has no visitor and so
no session (null ``session_start`` / ``session_id``): device and geo are shared by many
people, and grouping by them would merge strangers. Events are ordered by timestamp, ties
broken by the given columns (``event_id``), so the same input always gives the same sessions.

A gap of exactly ``gap_minutes`` continues the session; a longer one starts a new one.
``session_id`` is ``xxhash64(visitor_type, visitor_id, session_start)``: deterministic,
and stable when a day is re-run. Sessions that span midnight belong to the day they start:
pass the previous day's open sessions as ``carry_over`` so today's events that continue
one keep its id and start.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

__all__ = ["CARRY_OVER_COLUMNS", "open_sessions", "sessionize", "visitor_columns"]

VISITOR = ("visitor_type", "visitor_id")
#: What ``carry_over`` holds: one row per visitor whose last session may still be open.
CARRY_OVER_COLUMNS = ("visitor_type", "visitor_id", "last_event_ts", "session_start")


def visitor_columns(
    customer: str = "customer_id", anonymous: str = "anonymous_id"
) -> dict[str, Column]:
    """``visitor_type`` (customer / anonymous) and ``visitor_id``; null when neither id is set."""
    return {
        "visitor_type": F.when(F.col(customer).isNotNull(), F.lit("customer"))
        .when(F.col(anonymous).isNotNull(), F.lit("anonymous")),
        "visitor_id": F.coalesce(F.col(customer), F.col(anonymous)),
    }


def sessionize(
    events: DataFrame,
    gap_minutes: int = 30,
    ts: str = "event_ts",
    tie_breakers: Sequence[str] = ("event_id",),
    carry_over: DataFrame | None = None,
) -> DataFrame:
    """Add ``session_start`` and ``session_id`` to every event.

    Args:
        events: rows with ``visitor_type``, ``visitor_id`` (null: no visitor, no session),
            the timestamp ``ts`` and the ``tie_breakers`` columns.
        gap_minutes: inactivity (strictly more than this) that ends a session.
        carry_over: ``CARRY_OVER_COLUMNS`` rows from :func:`open_sessions`; an event within
            ``gap_minutes`` of a visitor's ``last_event_ts`` continues that session.

    One shuffle (by visitor): ``lag`` flags an event that starts a session, a running sum
    of the flags numbers the visitor's sessions, and the earliest start of each numbered
    session (the carried-over start, if any) is its ``session_start``.
    """
    if gap_minutes < 1:
        raise ValueError(f"sessionize: gap_minutes must be >= 1, got {gap_minutes}")
    missing = [c for c in (*VISITOR, ts, *tie_breakers) if c not in events.columns]
    if missing:
        raise ValueError(f"sessionize: columns not in frame: {', '.join(missing)}")
    no_visitor = F.col("visitor_id").isNull()
    rows = events.withColumns({
        "_context": F.lit(False),
        "_start_hint": F.lit(None).cast("timestamp"),
        # Each visitor-less event is a window partition of its own: no hot null key.
        "_alone": F.when(no_visitor, F.monotonically_increasing_id()),
    })
    if carry_over is not None:
        context = carry_over.select(
            *VISITOR, F.col("last_event_ts").alias(ts), F.col("session_start").alias("_start_hint"),
            F.lit(True).alias("_context"),
        )
        rows = rows.unionByName(context, allowMissingColumns=True)
    by_visitor = Window.partitionBy(*VISITOR, "_alone").orderBy(
        F.col(ts), F.col("_context").desc(), *[F.col(c) for c in tie_breakers]
    )
    micros = F.unix_micros(F.col(ts))
    previous = F.lag(micros).over(by_visitor)
    starts = previous.isNull() | (micros - previous > F.lit(gap_minutes * 60 * 1_000_000))
    numbered = rows.withColumn("_starts", starts.cast("int")).withColumn(
        "_session_no",
        F.sum("_starts").over(by_visitor.rowsBetween(Window.unboundedPreceding, Window.currentRow)),
    )
    session = Window.partitionBy(*VISITOR, "_alone", "_session_no")
    started = numbered.withColumn(
        "session_start",
        F.when(~no_visitor, F.min(F.coalesce("_start_hint", ts)).over(session)),
    ).withColumn(
        "session_id",
        F.when(~no_visitor, F.xxhash64(*[F.col(c) for c in VISITOR], F.col("session_start"))),
    )
    helpers = ("_context", "_start_hint", "_alone", "_starts", "_session_no")
    return started.filter(~F.col("_context")).drop(*helpers)


def open_sessions(
    previous_day_events: DataFrame, day: date, gap_minutes: int = 30, ts: str = "event_ts"
) -> DataFrame:
    """Sessions of the day before ``day`` that ``day``'s first events may continue.

    ``previous_day_events`` are sessionized events (``visitor_type``, ``visitor_id``, ``ts``,
    ``session_start``). Returns ``CARRY_OVER_COLUMNS``: per visitor, the last event's time
    and its session's start, for visitors active in the last ``gap_minutes`` before midnight.
    """
    midnight = F.lit(day).cast("timestamp")
    since = midnight - F.expr(f"INTERVAL {int(gap_minutes)} MINUTES")
    return (
        previous_day_events.filter(
            (F.col(ts) >= since) & (F.col(ts) < midnight) & F.col("visitor_id").isNotNull()
        )
        .groupBy(*VISITOR)
        .agg(
            F.max(ts).alias("last_event_ts"),
            F.max_by("session_start", F.col(ts)).alias("session_start"),
        )
        .select(*CARRY_OVER_COLUMNS)
    )
