"""Dimension lookups: link rows to surrogate keys, with an unknown member for misses."""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

__all__ = ["UNKNOWN_KEY", "lookup_key", "surrogate_key"]

#: The surrogate key of every dimension's "unknown" member.
UNKNOWN_KEY = -1


def surrogate_key(*columns: str):
    """A stable 64-bit surrogate key from natural-key columns (no sort, no lookup table).

    xxhash64 over the values; the same natural key always gets the same key, on any run
    and any engine that implements xxhash64 the same way. Never equals UNKNOWN_KEY.
    """
    hashed = F.xxhash64(*[F.col(c).cast("string") for c in columns])
    return F.when(hashed == UNKNOWN_KEY, F.lit(-2).cast("long")).otherwise(hashed)


def lookup_key(
    facts: DataFrame,
    dimension: DataFrame,
    natural_key: str,
    key_column: str,
    dimension_natural_key: str | None = None,
    broadcast: bool = True,
) -> DataFrame:
    """Add ``key_column`` to ``facts`` from ``dimension``; unmatched rows get UNKNOWN_KEY.

    ``dimension`` must hold one row per natural key. It is broadcast by default
    (dimensions are small next to facts). Rows whose natural key is null also get
    UNKNOWN_KEY. No fact row is ever dropped or duplicated.
    """
    dim_key = dimension_natural_key or natural_key
    lookup = dimension.select(
        F.col(dim_key).alias("_lookup_natural_key"), F.col(key_column).alias("_lookup_key")
    )
    if broadcast:
        lookup = F.broadcast(lookup)
    joined = facts.join(lookup, facts[natural_key] == lookup["_lookup_natural_key"], "left")
    return joined.withColumn(
        key_column, F.coalesce(F.col("_lookup_key"), F.lit(UNKNOWN_KEY).cast("long"))
    ).drop("_lookup_natural_key", "_lookup_key")
