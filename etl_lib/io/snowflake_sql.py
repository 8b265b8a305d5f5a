"""Snowflake SQL for the warehouse adapter, generated from validated identifiers (no I/O).

Every identifier is checked against :data:`IDENTIFIER` and emitted double-quoted and
upper-cased (``"SALE_DATE"``), which is exactly how Snowflake stores an unquoted name, so
reserved words are safe and nothing else can reach the SQL text. Values are never
interpolated: a :class:`Statement` carries ``?`` placeholders and the values to bind.

Example::

    >>> target = Table.parse("CURATED.FACT_SALES", "RETAIL")
    >>> delete_where_in(target, "sale_date", ["2024-01-15"]).sql
    'DELETE FROM "RETAIL"."CURATED"."FACT_SALES" WHERE "SALE_DATE" IN (?)'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import types as T

__all__ = [
    "IDENTIFIER",
    "Column",
    "IdentifierError",
    "Statement",
    "Table",
    "columns_of",
    "count_outside",
    "create_table",
    "delete_all",
    "delete_where_in",
    "drop_table",
    "insert_from",
    "merge_upsert",
    "newer_or_equal",
    "quote",
    "schema_lookup",
    "schema_registry",
    "schema_registry_table",
    "schema_upsert",
    "snowflake_type",
    "table_columns",
    "table_exists",
    "value_kind",
]

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class IdentifierError(ValueError):
    """A table or column name that is not a plain identifier (letters, digits, _)."""


def quote(name: str, what: str = "column") -> str:
    """``name`` as a quoted upper-case Snowflake identifier, or :class:`IdentifierError`."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise IdentifierError(
            f"{what} name {name!r} is not a plain identifier (letters, digits and _, not "
            "starting with a digit): rename it before it reaches Snowflake"
        )
    return f'"{name.upper()}"'


@dataclass(frozen=True)
class Table:
    """A fully qualified Snowflake table ``DATABASE.SCHEMA.NAME`` (stored upper-case)."""

    database: str
    schema: str
    name: str

    def __post_init__(self) -> None:
        for part, what in ((self.database, "database"), (self.schema, "schema"),
                           (self.name, "table")):
            quote(part, what)
        object.__setattr__(self, "database", self.database.upper())
        object.__setattr__(self, "schema", self.schema.upper())
        object.__setattr__(self, "name", self.name.upper())

    @classmethod
    def parse(cls, table: str, database: str) -> Table:
        """``SCHEMA.NAME`` (the port's table names) in ``database``."""
        schema, dot, name = str(table).partition(".")
        if not dot or "." in name:
            raise IdentifierError(f"table name {table!r} is not SCHEMA.NAME")
        return cls(database, schema, name)

    @property
    def sql(self) -> str:
        return f"{quote(self.database)}.{quote(self.schema)}.{quote(self.name)}"

    def sibling(self, suffix: str) -> Table:
        """A table next to this one named ``<NAME>__<SUFFIX>`` (staging and work tables)."""
        return Table(self.database, self.schema, f"{self.name}__{suffix}")

    def __str__(self) -> str:
        return f"{self.database}.{self.schema}.{self.name}"


@dataclass(frozen=True)
class Statement:
    """One SQL statement and the values bound to its ``?`` placeholders, in order."""

    sql: str
    params: tuple[Any, ...] = ()


#: A column of a table to create: (name, Snowflake type).
Column = tuple[str, str]


def snowflake_type(data_type: T.DataType) -> str:
    """The Snowflake type of a Spark type (integers: NUMBER(38,0), nested values: VARIANT)."""
    if isinstance(data_type, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
        return "NUMBER(38,0)"
    if isinstance(data_type, T.DecimalType):
        return f"NUMBER({data_type.precision},{data_type.scale})"
    if isinstance(data_type, (T.FloatType, T.DoubleType)):
        return "FLOAT"
    if isinstance(data_type, T.StringType):
        return "VARCHAR"
    if isinstance(data_type, T.BooleanType):
        return "BOOLEAN"
    if isinstance(data_type, T.DateType):
        return "DATE"
    if isinstance(data_type, (T.TimestampType, T.TimestampNTZType)):
        # Jobs run with a UTC session time zone: instants are stored as UTC wall-clock time.
        return "TIMESTAMP_NTZ"
    if isinstance(data_type, T.BinaryType):
        return "BINARY"
    if isinstance(data_type, (T.ArrayType, T.MapType, T.StructType)):
        return "VARIANT"
    raise TypeError(f"no Snowflake type for Spark type {data_type.simpleString()}")


def columns_of(schema: T.StructType) -> list[Column]:
    """The (name, Snowflake type) of each field; names must be plain identifiers."""
    for field in schema.fields:
        quote(field.name)
    return [(field.name.upper(), snowflake_type(field.dataType)) for field in schema.fields]


def _names(columns: Sequence[str]) -> str:
    return ", ".join(quote(c) for c in columns)


def create_table(
    table: Table, columns: Sequence[Column], transient: bool = False, if_not_exists: bool = True
) -> Statement:
    """``CREATE [TRANSIENT] TABLE [IF NOT EXISTS]`` with the given columns."""
    if not columns:
        raise ValueError(f"cannot create {table} without columns")
    body = ", ".join(f"{quote(name)} {_checked_type(kind)}" for name, kind in columns)
    kind = "TRANSIENT TABLE" if transient else "TABLE"
    guard = " IF NOT EXISTS" if if_not_exists else ""
    return Statement(f"CREATE {kind}{guard} {table.sql} ({body})")


_TYPE = re.compile(r"^[A-Z_]+(\(\d+(,\d+)?\))?$")


def _checked_type(kind: str) -> str:
    if not _TYPE.match(kind):
        raise ValueError(f"{kind!r} is not a Snowflake column type")
    return kind


def drop_table(table: Table) -> Statement:
    return Statement(f"DROP TABLE IF EXISTS {table.sql}")


def table_exists(table: Table) -> Statement:
    """One row, one column: how many tables (0 or 1) are named ``table``."""
    return Statement(
        f"SELECT COUNT(*) FROM {quote(table.database)}.INFORMATION_SCHEMA.TABLES "
        "WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
        (table.schema, table.name),
    )


#: INFORMATION_SCHEMA's data types by the kind of value they hold. A load may convert
#: within a kind (NUMBER(12,2) into NUMBER(14,2), an integer into FLOAT), never across:
#: Snowflake would store a number as text, or text that looks numeric as a number.
_VALUE_KINDS = {
    "NUMBER": "number", "DECIMAL": "number", "FLOAT": "number", "TEXT": "text",
    "VARCHAR": "text", "BOOLEAN": "boolean", "DATE": "date", "TIMESTAMP_NTZ": "timestamp",
    "TIMESTAMP_LTZ": "timestamp", "TIMESTAMP_TZ": "timestamp", "BINARY": "binary",
    "VARIANT": "semi-structured", "OBJECT": "semi-structured", "ARRAY": "semi-structured",
}


def value_kind(data_type: str) -> str:
    """The kind of value a Snowflake type holds (``NUMBER(12,2)`` and ``FLOAT``: number);
    a type not listed is a kind of its own."""
    base = data_type.split("(")[0].strip().upper()
    return _VALUE_KINDS.get(base, base.lower())


def table_columns(table: Table) -> Statement:
    """``(name, data type)`` of each column of ``table``, in order."""
    return Statement(
        f"SELECT COLUMN_NAME, DATA_TYPE FROM {quote(table.database)}.INFORMATION_SCHEMA.COLUMNS "
        "WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION",
        (table.schema, table.name),
    )


def insert_from(target: Table, source: Table, columns: Sequence[str]) -> Statement:
    """Copy ``columns`` of every row of ``source`` into ``target``."""
    names = _names(columns)
    return Statement(f"INSERT INTO {target.sql} ({names}) SELECT {names} FROM {source.sql}")


def delete_all(target: Table) -> Statement:
    """Every row, in a statement that can share a transaction (TRUNCATE would commit first)."""
    return Statement(f"DELETE FROM {target.sql}")


def _in_list(column: str, values: Sequence[Any]) -> str:
    if not values:
        raise ValueError("an IN list needs at least one value")
    return f"{quote(column)} IN ({', '.join('?' for _ in values)})"


def delete_where_in(target: Table, column: str, values: Sequence[Any]) -> Statement:
    """Rows whose ``column`` is one of ``values`` (bound, never interpolated)."""
    return Statement(f"DELETE FROM {target.sql} WHERE {_in_list(column, values)}", tuple(values))


def count_outside(source: Table, column: str, values: Sequence[Any]) -> Statement:
    """How many rows of ``source`` have ``column`` null or not among ``values``."""
    return Statement(
        f"SELECT COUNT(*) FROM {source.sql} "
        f"WHERE {quote(column)} IS NULL OR NOT ({_in_list(column, values)})",
        tuple(values),
    )


def newer_or_equal(newer_by: Sequence[str], source: str = "s", target: str = "t") -> str:
    """``(s.a, s.b, ...) >= (t.a, t.b, ...)`` lexicographically, as the Delta adapter's condition.

    A null on either side makes a comparison unknown, so the stored row is kept.
    """
    clauses = []
    for index, column in enumerate(newer_by):
        equal_prefix = [f"{source}.{quote(c)} = {target}.{quote(c)}" for c in newer_by[:index]]
        last = index == len(newer_by) - 1
        comparison = f"{source}.{quote(column)} {'>=' if last else '>'} {target}.{quote(column)}"
        clauses.append("(" + " AND ".join([*equal_prefix, comparison]) + ")")
    return " OR ".join(clauses)


def merge_upsert(
    target: Table,
    source: Table,
    columns: Sequence[str],
    keys: Sequence[str],
    newer_by: Sequence[str] = (),
) -> Statement:
    """MERGE ``source`` into ``target`` by null-safe ``keys``: update the other columns, insert new.

    With ``newer_by`` a matched row is updated only when the source row is at least as new.
    The source is a ``(SELECT ...)`` subquery rather than an aliased table: same meaning,
    and the shape fakesnow (the local emulator) can bind.
    """
    if not keys:
        raise ValueError("merge needs at least one key column")
    missing = [c for c in (*keys, *newer_by) if c.upper() not in {n.upper() for n in columns}]
    if missing:
        raise IdentifierError(f"merge columns {missing} are not columns of the batch")
    on = " AND ".join(f"t.{quote(k)} IS NOT DISTINCT FROM s.{quote(k)}" for k in keys)
    matched = f" AND ({newer_or_equal(newer_by)})" if newer_by else ""
    # Keys are equal (null-safely) on a match: only the other columns need setting.
    key_names = {k.upper() for k in keys}
    updates = ", ".join(
        f"t.{quote(c)} = s.{quote(c)}" for c in columns if c.upper() not in key_names
    )
    names = _names(columns)
    values = ", ".join(f"s.{quote(c)}" for c in columns)
    update = f"WHEN MATCHED{matched} THEN UPDATE SET {updates} " if updates else ""
    return Statement(
        f"MERGE INTO {target.sql} t USING (SELECT {names} FROM {source.sql}) s ON {on} "
        f"{update}"
        f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({values})"
    )


#: Where the adapter records the Spark schema each table was last written with, so reads
#: give back Spark's types (LONG not NUMBER(38,0), MAP / ARRAY / STRUCT not JSON text).
SCHEMA_REGISTRY = ("METADATA", "SPARK_SCHEMAS")


def schema_registry_table(database: str) -> Table:
    return Table(database, *SCHEMA_REGISTRY)


def schema_registry(registry: Table) -> Statement:
    """Create the registry: one row per table, its Spark schema as JSON."""
    return Statement(
        f"CREATE TABLE IF NOT EXISTS {registry.sql} (TABLE_NAME VARCHAR NOT NULL, "
        "SPARK_SCHEMA VARCHAR NOT NULL, UPDATED_AT TIMESTAMP_NTZ, "
        "CONSTRAINT PK_SPARK_SCHEMAS PRIMARY KEY (TABLE_NAME)) "
        "COMMENT = 'Spark schema each table was last written with (etl_lib.io.snowflake)'"
    )


def schema_lookup(registry: Table, table: Table) -> Statement:
    return Statement(
        f"SELECT SPARK_SCHEMA FROM {registry.sql} WHERE TABLE_NAME = ?",
        (f"{table.schema}.{table.name}",),
    )


def schema_upsert(registry: Table, table: Table, schema_json: str) -> Statement:
    """Record ``schema_json`` for ``table`` (values bound)."""
    return Statement(
        f"MERGE INTO {registry.sql} t USING (SELECT ? AS TABLE_NAME, ? AS SPARK_SCHEMA) s "
        "ON t.TABLE_NAME = s.TABLE_NAME "
        "WHEN MATCHED THEN UPDATE SET t.SPARK_SCHEMA = s.SPARK_SCHEMA, "
        "t.UPDATED_AT = CURRENT_TIMESTAMP() "
        "WHEN NOT MATCHED THEN INSERT (TABLE_NAME, SPARK_SCHEMA, UPDATED_AT) "
        "VALUES (s.TABLE_NAME, s.SPARK_SCHEMA, CURRENT_TIMESTAMP())",
        (f"{table.schema}.{table.name}", schema_json),
    )
