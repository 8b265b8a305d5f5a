"""Column-level cleansing: trimming, case, parsing of the contract's formats, defaults.

Parsers return null for text that does not parse (never a guess), so a validation rule
can turn "raw value present but parsed value null" into a rejection reason.
"""

from __future__ import annotations

from collections.abc import Iterable

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

__all__ = [
    "TIMESTAMP_FORMATS",
    "blank_to_null",
    "normalize_text",
    "parse_date",
    "parse_decimal",
    "parse_int",
    "parse_timestamp",
    "trim_strings",
]

#: ISO-8601 as the contract allows it: ``T`` or space, optional fraction, optional zone
#: (``Z`` or ``+02:00``). A value with a zone is converted to UTC; one without is UTC.
TIMESTAMP_FORMATS = (
    "yyyy-MM-dd'T'HH:mm:ss[.SSSSSS][XXX]",
    "yyyy-MM-dd HH:mm:ss[.SSSSSS][XXX]",
    "yyyy-MM-dd'T'HH:mm[XXX]",
)

_INTEGER = r"^[+-]?[0-9]+$"
_DECIMAL = r"^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)$"


def blank_to_null(column: Column) -> Column:
    """Trim ``column``; an empty result becomes null."""
    trimmed = F.trim(column)
    return F.when(trimmed == "", None).otherwise(trimmed)


def trim_strings(df: DataFrame, columns: Iterable[str] | None = None) -> DataFrame:
    """Trim the given (default: all) string columns and turn empty strings into nulls."""
    names = list(columns) if columns is not None else [
        f.name for f in df.schema.fields if isinstance(f.dataType, StringType)
    ]
    return df.withColumns({name: blank_to_null(F.col(name)) for name in names})


def normalize_text(column: Column, case: str = "lower", collapse_spaces: bool = True) -> Column:
    """Trim, optionally collapse inner whitespace, and change case (lower/upper/title)."""
    text = F.trim(column)
    if collapse_spaces:
        text = F.regexp_replace(text, r"\s+", " ")
    cased = {"lower": F.lower, "upper": F.upper, "title": F.initcap}[case](text)
    return F.when(cased == "", None).otherwise(cased)


def parse_timestamp(column: Column, formats: Iterable[str] = TIMESTAMP_FORMATS) -> Column:
    """Parse text in any of ``formats`` into a UTC timestamp; null if none matches."""
    text = F.trim(column)
    return F.coalesce(*[F.to_timestamp(text, fmt) for fmt in formats])


def parse_date(column: Column, fmt: str = "yyyy-MM-dd") -> Column:
    """Parse text as a date in ``fmt``; null if it does not match."""
    return F.to_date(F.trim(column), fmt)


def parse_int(column: Column) -> Column:
    """Parse whole-number text into an int; null for ``1.5``, ``abc`` or out-of-range."""
    text = F.trim(column)
    return F.when(text.rlike(_INTEGER), text.cast("long")).cast("int")


def parse_decimal(column: Column, precision: int = 12, scale: int = 2) -> Column:
    """Parse plain decimal text into ``decimal(precision, scale)``; null if it is not one."""
    text = F.trim(column)
    return F.when(text.rlike(_DECIMAL), text.cast(f"decimal({precision},{scale})"))
