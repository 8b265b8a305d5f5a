"""Snowflake SQL for ``apply_changes``: the steps of :mod:`etl_lib.scd`, statement by statement.

The contract is ``docs/history.md``; each function below names the step of
:mod:`etl_lib.scd` it mirrors, so the two stay comparable line by line. The batch arrives
as *events* already (:func:`etl_lib.scd.change_events` ran in Spark, so
``apply_as_deletes`` is evaluated by Spark and never becomes Snowflake SQL). Tables:

* ``batch``: the events of the batch (keys, ``_SEQUENCE``, ``_CDC_KIND`` U/D, values);
* ``target`` and ``tombstones`` (``<NAME>__TOMBSTONES``, when deletes are applied);
* work tables: ``events`` (one event per key and sequence), ``rows`` (what the touched keys
  hold afterwards, target layout) and ``graves`` (their tombstones afterwards).

Identifiers are validated and quoted by :func:`snowflake_sql.quote`; nothing is bound
because nothing but identifiers varies.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from pyspark.sql import types as T

from etl_lib.io.snowflake_sql import Column, Statement, Table, quote, snowflake_type
from etl_lib.scd import (
    DELETE,
    IS_CURRENT,
    SEQUENCE,
    STORED,
    UPSERT,
    VALID_FROM,
    VALID_TO,
    ChangeLayout,
)

__all__ = [
    "ChangeTables", "ChangeSql", "VERSION_KEY_FUNCTION", "target_schema", "tombstones_schema",
]

KIND, ORIGIN = "_CDC_KIND", "_CDC_ORIGIN"
#: The Python UDF computing XXH64 (seed 42) of a version's text, created by
#: deploy/snowflake/25_functions.sql in the CURATED schema of the warehouse's database.
VERSION_KEY_FUNCTION = ("CURATED", "SCD_VERSION_KEY")


def target_schema(layout: ChangeLayout, schema: T.StructType) -> T.StructType:
    """The target's columns (``layout.target_columns`` order) with the Spark types they hold."""
    sequence = layout.sequence_type
    kinds = {c: schema[c].dataType for c in (*layout.keys, *layout.values)}
    kinds.update({VALID_FROM: sequence, VALID_TO: sequence, SEQUENCE: sequence,
                  IS_CURRENT: T.BooleanType()})
    if layout.surrogate_key:
        kinds[layout.surrogate_key] = T.LongType()
    return T.StructType([T.StructField(c, kinds[c]) for c in layout.target_columns])


def tombstones_schema(layout: ChangeLayout, schema: T.StructType) -> T.StructType:
    """``<NAME>__TOMBSTONES``: the keys and the sequence of their latest delete."""
    fields = [T.StructField(k, schema[k].dataType) for k in layout.keys]
    return T.StructType([*fields, T.StructField(SEQUENCE, layout.sequence_type)])


@dataclass(frozen=True)
class ChangeTables:
    """Where one ``apply_changes`` reads and writes."""

    batch: Table
    target: Table
    tombstones: Table | None
    events: Table
    rows: Table
    graves: Table | None


class ChangeSql:
    """The statements of one ``apply_changes`` call for a resolved :class:`ChangeLayout`."""

    def __init__(self, layout: ChangeLayout, tables: ChangeTables, schema: T.StructType) -> None:
        """``schema`` is the change rows' schema (types of keys, values and sequence)."""
        self.layout = layout
        self.tables = tables
        self.schema = schema
        self.keys = [quote(k) for k in layout.keys]
        self.values = [quote(v) for v in layout.values]
        self.seq = quote(SEQUENCE)

    # -- tables --------------------------------------------------------------------

    def key_columns(self) -> list[Column]:
        """Keys + ``_SEQUENCE`` with their Snowflake types (tombstones, graves)."""
        columns = [(k.upper(), snowflake_type(self.schema[k].dataType)) for k in self.layout.keys]
        return [*columns, (SEQUENCE.upper(), snowflake_type(self.layout.sequence_type))]

    def event_columns(self) -> list[Column]:
        """The columns of the ``events`` work table."""
        values = [(v.upper(), snowflake_type(self.schema[v].dataType)) for v in self.layout.values]
        return [*self.key_columns(), (KIND, "VARCHAR"), (ORIGIN, "NUMBER(1,0)"), *values]

    # -- checks --------------------------------------------------------------------

    def null_keys(self) -> Statement:
        """How many batch rows have a null key or sequence (``cdc._check_not_null``)."""
        nulls = " OR ".join(f"{c} IS NULL" for c in [*self.keys, self.seq])
        return Statement(f"SELECT COUNT(*) FROM {self.tables.batch.sql} WHERE {nulls}")

    # -- step 1-3: events, one per (keys, sequence) ----------------------------------

    def insert_events(self) -> Statement:
        """Batch events + stored history as events, one kept per (keys, seq).

        Mirrors ``stored_events``, ``tombstone_events`` and ``one_event_per_sequence``:
        stored events win, then a delete, then the greatest row (nulls lowest).
        """
        t = self.tables
        keys, values = ", ".join(self.keys), ", ".join(self.values)
        nulls = ", ".join(f"NULL AS {v}" for v in self.values)
        parts = [
            f"SELECT {keys}, {self.seq}, {KIND}, 0 AS {ORIGIN}{_lead(values)} FROM {t.batch.sql}"
        ]
        stored = f"{t.target.sql} s JOIN touched k ON {self._on('s', 'k')}"
        s_keys = ", ".join(f"s.{k}" for k in self.keys)
        s_values = _lead(", ".join(f"s.{v}" for v in self.values))
        if self.layout.scd_type == 1:
            parts.append(f"SELECT {s_keys}, s.{self.seq}, '{STORED}', 1{s_values} FROM {stored}")
        else:
            vf, vt = quote(VALID_FROM), quote(VALID_TO)
            parts.append(f"SELECT {s_keys}, s.{vf}, '{STORED}', 1{s_values} FROM {stored}")
            parts.append(
                f"SELECT {s_keys}, s.{self.seq}, '{STORED}', 1{s_values} FROM {stored} "
                f"WHERE s.{self.seq} <> s.{vf}"
            )
            following = f"LEAD(s.{vf}) OVER (PARTITION BY {s_keys} ORDER BY s.{vf})"
            parts.append(
                f"SELECT {keys}, {vt}, '{DELETE}', 1{_lead(nulls)} FROM ("
                f"SELECT {s_keys}, s.{vt}, {following} AS _CDC_FOLLOWING FROM {stored}) "
                f"WHERE {vt} IS NOT NULL AND (_CDC_FOLLOWING IS NULL OR _CDC_FOLLOWING <> {vt})"
            )
        if t.tombstones is not None:
            g_keys = ", ".join(f"g.{k}" for k in self.keys)
            parts.append(
                f"SELECT {g_keys}, g.{self.seq}, '{DELETE}', 1{_lead(nulls)} "
                f"FROM {t.tombstones.sql} g JOIN touched k ON {self._on('g', 'k')}"
            )
        rank = ", ".join(
            [f"{ORIGIN} DESC", f"IFF({KIND} = '{DELETE}', 1, 0) DESC",
             *[f"{v} DESC NULLS LAST" for v in self.values]]
        )
        columns = f"{keys}, {self.seq}, {KIND}, {ORIGIN}{_lead(values)}"
        union = " UNION ALL ".join(parts)
        return Statement(
            f"INSERT INTO {t.events.sql} ({columns}) "
            f"WITH touched AS (SELECT DISTINCT {keys} FROM {t.batch.sql}) "
            f"SELECT {columns} FROM ({union}) "
            f"QUALIFY ROW_NUMBER() OVER (PARTITION BY {keys}, {self.seq} ORDER BY {rank}) = 1"
        )

    # -- step 4/5: fold ------------------------------------------------------------

    def insert_rows(self, ignore_null_updates: bool, version_key: str | None = None) -> Statement:
        """What the touched keys hold afterwards (``fold_scd1`` / ``fold_scd2``).

        ``version_key``: the qualified name of the surrogate key UDF (SCD2 with a key).
        """
        if self.layout.scd_type == 1:
            return self._fold_scd1(ignore_null_updates)
        return self._fold_scd2(ignore_null_updates, version_key)

    def _fold_scd1(self, ignore_null_updates: bool) -> Statement:
        keys = ", ".join(self.keys)
        resets = [STORED, DELETE] if ignore_null_updates else [STORED, DELETE, UPSERT]
        barrier = (
            f"MAX(CASE WHEN {KIND} IN ({_literals(resets)}) THEN {self.seq} END) "
            f"OVER (PARTITION BY {keys})"
        )
        live = f"({KIND} <> '{DELETE}' AND (_CDC_BARRIER IS NULL OR {self.seq} >= _CDC_BARRIER))"

        def value(column: str) -> str:
            counts = f"_CDC_LIVE AND {column} IS NOT NULL" if ignore_null_updates else "_CDC_LIVE"
            return (
                f"FIRST_VALUE(CASE WHEN {counts} THEN {column} END) OVER (PARTITION BY {keys} "
                f"ORDER BY CASE WHEN {counts} THEN {self.seq} END DESC NULLS LAST) AS {column}"
            )

        folded = ", ".join([*self.keys, *[value(v) for v in self.values], self.seq, KIND])
        out = ", ".join([*self.keys, *self.values, self.seq])
        return Statement(
            f"INSERT INTO {self.tables.rows.sql} ({out}) "
            f"WITH marked AS (SELECT *, {barrier} AS _CDC_BARRIER FROM {self.tables.events.sql}), "
            f"lived AS (SELECT *, {live} AS _CDC_LIVE FROM marked), "
            f"folded AS (SELECT {folded} FROM lived "
            f"QUALIFY ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY {self.seq} DESC) = 1) "
            f"SELECT {out} FROM folded WHERE {KIND} <> '{DELETE}'"
        )

    def _fold_scd2(self, ignore_null_updates: bool, version_key: str | None) -> Statement:
        keys, seq = ", ".join(self.keys), self.seq
        ordered = f"PARTITION BY {keys} ORDER BY {seq}"
        so_far = f"{ordered} ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
        live = f"{KIND} <> '{DELETE}'"
        barrier = (
            f"LAST_VALUE(CASE WHEN {KIND} IN ({_literals([STORED, DELETE])}) THEN {seq} END) "
            f"IGNORE NULLS OVER ({so_far}) AS _CDC_BARRIER"
        )
        helpers, stated = [barrier], []
        for index, column in enumerate(self.values):
            if not ignore_null_updates:
                stated.append(column)
                continue
            given = f"{live} AND {column} IS NOT NULL"
            helpers.append(
                f"LAST_VALUE(CASE WHEN {given} THEN {seq} END) IGNORE NULLS OVER ({so_far}) "
                f"AS _CDC_SINCE_{index}"
            )
            helpers.append(
                f"LAST_VALUE(CASE WHEN {given} THEN {column} END) IGNORE NULLS OVER ({so_far}) "
                f"AS _CDC_LATEST_{index}"
            )
            stated.append(
                f"CASE WHEN {live} AND (_CDC_BARRIER IS NULL "
                f"OR _CDC_SINCE_{index} >= _CDC_BARRIER) THEN _CDC_LATEST_{index} END AS {column}"
            )
        tracked = [quote(c) for c in self.layout.tracked]
        changed = " OR ".join(
            f"NOT ({c} IS NOT DISTINCT FROM LAG({c}) OVER ({ordered}))" for c in tracked
        ) or "FALSE"
        opens = f"_CDC_LIVE AND (NOT COALESCE(LAG(_CDC_LIVE) OVER ({ordered}), FALSE) OR {changed})"
        vf, vt, current = quote(VALID_FROM), quote(VALID_TO), quote(IS_CURRENT)
        values = _lead(", ".join(self.values))
        version = f"PARTITION BY {keys}, _CDC_VERSION"
        out = [*self.keys, *self.values, vf, vt, current, seq]
        select = [*self.keys, *self.values, vf, vt, f"{vt} IS NULL AS {current}", seq]
        if self.layout.surrogate_key:
            if version_key is None:
                raise ValueError("an SCD2 surrogate key needs the version key function's name")
            out.insert(0, quote(self.layout.surrogate_key))
            select.insert(0, self._surrogate_key(version_key))
        return Statement(
            f"INSERT INTO {self.tables.rows.sql} ({', '.join(out)}) "
            f"WITH helped AS (SELECT *, {', '.join(helpers)} FROM {self.tables.events.sql}), "
            f"stated AS (SELECT {keys}, {seq}, {live} AS _CDC_LIVE"
            f"{_lead(', '.join(stated))} FROM helped), "
            f"marked AS (SELECT *, {opens} AS _CDC_OPENS, "
            f"LEAD({seq}) OVER ({ordered}) AS _CDC_NEXT FROM stated), "
            f"numbered AS (SELECT *, SUM(IFF(_CDC_OPENS, 1, 0)) OVER ({so_far}) AS _CDC_VERSION "
            f"FROM marked), "
            f"versions AS (SELECT {keys}{values}, MIN({seq}) OVER ({version}) AS {vf}, "
            f"_CDC_NEXT AS {vt}, {seq} FROM numbered WHERE _CDC_LIVE "
            f"QUALIFY ROW_NUMBER() OVER ({version} ORDER BY {seq} DESC) = 1) "
            f"SELECT {', '.join(select)} FROM versions"
        )

    def _surrogate_key(self, function: str) -> str:
        """``scd.version_key`` in SQL: the UDF's XXH64 of keys and valid_from as text, -1 -> -2."""
        parts = [_as_text(quote(k), self.schema[k].dataType) for k in self.layout.keys]
        parts.append(_as_text(quote(VALID_FROM), self.layout.sequence_type))
        text = " || CHR(31) || ".join(parts)
        hashed = f"{function}({text})"
        return f"IFF({hashed} = -1, -2, {hashed}) AS {quote(self.layout.surrogate_key or '')}"

    # -- step 6: tombstones ----------------------------------------------------------

    def insert_graves(self) -> Statement:
        """Keys whose latest event is a delete, at that sequence (``latest_deletes``)."""
        assert self.tables.graves is not None
        keys = ", ".join(self.keys)
        return Statement(
            f"INSERT INTO {self.tables.graves.sql} ({keys}, {self.seq}) "
            f"SELECT {keys}, {self.seq} FROM (SELECT {keys}, {self.seq}, {KIND} "
            f"FROM {self.tables.events.sql} "
            f"QUALIFY ROW_NUMBER() OVER (PARTITION BY {keys} ORDER BY {self.seq} DESC) = 1) "
            f"WHERE {KIND} = '{DELETE}'"
        )

    # -- step 7: write ---------------------------------------------------------------

    def counts(self) -> Statement:
        """Rows inserted / updated / deleted, as the Delta MERGE of ``cdc._merge_target`` counts
        them: matched on keys (SCD2: + valid_from), updated when any other column differs."""
        match = list(self.keys) if self.layout.scd_type == 1 else [*self.keys, quote(VALID_FROM)]
        others = [quote(c) for c in self.layout.target_columns if quote(c) not in match]
        on = " AND ".join(f"o.{m} = n.{m}" for m in match)
        differs = " OR ".join(f"NOT (o.{c} IS NOT DISTINCT FROM n.{c})" for c in others) or "FALSE"
        first = match[0]
        t = self.tables
        return Statement(
            f"WITH touched AS (SELECT DISTINCT {', '.join(self.keys)} FROM {t.batch.sql}), "
            f"old AS (SELECT s.* FROM {t.target.sql} s JOIN touched k ON {self._on('s', 'k')}) "
            f"SELECT COUNT_IF(o.{first} IS NULL) AS \"number of rows inserted\", "
            f"COUNT_IF(o.{first} IS NOT NULL AND n.{first} IS NOT NULL AND ({differs})) "
            f"AS \"number of rows updated\", "
            f"COUNT_IF(n.{first} IS NULL) AS \"number of rows deleted\" "
            f"FROM old o FULL OUTER JOIN {t.rows.sql} n ON {on}"
        )

    def delete_touched(self, table: Table) -> Statement:
        """Every row of ``table`` whose keys the batch touches (null keys never match)."""
        keys = ", ".join(self.keys)
        return Statement(
            f"DELETE FROM {table.sql} d "
            f"USING (SELECT DISTINCT {keys} FROM {self.tables.batch.sql}) k "
            f"WHERE {self._on('d', 'k')}"
        )

    def _on(self, left: str, right: str) -> str:
        return " AND ".join(f"{left}.{k} = {right}.{k}" for k in self.keys)


def _lead(text: str) -> str:
    """``, text`` or nothing (for column lists that may be empty)."""
    return f", {text}" if text else ""


def _literals(values: Sequence[str]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _as_text(column: str, data_type: T.DataType) -> str:
    """``scd.sequence_text`` / ``CAST(k AS STRING)`` as Snowflake text of the same characters."""
    if isinstance(data_type, (T.TimestampType, T.TimestampNTZType)):
        return f"TO_VARCHAR({column}, 'YYYY-MM-DD\"T\"HH24:MI:SS.FF6')"
    if isinstance(data_type, T.DateType):
        return f"TO_VARCHAR({column}, 'YYYY-MM-DD')"
    if isinstance(data_type, (T.StringType, T.ByteType, T.ShortType, T.IntegerType, T.LongType,
                              T.DecimalType, T.BooleanType)):
        return f"TO_VARCHAR({column})"
    raise TypeError(
        f"surrogate keys over a {data_type.simpleString()} column are not supported by the "
        "Snowflake adapter (use string, integer, decimal, boolean, date or timestamp)"
    )
