"""The checks Great Expectations lacks, as Spark built-ins: one function per kind.

Each takes the frame being checked (already cached by the gate) and whatever it compares
against, and returns a :class:`CheckOutcome`; nothing here reads or writes a table.
Counts come from aggregations; only bounded samples (a few keys) reach the driver.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import date, datetime
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import DataType, DoubleType, FloatType, StringType, TimestampType

from etl_lib.quality.outcome import CheckOutcome, judge
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

__all__ = [
    "OUTLIER_COLUMNS",
    "continuity",
    "flag_outliers",
    "freshness",
    "landing_balance",
    "outliers",
    "profile",
    "reconcile",
    "relationships",
    "row_count_change",
    "volume_anomaly",
]

SAMPLES = 3
#: Relative difference under which two floating-point totals count as equal in reconcile.
FLOAT_TOLERANCE = 1e-9
#: Columns :func:`flag_outliers` adds to the flagged rows.
OUTLIER_COLUMNS = ("group_rows", "group_median", "group_spread", "outlier_score")


def profile(df: DataFrame, latest_of: Sequence[str] = ()) -> dict[str, object]:
    """Row count and the max of each ``latest_of`` column, in one aggregation pass.

    Returns ``{"rows": n, "<column>": max, ...}``; a timestamp's max comes back as its date
    in the session time zone (UTC). Collected as a timestamp, PySpark would give a naive
    datetime in the driver's local zone, a day off near midnight on a non-UTC driver.
    """

    def latest(column: str) -> Column:
        value = F.max(F.col(column))
        return F.to_date(value) if isinstance(df.schema[column].dataType, TimestampType) else value

    aggregates = [F.count(F.lit(1)).alias("rows")]
    aggregates += [latest(c).alias(f"max_{i}") for i, c in enumerate(latest_of)]
    row = df.agg(*aggregates).first()
    values: dict[str, object] = {"rows": int(row["rows"])}
    values.update({c: row[f"max_{i}"] for i, c in enumerate(latest_of)})
    return values


def freshness(rule: Freshness, latest: date | datetime | None, run_date: date) -> CheckOutcome:
    """Latest value at most ``max_age_days`` before ``run_date``; error_count = days too old."""
    if latest is None:
        return judge(rule, 1, f"no {rule.column} value to judge freshness by")
    latest_day = latest.date() if isinstance(latest, datetime) else latest
    age = (run_date - latest_day).days
    late = max(0, age - rule.max_age_days)
    return judge(
        rule, late,
        f"latest {rule.column} {latest_day} is {age} day(s) before run date {run_date} "
        f"(max {rule.max_age_days})",
    )


def row_count_change(rule: RowCountChange, rows: int, previous: int | None) -> CheckOutcome:
    """Rows changed by at most ``max_change_pct`` % against the previous run's rows."""
    if previous is None:
        return judge(rule, 0, f"{rows} rows; no previous run date to compare with")
    if previous == 0:
        change = 0.0 if rows == 0 else math.inf
    else:
        change = abs(rows - previous) / previous * 100
    return judge(
        rule, int(change > rule.max_change_pct),
        f"{rows} rows vs {previous} on the previous run date: {change:.1f}% change "
        f"(max {rule.max_change_pct:g}%)",
    )


def volume_anomaly(rule: VolumeAnomaly, rows: int, history: Sequence[int]) -> CheckOutcome:
    """``rows`` within ``max_z`` sample standard deviations of the ``history`` mean."""
    if len(history) < rule.min_history:
        return judge(
            rule, 0,
            f"{rows} rows; {len(history)} earlier run(s) in RUN_LOG, {rule.min_history} needed",
        )
    mean = statistics.fmean(history)
    spread = statistics.stdev(history)
    if spread == 0:
        z = 0.0 if rows == mean else math.inf
    else:
        z = abs(rows - mean) / spread
    return judge(
        rule, int(z > rule.max_z),
        f"{rows} rows vs mean {mean:.0f} (sd {spread:.0f}) of {len(history)} earlier runs: "
        f"z={z:.2f} (max {rule.max_z:g})",
    )


def relationships(rule: Relationships, df: DataFrame, reference: DataFrame | None) -> CheckOutcome:
    """Rows whose non-null ``column`` is not a ``field`` value of ``reference`` (orphans).

    One aggregation counts the orphan rows and picks the lowest and highest orphan value
    as examples. A missing reference table makes every non-null value an orphan.
    """
    values = df.select(F.col(rule.column).alias("_value")).where(F.col("_value").isNotNull())
    if reference is None:
        orphans, known = values, f"{rule.to} does not exist"
    else:
        keys = reference.select(F.col(rule.field).alias("_value")).distinct()
        orphans, known = values.join(keys, "_value", "left_anti"), f"not in {rule.to}.{rule.field}"
    found = orphans.agg(
        F.count(F.lit(1)).alias("rows"), F.min("_value").alias("low"), F.max("_value").alias("high")
    ).first()
    if found["rows"] == 0:
        return judge(rule, 0, f"every {rule.column} is in {rule.to}.{rule.field}")
    examples = sorted({str(found["low"]), str(found["high"])})
    return judge(
        rule, found["rows"],
        f"{found['rows']} row(s) with a {rule.column} {known}, e.g. {', '.join(examples)}",
    )


def reconcile(
    rules: Sequence[Reconcile], df: DataFrame, reference: DataFrame | None
) -> list[CheckOutcome]:
    """Per ``by`` key present in ``df``: each rule's total of ``df`` = its total of ``reference``.

    The rules share ``to`` and ``by``, so both sides are grouped once for all of them.
    error_count = keys whose totals differ (a key missing from ``reference`` differs).
    A null key part is a key like any other: it is compared with the reference's nulls.
    Floating-point totals are equal within a relative 1e-9 (a sum's last bits depend on
    the order Spark adds in); decimal totals and row counts must be exactly equal.
    """
    by = rules[0].by
    if any(r.by != by or r.to != rules[0].to for r in rules):
        raise ValueError("reconcile: rules compared together must share `to` and `by`")
    keys = [f"_k{i}" for i in range(len(by))]
    mine = df.groupBy(*[F.col(c).alias(k) for k, c in zip(keys, by)]).agg(
        *[_total(r.column).alias(f"_mine{i}") for i, r in enumerate(rules)]
    )
    if reference is None:
        compared = mine.select("*", *[F.lit(None).alias(f"_theirs{i}") for i in range(len(rules))])
    else:
        fields = sorted({r.field for r in rules if r.field})
        theirs = _join_null_safe(
            reference.select(*[F.col(c).alias(k) for k, c in zip(keys, by.values())], *fields),
            mine.select(*keys), keys, "left_semi",
        ).groupBy(*keys).agg(*[_total(r.field).alias(f"_theirs{i}") for i, r in enumerate(rules)])
        compared = _join_null_safe(mine, theirs, keys, "left")
    differs = [
        _totals_differ(compared, f"_mine{i}", f"_theirs{i}") for i in range(len(rules))
    ]
    counts = compared.agg(*[F.sum(d.cast("int")).alias(f"_n{i}") for i, d in enumerate(differs)])
    counted = counts.first()
    outcomes = []
    for i, rule in enumerate(rules):
        count = int(counted[f"_n{i}"] or 0)
        what = f"{'sum(' + rule.column + ')' if rule.column else 'rows'} vs " \
               f"{rule.to} {'sum(' + rule.field + ')' if rule.field else 'rows'}"
        if count == 0:
            outcomes.append(judge(rule, 0, f"{what}: equal for every {'/'.join(by)}"))
            continue
        sample = compared.where(differs[i]).limit(SAMPLES).collect()
        shown = "; ".join(
            f"{'/'.join(str(r[k]) for k in keys)}: {r[f'_mine{i}']} vs {r[f'_theirs{i}']}"
            for r in sample
        )
        outcomes.append(judge(rule, count, f"{what}: {count} key(s) differ, e.g. {shown}"))
    return outcomes


def _totals_differ(compared: DataFrame, mine: str, theirs: str) -> Column:
    """True where the two totals differ (floating-point ones by more than FLOAT_TOLERANCE)."""
    same = F.col(mine).eqNullSafe(F.col(theirs))
    types = {compared.schema[mine].dataType, compared.schema[theirs].dataType}
    if not types & {DoubleType(), FloatType()}:
        return ~same
    scale = F.greatest(F.abs(mine), F.abs(theirs), F.lit(1.0))
    close = F.abs(F.col(mine) - F.col(theirs)) <= F.lit(FLOAT_TOLERANCE) * scale
    return ~(same | F.coalesce(close, F.lit(False)))


def _join_null_safe(left: DataFrame, right: DataFrame, keys: Sequence[str], how: str) -> DataFrame:
    """``left.join(right, keys, how)`` where null key parts match each other (``<=>``)."""
    renamed = right.withColumnsRenamed({k: f"_right{k}" for k in keys})
    matches = [left[k].eqNullSafe(renamed[f"_right{k}"]) for k in keys]
    joined = left.join(renamed, reduce(lambda a, b: a & b, matches), how)
    return joined.drop(*[f"_right{k}" for k in keys])


def _total(column: str | None) -> Column:
    return F.sum(F.col(column)) if column else F.count(F.lit(1))


def continuity(rule: Continuity, df: DataFrame, stored: DataFrame | None) -> CheckOutcome:
    """Days missing between the first and last ``column`` date of ``df`` and ``stored`` together."""
    dates = df.select(F.to_date(F.col(rule.column)).alias("_day"))
    if stored is not None:
        dates = dates.unionByName(stored.select(F.to_date(F.col(rule.column)).alias("_day")))
    row = dates.where(F.col("_day").isNotNull()).agg(
        F.min("_day").alias("first"), F.max("_day").alias("last"),
        F.countDistinct("_day").alias("days"),
    ).first()
    if row["first"] is None:
        return judge(rule, 0, f"no {rule.column} dates yet")
    span = (row["last"] - row["first"]).days + 1
    missing = span - row["days"]
    return judge(
        rule, missing,
        f"{row['days']} of {span} days present from {row['first']} to {row['last']}"
        + (f": {missing} missing" if missing else ""),
    )


def flag_outliers(
    df: DataFrame,
    column: str,
    group_by: Sequence[str],
    method: str = "mad",
    threshold: float = 3.5,
    min_group_rows: int = 10,
    log_scale: bool = False,
    side: str = "both",
) -> DataFrame:
    """The rows of ``df`` whose ``column`` is an outlier within its ``group_by`` group.

    ``mad``: score = |0.6745 * (x - median) / MAD|. ``iqr``: score = distance beyond the
    nearer quartile in IQRs (0 inside [Q1, Q3]). A row is flagged when score > threshold;
    ``side`` ``high`` (or ``low``) scores only values above (below) the median.
    With ``log_scale`` x is log(1 + value) (negative values are not scored). Groups
    smaller than ``min_group_rows`` or without spread (MAD or IQR 0) are not scored.
    Medians and quartiles are ``percentile_approx`` over a window (one shuffle on the group).

    Returns the flagged rows with ``group_rows, group_median, group_spread, outlier_score``
    (median and spread on the scored scale).

    Example:
        >>> flag_outliers(facts, "net_amount", ["store_id", "sale_date"], "mad", 3.5,
        ...               log_scale=True)
    """
    if method not in ("mad", "iqr"):
        raise ValueError(f"outlier method must be mad or iqr, not {method!r}")
    if side not in ("both", "high", "low"):
        raise ValueError(f"outlier side must be both, high or low, not {side!r}")
    group = Window.partitionBy(*group_by)
    x = F.col(column).cast("double")
    if log_scale:
        x = F.when(x >= 0, F.log1p(x))
    quartiles = F.percentile_approx(x, [0.25, 0.5, 0.75]).over(group)
    scored = df.withColumns({"group_rows": F.count(x).over(group), "_q": quartiles})
    scored = scored.withColumn("group_median", F.col("_q")[1])
    if method == "mad":
        spread = F.percentile_approx(F.abs(x - F.col("group_median")), 0.5).over(group)
        scored = scored.withColumn("group_spread", spread)
        score = F.abs(x - F.col("group_median")) * 0.6745 / F.col("group_spread")
    else:
        q1, q3 = F.col("_q")[0], F.col("_q")[2]
        scored = scored.withColumn("group_spread", q3 - q1)
        beyond = F.greatest(x - q3, q1 - x, F.lit(0.0))
        score = beyond / F.col("group_spread")
    usable = (F.col("group_rows") >= min_group_rows) & (F.col("group_spread") > 0)
    if side != "both":
        usable &= (x > F.col("group_median")) if side == "high" else (x < F.col("group_median"))
    return (
        scored.withColumn("outlier_score", F.when(usable, F.round(score, 3)))
        .where(F.col("outlier_score") > threshold)
        .drop("_q")
    )


def outliers(rule: Outliers, flagged: int) -> CheckOutcome:
    """The outcome of an outliers check that flagged ``flagged`` rows (kept in ``keep_in``)."""
    return judge(
        rule, flagged,
        f"{flagged} row(s) with {rule.column} beyond {rule.threshold:g} ({rule.method}"
        f"{', log scale' if rule.scale == 'log' else ''}) within "
        f"{'/'.join(rule.group_by)}; kept in {rule.keep_in}",
    )


def landing_balance(
    rule: LandingBalance,
    landing: DataFrame,
    staged: DataFrame,
    rejected: DataFrame,
    staged_any_day: DataFrame | None = None,
) -> CheckOutcome:
    """Landing lines = staged + rejected + superseded, by line ``keys``.

    ``landing``: the day's raw lines (key columns as text); ``staged`` / ``rejected``: the
    day's rows as written (REJECTED rows carry the raw line as JSON in ``record``).
    Superseded lines are the landing lines of a staged key beyond the staged one, less
    the rejected lines of that key. The winner of a key can be staged on another day (a
    later day's correction, or a line this day sent again in an older version): when the
    day's rows alone do not balance and ``staged_any_day`` (the staged table, every day)
    is given, the keys are looked up there too. error_count = lines in no place (or
    rejected rows that came from no landing line).
    """
    types = {c: staged.schema[c].dataType for c in rule.keys}
    landing_keys = landing.select(*[_as_key(F.col(c), types[c]).alias(c) for c in rule.keys])
    rejected_keys = rejected.select(*[
        _as_key(F.get_json_object(F.col("record"), f"$.{c}"), types[c]).alias(c)
        for c in rule.keys
    ])
    staged_rows = staged.count()

    def balance(staged_keys: DataFrame) -> tuple[int, str]:
        hits = staged_keys.select(*rule.keys).distinct()
        lines, lines_of_staged = _rows_and_hits(landing_keys, hits)
        rejected_rows, rejected_of_staged = _rows_and_hits(rejected_keys, hits)
        superseded = lines_of_staged - rejected_of_staged - staged_rows
        unaccounted = lines - staged_rows - rejected_rows - superseded
        return unaccounted, (
            f"landing {lines} = staged {staged_rows} + rejected {rejected_rows} + superseded "
            f"{superseded}" + (f" + {unaccounted} unaccounted" if unaccounted else "")
        )

    unaccounted, details = balance(staged)
    if unaccounted and staged_any_day is not None:
        unaccounted, details = balance(staged_any_day)
    return judge(rule, abs(unaccounted), details)


def _rows_and_hits(keys: DataFrame, hits: DataFrame) -> tuple[int, int]:
    """Rows of ``keys``, and how many of them have a key in ``hits`` (distinct keys)."""
    row = keys.join(hits.withColumn("_hit", F.lit(1)), keys.columns, "left").agg(
        F.count(F.lit(1)).alias("rows"), F.count("_hit").alias("hits")
    ).first()
    return int(row["rows"]), int(row["hits"])


def _as_key(text: Column, data_type: DataType) -> Column:
    """Raw text as the staged key type: trimmed strings ('' is null), else a cast."""
    if isinstance(data_type, StringType):
        trimmed = F.trim(text.cast("string"))
        return F.when(trimmed != "", trimmed)
    return F.trim(text.cast("string")).cast(data_type)
