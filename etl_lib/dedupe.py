"""Keep the latest row per business key."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

__all__ = ["dedupe_latest"]


def dedupe_latest(df: DataFrame, keys: Sequence[str], order_by: Sequence[str]) -> DataFrame:
    """One row per ``keys``: the one with the greatest ``order_by`` tuple.

    ``order_by`` is compared left to right (e.g. ``["event_ts", "source_file"]``: latest
    timestamp, ties broken by the later file). Implemented as one aggregate of
    ``max_by(row, order)`` per key: a hash shuffle on the keys, no global sort.

    Example:
        >>> latest = dedupe_latest(lines, ["transaction_id", "line_number"],
        ...                        ["transaction_ts", "_source_file"])
    """
    if not keys or not order_by:
        raise ValueError("dedupe_latest needs key and order_by columns")
    missing = [c for c in [*keys, *order_by] if c not in df.columns]
    if missing:
        raise ValueError(f"dedupe_latest: columns not in frame: {', '.join(missing)}")
    values = [c for c in df.columns if c not in keys]
    latest = (
        df.groupBy(*keys)
        .agg(F.max_by(F.struct(*values), F.struct(*order_by)).alias("_latest"))
        .select(*keys, "_latest.*")
    )
    return latest.select(*df.columns)
