"""``apply_changes`` on Snowflake: the Delta adapter's contract (docs/history.md) in SQL.

Spark turns the change rows into events (:func:`etl_lib.scd.change_events`: the same
code the Delta adapter runs, so ``apply_as_deletes`` keeps Spark's meaning) and loads
them into a staging table; :class:`~etl_lib.io.snowflake_scd.ChangeSql` then folds them
with the stored history in Snowflake. The target and its tombstones
(``<NAME>__TOMBSTONES``) change in **one transaction**: the touched keys' rows are
replaced (DELETE + INSERT), so readers see the whole batch or none of it, and a batch
that changes nothing leaves the target untouched. Row counts are those the Delta
adapter's MERGE reports.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from pyspark.sql import DataFrame

from etl_lib.changes import ChangeSpec
from etl_lib.io import snowflake_sql as sql
from etl_lib.io.snowflake_scd import (
    VERSION_KEY_FUNCTION,
    ChangeSql,
    ChangeTables,
    target_schema,
    tombstones_schema,
)
from etl_lib.io.snowflake_session import SqlSession, transaction
from etl_lib.io.snowflake_sql import Table
from etl_lib.io.warehouse import WriteResult
from etl_lib.scd import ORIGIN, ChangesInputError, change_events, resolve_layout

__all__ = ["TOMBSTONES_SUFFIX", "TargetMismatchError", "apply_changes"]

#: As in :mod:`etl_lib.cdc`: tombstones of ``SCHEMA.NAME`` live in ``SCHEMA.NAME__TOMBSTONES``.
TOMBSTONES_SUFFIX = "TOMBSTONES"


class TargetMismatchError(ValueError):
    """The existing target table does not have the columns this spec writes."""


def apply_changes(warehouse, changes: DataFrame, table: str, spec: ChangeSpec) -> WriteResult:
    """Apply a batch of change rows to the Snowflake table ``table`` (created if missing).

    ``warehouse`` is the :class:`~etl_lib.io.snowflake.SnowflakeWarehouse` calling.

    Raises:
        ChangesInputError: a spec column is missing, or a key or sequence is null.
        TargetMismatchError: ``table`` exists with other columns than the spec writes.
    """
    layout = resolve_layout(spec, changes.schema)
    events = change_events(changes, spec, layout).drop(ORIGIN)
    target = warehouse.table_ref(table)
    graves = target.sibling(TOMBSTONES_SUFFIX) if spec.apply_as_deletes else None
    token = uuid.uuid4().hex[:12].upper()
    schema = target_schema(layout, changes.schema)
    with warehouse.staged(events, target, target_schema=schema) as batch:
        statements = ChangeSql(layout, _tables(batch.table, target, graves, token), changes.schema)
        session = batch.session
        _check_target(session, target, layout.target_columns, table)
        nulls = session.run(statements.null_keys()).scalar()
        if nulls:
            raise ChangesInputError(
                f"apply_changes: {nulls} change row(s) have a null key or {spec.sequence_by} "
                "(reject such rows before applying changes)"
            )
        if graves is not None:
            session.run(sql.create_table(graves, statements.key_columns()))
        with _work_tables(session, statements) as tables:
            version_key = ".".join([warehouse.database, *VERSION_KEY_FUNCTION])
            session.run(statements.insert_events())
            session.run(statements.insert_rows(spec.ignore_null_updates, version_key))
            if tables.graves is not None:
                session.run(statements.insert_graves())
            counts = session.run(statements.counts()).dml_counts()
            with transaction(session):
                if graves is not None and tables.graves is not None:
                    session.run(statements.delete_touched(graves))
                    names = _names(statements.key_columns())
                    session.run(sql.insert_from(graves, tables.graves, names))
                if any(counts.values()):
                    session.run(statements.delete_touched(target))
                    columns = [c.upper() for c in layout.target_columns]
                    session.run(sql.insert_from(target, tables.rows, columns))
            warehouse.remember_schema(session, target, schema)
            if graves is not None:
                graves_schema = tombstones_schema(layout, changes.schema)
                warehouse.remember_schema(session, graves, graves_schema)
    return WriteResult(
        table.upper(),
        rows_inserted=counts.get("inserted", 0),
        rows_updated=counts.get("updated", 0),
        rows_deleted=counts.get("deleted", 0),
    )


def _tables(batch: Table, target: Table, graves: Table | None, token: str) -> ChangeTables:
    return ChangeTables(
        batch=batch,
        target=target,
        tombstones=graves,
        events=target.sibling(f"CDC_EVENTS_{token}"),
        rows=target.sibling(f"CDC_ROWS_{token}"),
        graves=target.sibling(f"CDC_GRAVES_{token}") if graves is not None else None,
    )


@contextlib.contextmanager
def _work_tables(session: SqlSession, statements: ChangeSql) -> Iterator[ChangeTables]:
    """Create the transient work tables of one call; drop them whatever happens."""
    tables = statements.tables
    target_columns = sql.columns_of(target_schema(statements.layout, statements.schema))
    created: list[Table] = []
    try:
        for table, columns in (
            (tables.events, statements.event_columns()),
            (tables.rows, target_columns),
            (tables.graves, statements.key_columns()),
        ):
            if table is not None:
                session.run(sql.create_table(table, columns, transient=True, if_not_exists=False))
                created.append(table)
        yield tables
    finally:
        for table in created:
            with contextlib.suppress(Exception):  # never hide the error that got us here
                session.run(sql.drop_table(table))


def _check_target(
    session: SqlSession, target: Table, expected: tuple[str, ...], table: str
) -> None:
    actual = [row[0].upper() for row in session.run(sql.table_columns(target)).rows]
    wanted = [c.upper() for c in expected]
    missing = [c for c in wanted if c not in actual]
    extra = [c for c in actual if c not in wanted]
    if missing or extra:
        raise TargetMismatchError(
            f"{table} does not have the columns this ChangeSpec writes: "
            f"missing {missing or 'none'}, unexpected {extra or 'none'} "
            "(was it created with another SCD type or column list?)"
        )


def _names(columns: list[sql.Column]) -> list[str]:
    return [name for name, _ in columns]
