"""fakesnow (Snowflake SQL on DuckDB) provisioned like a real account for the adapter's tests.

``fakesnow.patch()`` replaces ``snowflake.connector.connect`` for the duration; the
database and schemas the DDL would create exist, and the Python UDF of
deploy/snowflake/25_functions.sql is registered with DuckDB under the same qualified
name, running the very handler code the DDL ships (fakesnow cannot run CREATE FUNCTION
... LANGUAGE PYTHON itself, see docs/snowflake.md).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

DATABASE = "RETAIL"
SCHEMAS = ("LANDING", "STAGING", "CURATED", "ANALYTICS", "METADATA", "S")
DDL_DIR = Path(__file__).resolve().parents[2] / "deploy" / "snowflake"
_BODY = re.compile(r"\$\$(.*?)\$\$", re.S)


def udf_handler(name: str = "version_key") -> Callable[[str], int]:
    """The handler function of the SCD_VERSION_KEY UDF, from the DDL file's $$ body."""
    text = (DDL_DIR / "25_functions.sql").read_text(encoding="utf-8")
    namespace: dict[str, Any] = {}
    exec(compile(_BODY.search(text).group(1), "25_functions.sql", "exec"), namespace)  # noqa: S102
    return namespace[name]


def _register_udf(connection: Any) -> None:
    import duckdb

    duck = connection._duck_conn  # the emulator's DuckDB connection (fakesnow has no API)
    duck.create_function(
        "_scd_version_key", udf_handler(), [duckdb.sqltypes.VARCHAR], duckdb.sqltypes.BIGINT
    )
    duck.execute(f"CREATE MACRO {DATABASE}.CURATED.SCD_VERSION_KEY(t) AS _scd_version_key(t)")


@contextlib.contextmanager
def fakesnow_account() -> Iterator[Callable[[], Any]]:
    """Yield ``connect()``: a new qmark connection to the emulated account per call."""
    import fakesnow
    import snowflake.connector

    with fakesnow.patch():
        def connect() -> Any:
            return snowflake.connector.connect(
                database=DATABASE, schema="PUBLIC", paramstyle="qmark"
            )

        # This connection owns the UDF registration, so it stays open until the end.
        with contextlib.closing(connect()) as admin:
            cursor = admin.cursor()
            for schema in SCHEMAS:
                cursor.execute(f"CREATE SCHEMA IF NOT EXISTS {DATABASE}.{schema}")
            _register_udf(admin)
            yield connect


def table_names(connect: Callable[[], Any], schema: str) -> list[str]:
    """The base tables (not views) of ``schema`` in the emulated database, sorted."""
    with contextlib.closing(connect()) as connection:
        cursor = connection.cursor()
        cursor.execute(
            f"SELECT TABLE_NAME FROM {DATABASE}.INFORMATION_SCHEMA.TABLES "
            "WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'",
            (schema,),
        )
        return sorted(row[0] for row in cursor.fetchall())
