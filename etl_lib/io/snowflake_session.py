"""Run generated Snowflake SQL: one small interface, two drivers.

:class:`JdbcSession` drives the JDBC connection the spark-snowflake connector opens
(``Utils.getJDBCConnection``), so production SQL runs with the connector's own
authentication; :class:`DbApiSession` drives snowflake-connector-python (or fakesnow,
which emulates it). Both bind ``?`` parameters and return a :class:`Result`, so the same
statements run on a real account and on the local emulator.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from etl_lib.io.snowflake_sql import Statement

__all__ = ["DbApiSession", "JdbcSession", "Result", "SqlSession", "transaction"]


@dataclass(frozen=True)
class Result:
    """What a statement returned: column names (as Snowflake reports them) and rows."""

    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def scalar(self) -> Any:
        """The first column of the first row (None when there is no row)."""
        return self.rows[0][0] if self.rows and self.rows[0] else None

    def dml_counts(self) -> dict[str, int]:
        """``{"inserted": n, "updated": n, "deleted": n}`` from a DML result row.

        Snowflake answers INSERT, UPDATE, DELETE and MERGE with one row whose columns are
        named ``number of rows inserted`` / ``updated`` / ``deleted``.
        """
        if not self.rows:
            return {}
        counts = {}
        for name, value in zip(self.columns, self.rows[0]):
            words = name.lower().split()
            if words[:3] == ["number", "of", "rows"] and len(words) == 4 and value is not None:
                counts[words[3]] = int(value)
        return counts


class SqlSession(Protocol):
    """An open connection that runs one statement at a time."""

    def run(self, statement: Statement) -> Result: ...

    def close(self) -> None: ...


@contextlib.contextmanager
def transaction(session: SqlSession) -> Iterator[SqlSession]:
    """``BEGIN`` ... ``COMMIT``, or ``ROLLBACK`` and re-raise when the block fails.

    Only DML belongs inside: in Snowflake a DDL statement commits the open transaction.
    """
    session.run(Statement("BEGIN"))
    try:
        yield session
    except BaseException:
        session.run(Statement("ROLLBACK"))
        raise
    session.run(Statement("COMMIT"))


class DbApiSession:
    """A DB-API connection of snowflake-connector-python opened with ``paramstyle="qmark"``."""

    def __init__(self, connection: Any) -> None:
        self.connection = connection

    def run(self, statement: Statement) -> Result:
        cursor = self.connection.cursor()
        try:
            cursor.execute(statement.sql, statement.params or None)
            columns = tuple(d[0] for d in cursor.description or ())
            rows = [tuple(r) for r in cursor.fetchall()] if columns else []
            return Result(columns, rows)
        finally:
            cursor.close()

    def close(self) -> None:
        self.connection.close()


class JdbcSession:
    """A ``java.sql.Connection`` reached through py4j (the driver-side JVM of Spark)."""

    def __init__(self, jvm: Any, connection: Any) -> None:
        self.jvm = jvm
        self.connection = connection

    def run(self, statement: Statement) -> Result:
        prepared = self.connection.prepareStatement(statement.sql)
        try:
            for index, value in enumerate(statement.params, start=1):
                self._bind(prepared, index, value)
            # Snowflake answers every statement with a result set (DML: the row counts by
            # kind, DDL: a status line); execute() would keep only the summed update count.
            return self._read(prepared.executeQuery())
        finally:
            prepared.close()

    def close(self) -> None:
        self.connection.close()

    def _bind(self, prepared: Any, index: int, value: Any) -> None:
        jvm = self.jvm
        if value is None:
            prepared.setNull(index, jvm.java.sql.Types.VARCHAR)
        elif isinstance(value, bool):
            prepared.setBoolean(index, value)
        elif isinstance(value, int):
            prepared.setLong(index, value)
        elif isinstance(value, float):
            prepared.setDouble(index, value)
        elif isinstance(value, Decimal):
            prepared.setBigDecimal(index, jvm.java.math.BigDecimal(str(value)))
        elif isinstance(value, dt.datetime):
            text = value.replace(tzinfo=None).isoformat(sep=" ")
            prepared.setTimestamp(index, jvm.java.sql.Timestamp.valueOf(text))
        elif isinstance(value, dt.date):
            prepared.setDate(index, jvm.java.sql.Date.valueOf(value.isoformat()))
        elif isinstance(value, str):
            prepared.setString(index, value)
        else:
            raise TypeError(f"cannot bind a {type(value).__name__} to a Snowflake statement")

    @staticmethod
    def _read(result_set: Any) -> Result:
        meta = result_set.getMetaData()
        width = meta.getColumnCount()
        columns = tuple(meta.getColumnLabel(i) for i in range(1, width + 1))
        rows = []
        while result_set.next():
            rows.append(tuple(_python(result_set.getObject(i)) for i in range(1, width + 1)))
        result_set.close()
        return Result(columns, rows)


def _python(value: Any) -> Any:
    """py4j already maps strings, numbers and booleans; other Java objects become their text."""
    if value is None or isinstance(value, (str, int, float, bool, Decimal)):
        return value
    return str(value)

