"""The Snowflake warehouse adapter: the Warehouse port over spark-snowflake and generated SQL.

Every write loads the batch into a transient staging table next to the target
(``<NAME>__STG_<id>``, created from the batch's schema, dropped on success and on failure)
and then changes the target with DML in one transaction, so readers see all of a write or
none of it and the table itself (grants, clustering, comments) is never replaced:

* ``overwrite``: DELETE every row + INSERT (what ``truncate_table=on`` promises, atomically).
* ``overwrite_partitions``: DELETE the listed values + INSERT.
* ``merge``: one MERGE by null-safe keys, updating only when ``newer_by`` is at least as new.
* ``apply_changes``: SCD1/SCD2 statements of :mod:`etl_lib.io.snowflake_scd`.

A missing target is created from the batch's schema (:func:`snowflake_sql.snowflake_type`);
an existing one must already have every column of the batch, each holding the same kind of
value (number, text, date, ...): schema changes are DDL in deploy/snowflake, never a side
effect of a load. ``partition_by`` is accepted for the port's sake: Snowflake partitions by
itself (clustering keys live in the DDL).
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.changes import ChangeSpec
from etl_lib.config import AppConfig, ConfigError
from etl_lib.io import snowflake_sql as sql
from etl_lib.io.snowflake_session import Result, SqlSession, transaction
from etl_lib.io.snowflake_sql import Table
from etl_lib.io.snowflake_transport import Transport
from etl_lib.io.warehouse import (
    PartitionValue,
    TableNotFoundError,
    Warehouse,
    WriteResult,
    check_table_name,
)

__all__ = [
    "PartitionMismatchError", "SchemaMismatchError", "SnowflakeWarehouse", "StagedBatch",
    "with_spark_types",
]

log = logging.getLogger(__name__)


class SchemaMismatchError(ValueError):
    """The batch has columns the existing Snowflake table does not."""


class PartitionMismatchError(ValueError):
    """``overwrite_partitions`` got rows outside the partition values it was told to replace."""


class SnowflakeWarehouse(Warehouse):
    """Tables ``SCHEMA.NAME`` of one Snowflake database, reached through a :class:`Transport`."""

    def __init__(self, spark: SparkSession, transport: Transport, database: str) -> None:
        self.spark = spark
        self.transport = transport
        self.database = sql.quote(database, "database").strip('"')

    @classmethod
    def from_config(
        cls,
        spark: SparkSession,
        config: AppConfig,
        environ: Mapping[str, str] | None = None,
        secrets_client: Any = None,
    ) -> SnowflakeWarehouse:
        """The adapter ``config.snowflake`` describes, with its credential resolved now.

        Raises:
            ConfigError: there is no ``snowflake:`` section.
            SnowflakeAuthError: no usable credential (the message says where it looked).
        """
        from etl_lib.io.snowflake_auth import (
            connector_options,
            python_connect_args,
            resolve_credentials,
        )
        from etl_lib.io.snowflake_transport import (
            PythonConnectorTransport,
            SparkConnectorTransport,
        )

        settings = config.snowflake
        if settings is None:
            raise ConfigError("conf error: snowflake: section missing (needed by warehouse.kind)")
        credentials = resolve_credentials(settings, environ, secrets_client)
        log.info(
            "snowflake: account %s, user %s, database %s, %s auth from %s, %s transport",
            settings.account, settings.user, settings.database, credentials.method,
            credentials.source, settings.transport,
        )
        transport: Transport
        if settings.transport == "spark_connector":
            transport = SparkConnectorTransport(spark, connector_options(settings, credentials))
        else:
            args = python_connect_args(settings, credentials)

            def connect() -> Any:
                import snowflake.connector  # looked up per call: fakesnow patches it in tests

                return snowflake.connector.connect(**args)

            transport = PythonConnectorTransport(spark, connect)
        return cls(spark, transport, settings.database)

    def __repr__(self) -> str:
        return f"SnowflakeWarehouse(database={self.database}, transport={self.transport!r})"

    # -- reads -------------------------------------------------------------------------

    def table_ref(self, table: str) -> Table:
        """The fully qualified :class:`Table` for a port name ``SCHEMA.NAME``."""
        return Table.parse(check_table_name(table), self.database)

    def location(self, table: str) -> str:
        return str(self.table_ref(table))

    def exists(self, table: str) -> bool:
        target = self.table_ref(table)
        with self.transport.session() as session:
            return self._exists(session, target)

    def read(self, table: str) -> DataFrame:
        """The table with lower-case column names and the Spark types it was written with.

        Columns the adapter wrote get their Spark type back (``LONG`` rather than
        ``NUMBER(38,0)``, maps, arrays and structs rather than JSON text); pushdown applies
        to whatever the caller does next.
        """
        target = self.table_ref(table)
        with self.transport.session() as session:
            if not self._exists(session, target):
                raise TableNotFoundError(f"{table} does not exist in Snowflake ({target})")
            written = self._written_schema(session, target)
        return with_spark_types(self.transport.read_table(target), written)

    def query(self, text: str) -> DataFrame:
        """The result of a SELECT run in Snowflake (the caller's own SQL), lower-case columns."""
        return self.transport.read_query(text)

    # -- writes ------------------------------------------------------------------------

    def overwrite(self, df: DataFrame, table: str, partition_by: Sequence[str] = ()) -> WriteResult:
        with self.staged(df, self.table_ref(table)) as batch:
            with transaction(batch.session):
                deleted = batch.run(sql.delete_all(batch.target))
                inserted = batch.run(sql.insert_from(batch.target, batch.table, batch.columns))
            self.remember_schema(batch.session, batch.target, df.schema)
        return _result(table, inserted, deleted)

    def overwrite_partitions(
        self,
        df: DataFrame,
        table: str,
        column: str,
        values: Sequence[PartitionValue],
        partition_by: Sequence[str] = (),
    ) -> WriteResult:
        target = self.table_ref(table)
        if not values and self.exists(table):
            return WriteResult(table.upper())
        with self.staged(df, target) as batch:
            if not values:  # the table was just created: the batch is its first content
                with transaction(batch.session):
                    inserted = batch.run(sql.insert_from(target, batch.table, batch.columns))
                self.remember_schema(batch.session, target, df.schema)
                return _result(table, inserted)
            outside = batch.session.run(sql.count_outside(batch.table, column, values)).scalar()
            if outside:
                raise PartitionMismatchError(
                    f"{outside} row(s) of the batch for {table} have {column} outside "
                    f"{[str(v) for v in values]}: overwrite_partitions replaces only those values"
                )
            with transaction(batch.session):
                deleted = batch.run(sql.delete_where_in(target, column, values))
                inserted = batch.run(sql.insert_from(target, batch.table, batch.columns))
            self.remember_schema(batch.session, target, df.schema)
        return _result(table, inserted, deleted)

    def merge(
        self,
        df: DataFrame,
        table: str,
        keys: Sequence[str],
        newer_by: Sequence[str] = (),
        partition_by: Sequence[str] = (),
    ) -> WriteResult:
        if not keys:
            raise ValueError("merge needs at least one key column")
        with self.staged(df, self.table_ref(table)) as batch:
            # One statement is its own transaction in Snowflake: no BEGIN needed (and
            # fakesnow cannot run MERGE inside one, see docs/snowflake.md).
            merged = batch.run(
                sql.merge_upsert(batch.target, batch.table, batch.columns, keys, newer_by)
            )
            self.remember_schema(batch.session, batch.target, df.schema)
        return _result(table, merged)

    def apply_changes(self, changes: DataFrame, table: str, spec: ChangeSpec) -> WriteResult:
        from etl_lib.io.snowflake_changes import apply_changes

        return apply_changes(self, changes, table, spec)

    # -- the staging table every write goes through ------------------------------------

    @contextlib.contextmanager
    def staged(
        self, df: DataFrame, target: Table, target_schema: T.StructType | None = None
    ) -> Iterator[StagedBatch]:
        """Load ``df`` into a fresh transient table next to ``target``; drop it afterwards.

        Creates ``target`` first when it is missing, from ``target_schema`` (default: the
        batch's schema); an existing target must hold the same kind of value in each of
        those columns and, with the default, have every column of the batch.
        If the write fails, a target created here is dropped again: as on Delta, a failed
        first write leaves no table.
        """
        with self.transport.session() as session:
            written = target_schema or df.schema
            created = self._create_if_missing(session, target, written)
            if not created:
                self._check_columns(session, target, written, all_present=target_schema is None)
            staging = target.sibling(f"STG_{uuid.uuid4().hex[:12].upper()}")
            columns = sql.columns_of(df.schema)
            try:
                session.run(sql.create_table(staging, columns, transient=True, if_not_exists=False))
                self.transport.load(df, staging)
                yield StagedBatch(session, target, staging, [name for name, _ in columns], created)
            except BaseException:
                if created:
                    self._drop_quietly(session, target)
                raise
            finally:
                self._drop_quietly(session, staging)

    def remember_schema(self, session: SqlSession, target: Table, schema: T.StructType) -> None:
        """Record the Spark types of the columns just written (merged with earlier ones)."""
        written = self._written_schema(session, target)
        fields = {f.name.lower(): f for f in written.fields}
        fields.update({f.name.lower(): T.StructField(f.name, f.dataType) for f in schema.fields})
        merged = T.StructType(list(fields.values()))
        if merged == written:
            return
        registry = sql.schema_registry_table(self.database)
        session.run(sql.schema_registry(registry))
        session.run(sql.schema_upsert(registry, target, merged.json()))

    def _written_schema(self, session: SqlSession, target: Table) -> T.StructType:
        registry = sql.schema_registry_table(self.database)
        if not self._exists(session, registry):
            return T.StructType([])
        recorded = session.run(sql.schema_lookup(registry, target)).scalar()
        return T.StructType.fromJson(json.loads(recorded)) if recorded else T.StructType([])

    @staticmethod
    def _exists(session: SqlSession, target: Table) -> bool:
        return bool(session.run(sql.table_exists(target)).scalar())

    def _create_if_missing(self, session: SqlSession, target: Table, schema: T.StructType) -> bool:
        """Create ``target`` with ``schema`` unless it exists; True when created."""
        if self._exists(session, target):
            return False
        log.info("creating %s from the batch's schema", target)
        session.run(sql.create_table(target, sql.columns_of(schema)))
        return True

    @staticmethod
    def _check_columns(
        session: SqlSession, target: Table, schema: T.StructType, all_present: bool
    ) -> None:
        """Refuse a batch the table cannot take as it is: a column it lacks (when
        ``all_present``), or a value of another kind than the column holds."""
        rows = session.run(sql.table_columns(target)).rows
        stored = {name.upper(): data_type for name, data_type in rows}
        missing = [f.name for f in schema.fields if f.name.upper() not in stored]
        if all_present and missing:
            raise SchemaMismatchError(
                f"{target} has no column(s) {', '.join(missing)}: add them with DDL "
                "(deploy/snowflake) before loading; the adapter never alters tables"
            )
        changed = []
        for field in schema.fields:
            theirs, ours = stored.get(field.name.upper()), sql.snowflake_type(field.dataType)
            if theirs is not None and sql.value_kind(ours) != sql.value_kind(theirs):
                changed.append(f"{field.name} ({ours} into {theirs})")
        if changed:
            raise SchemaMismatchError(
                f"{target}: column(s) {', '.join(changed)} would change their kind of value: cast "
                "in the job, or change the table with DDL (deploy/snowflake) first"
            )

    @staticmethod
    def _drop_quietly(session: SqlSession, table: Table) -> None:
        try:
            session.run(sql.drop_table(table))
        except Exception as exc:  # never hide the error that got us here
            log.warning("could not drop table %s: %s", table, exc)


@dataclass(frozen=True)
class StagedBatch:
    """A batch loaded into its staging table, with the session that will apply it."""

    session: SqlSession
    #: The table being written.
    target: Table
    #: The transient staging table holding the batch.
    table: Table
    #: The batch's column names, upper-case, in order.
    columns: list[str]
    #: True when ``target`` was created for this write.
    created: bool

    def run(self, statement: sql.Statement) -> Result:
        return self.session.run(statement)


def with_spark_types(df: DataFrame, schema: T.StructType) -> DataFrame:
    """``df`` (as read from Snowflake) with the types ``schema`` records for its columns.

    Nested values come back from VARIANT as JSON text and are parsed; other columns are
    cast (NUMBER(38,0) to the integer type written, ...). Unrecorded columns stay as read.
    """
    recorded = {f.name.lower(): f.dataType for f in schema.fields}
    columns = []
    for name in df.columns:
        kind = recorded.get(name.lower())
        column = F.col(f"`{name}`")
        if kind is None:
            columns.append(column)
        elif isinstance(kind, (T.ArrayType, T.MapType, T.StructType)):
            columns.append(F.from_json(column, kind).alias(name))
        else:
            columns.append(column.cast(kind).alias(name))
    return df.select(*columns)


def _result(table: str, *results: Result) -> WriteResult:
    """The WriteResult of the DML results of one write (counts summed by kind)."""
    def total(kind: str) -> int:
        return sum(r.dml_counts().get(kind, 0) for r in results)

    return WriteResult(
        table.upper(),
        rows_inserted=total("inserted"),
        rows_updated=total("updated"),
        rows_deleted=total("deleted"),
    )
