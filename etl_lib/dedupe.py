"""Keep the latest row per business key."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

__all__ = ["dedupe_latest"]


def dedupe_latest(
    df: DataFrame,
    keys: Sequence[str],
    order_by: Sequence[str],
    passthrough: Column | None = None,
) -> DataFrame:
    """One row per ``keys``: the one with the greatest ``order_by`` tuple.

    ``order_by`` is compared left to right (e.g. ``["event_ts", "source_file"]``: latest
    timestamp, ties broken by the later file; nulls lose). One hash shuffle on the keys
    and a sort inside each partition (``row_number`` over the keys), no global sort.
    A ``max_by(struct, struct)`` aggregate gives the same rows but costs 1.6x as much on
    2.5M sales lines: its struct buffers force a sort-based aggregate, and the partial
    aggregate before the shuffle sorts every row only to find the keys are mostly unique.

    Rows where ``passthrough`` is true are all kept and displace no other row: rejected
    rows can ride through the same shuffle, so one pass over the input feeds both outputs.

    Example:
        >>> latest = dedupe_latest(lines, ["transaction_id", "line_number"],
        ...                        ["transaction_ts", "_source_file"])
    """
    if not keys or not order_by:
        raise ValueError("dedupe_latest needs key and order_by columns")
    missing = [c for c in [*keys, *order_by] if c not in df.columns]
    if missing:
        raise ValueError(f"dedupe_latest: columns not in frame: {', '.join(missing)}")
    newest = [F.col(c).desc_nulls_last() for c in order_by]
    partition, keep = list(keys), F.col("_dedupe_rank") == 1
    if passthrough is not None:
        # Passthrough rows rank in window partitions of their own: never first over a row
        # that competes.
        df = df.withColumn("_dedupe_passthrough", F.coalesce(passthrough, F.lit(False)))
        partition.append("_dedupe_passthrough")
        keep = keep | F.col("_dedupe_passthrough")
    latest_first = Window.partitionBy(*partition).orderBy(*newest)
    return (
        df.withColumn("_dedupe_rank", F.row_number().over(latest_first))
        .filter(keep)
        .drop("_dedupe_rank", "_dedupe_passthrough")
    )
