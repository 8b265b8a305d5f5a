"""Older copies of a business key, named as a rejection reason instead of dropped silently."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from etl_lib.validation import Rule

__all__ = ["superseded_rule"]

_FLAG = "_superseded"


def superseded_rule(
    df: DataFrame, rules: Sequence[Rule], keys: Sequence[str], order_by: Sequence[str], reason: str
) -> tuple[DataFrame, Rule]:
    """Mark rows that pass every rule but are not the latest of their key among such rows.

    Give ``rules`` as :func:`etl_lib.staging.stage_rows` will apply them, including
    ``unparseable()`` (it adds that one itself), and add the returned rule to them.

    Returns ``df`` with a helper column and the :class:`Rule` (``reason``) that rejects the
    marked rows. ``order_by`` is compared left to right, greatest wins (e.g. latest
    timestamp, then later file); remaining ties go to a hash of the whole row, so a rerun
    keeps the same copy. A key whose newest copy breaks a rule keeps its best valid one
    (as for sales corrections: only valid rows compete).

    Example:
        >>> marked, rule = superseded_rule(typed, [unparseable(), *rules], ["review_id"],
        ...                                ["review_ts", "_source_file"], "duplicate_review_id")
        >>> batch = stage_rows(marked, [*rules, rule], record, day)
    """
    missing = [c for c in [*keys, *order_by] if c not in df.columns]
    if not keys or not order_by or missing:
        raise ValueError(
            "superseded_rule needs key and order_by columns of the frame "
            f"(missing: {', '.join(missing)})"
        )
    passes = reduce(
        lambda acc, rule: acc & ~F.coalesce(rule.violated, F.lit(False)),
        rules, F.lit(True),
    )
    tie = F.xxhash64(F.to_json(F.struct(*[F.col(f"`{c}`") for c in df.columns])))
    latest_first = Window.partitionBy(*keys, "_passes").orderBy(
        *[F.col(c).desc_nulls_last() for c in order_by], tie.desc()
    )
    marked = (
        df.withColumn("_passes", passes)
        .withColumn(_FLAG, F.col("_passes") & (F.row_number().over(latest_first) > 1))
        .drop("_passes")
    )
    return marked, Rule(reason, F.col(_FLAG))
