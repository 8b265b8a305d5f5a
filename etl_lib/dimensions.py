"""Dimension helpers: the "unknown" member and SCD1 upserts that never regress."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from etl_lib.io.warehouse import Warehouse, WriteResult
from etl_lib.joins import UNKNOWN_KEY

__all__ = ["UNKNOWN_LABEL", "date_key", "unknown_member", "with_unknown_member", "upsert_scd1"]

UNKNOWN_LABEL = "Unknown"


def date_key(day: Column | str) -> Column:
    """DIM_DATE's key of a date: the int yyyymmdd (null for a null date).

    Arithmetic, not ``date_format``: formatting a date as text costs a formatter per row.
    """
    return F.year(day) * 10000 + F.month(day) * 100 + F.dayofmonth(day)


def unknown_member(dimension: DataFrame, key_column: str, natural_key: str) -> DataFrame:
    """One row shaped like ``dimension``: key -1, natural key null, text 'Unknown', rest null."""
    columns = []
    for field in dimension.schema.fields:
        if field.name == key_column:
            value = F.lit(UNKNOWN_KEY)
        elif field.name != natural_key and isinstance(field.dataType, StringType):
            value = F.lit(UNKNOWN_LABEL)
        else:
            value = F.lit(None)
        columns.append(value.cast(field.dataType).alias(field.name))
    return dimension.sparkSession.range(1).select(*columns)


def with_unknown_member(dimension: DataFrame, key_column: str, natural_key: str) -> DataFrame:
    """``dimension`` plus its unknown member (facts whose key no member knows point there)."""
    return dimension.unionByName(unknown_member(dimension, key_column, natural_key))


def upsert_scd1(
    warehouse: Warehouse,
    rows: DataFrame,
    table: str,
    key_column: str,
    natural_key: str,
    newer_by: Sequence[str],
) -> WriteResult:
    """Type-1 upsert of one row per natural key, plus the unknown member.

    A stored member is overwritten only by a row at least as new by ``newer_by``, so
    re-running an old day never regresses a dimension; re-running the same day is a no-op.
    """
    return warehouse.merge(
        with_unknown_member(rows, key_column, natural_key),
        table,
        keys=[natural_key],
        newer_by=newer_by,
    )
