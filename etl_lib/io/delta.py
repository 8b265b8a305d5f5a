"""The Delta Lake warehouse adapter: SCHEMA.NAME is the Delta table at <root>/schema/name.

Path-based tables (no metastore needed), so the same code runs on a laptop, S3 and GCS.
Each write is one Delta commit, so readers see the whole write or none of it, and the
row counts reported come from the commit's own operation metrics; the rows an overwrite
removes are counted in the version before when the commit does not count them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

from delta.tables import DeltaTable
from pyspark.sql import DataFrame, SparkSession

from etl_lib.changes import ChangeSpec
from etl_lib.io.warehouse import (
    PartitionValue,
    TableNotFoundError,
    Warehouse,
    WriteResult,
    check_table_name,
    newer_or_equal_condition,
)

__all__ = ["DeltaWarehouse", "sql_literal"]


def sql_literal(value: PartitionValue) -> str:
    """A SQL literal for a partition value (dates, timestamps, ints, strings)."""
    if isinstance(value, bool):
        raise TypeError("boolean partition values are not supported")
    if isinstance(value, int):
        return str(value)
    if isinstance(value, datetime):
        return f"TIMESTAMP '{value.isoformat(sep=' ')}'"
    if isinstance(value, date):
        return f"DATE '{value.isoformat()}'"
    return "'" + str(value).replace("\\", "\\\\").replace("'", "\\'") + "'"


class DeltaWarehouse(Warehouse):
    """Delta tables under one root directory (local path, s3a:// or gs://)."""

    def __init__(self, spark: SparkSession, root: str) -> None:
        self.spark = spark
        self.root = root if "://" in root else str(Path(root).resolve())

    def location(self, table: str) -> str:
        schema, name = check_table_name(table).split(".")
        return f"{self.root.rstrip('/')}/{schema.lower()}/{name.lower()}"

    def exists(self, table: str) -> bool:
        return DeltaTable.isDeltaTable(self.spark, self.location(table))

    def read(self, table: str) -> DataFrame:
        if not self.exists(table):
            raise TableNotFoundError(f"{table} does not exist at {self.location(table)}")
        return self.spark.read.format("delta").load(self.location(table))

    def overwrite(self, df: DataFrame, table: str, partition_by: Sequence[str] = ()) -> WriteResult:
        # Static: the whole table is replaced even when the session default is dynamic.
        writer = (
            df.write.format("delta").mode("overwrite").option("overwriteSchema", "true")
            .option("partitionOverwriteMode", "static")
        )
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(self.location(table))
        return self._replacing_commit(table)

    def overwrite_partitions(
        self,
        df: DataFrame,
        table: str,
        column: str,
        values: Sequence[PartitionValue],
        partition_by: Sequence[str] = (),
    ) -> WriteResult:
        if not self.exists(table):
            return self._create(df, table, partition_by)
        if not values:
            return WriteResult(table)
        predicate = f"`{column}` IN ({', '.join(sql_literal(v) for v in values)})"
        (
            df.write.format("delta")
            .mode("overwrite")
            .option("replaceWhere", predicate)
            .save(self.location(table))
        )
        return self._replacing_commit(table, predicate)

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
        if not self.exists(table):
            return self._create(df, table, partition_by)
        on = " AND ".join(f"t.`{k}` <=> s.`{k}`" for k in keys)
        update_when = newer_or_equal_condition(newer_by) if newer_by else None
        (
            DeltaTable.forPath(self.spark, self.location(table))
            .alias("t")
            .merge(df.alias("s"), on)
            .whenMatchedUpdateAll(condition=update_when)
            .whenNotMatchedInsertAll()
            .execute()
        )
        return self._last_commit(table)

    def apply_changes(self, changes: DataFrame, table: str, spec: ChangeSpec) -> WriteResult:
        from etl_lib.cdc import apply_changes

        before = self._version(table)
        apply_changes(self, changes, table, spec)
        if self._version(table) == before:  # an empty batch makes no commit
            return WriteResult(table)
        return self._last_commit(table)

    def _version(self, table: str) -> int | None:
        if not self.exists(table):
            return None
        return DeltaTable.forPath(self.spark, self.location(table)).history(1).first()["version"]

    def delta_table(self, table: str) -> DeltaTable:
        """The underlying :class:`DeltaTable`, for Delta-only maintenance (OPTIMIZE, VACUUM)."""
        if not self.exists(table):
            raise TableNotFoundError(f"{table} does not exist at {self.location(table)}")
        return DeltaTable.forPath(self.spark, self.location(table))

    def _create(self, df: DataFrame, table: str, partition_by: Sequence[str]) -> WriteResult:
        writer = df.write.format("delta").mode("errorifexists")
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        writer.save(self.location(table))
        return self._last_commit(table)

    def _last_commit(self, table: str) -> WriteResult:
        return _write_result(table, self._last_commit_metrics(table)[1])

    def _replacing_commit(self, table: str, replaced: str | None = None) -> WriteResult:
        """The last commit's result, for an overwrite of the rows matching ``replaced`` (all).

        Delta counts the rows an overwrite removes only for a replaceWhere that writes
        some (a full overwrite's commit lists no removed files at all): otherwise they are
        counted in the version before (from file statistics).
        """
        version, metrics = self._last_commit_metrics(table)
        result = _write_result(table, metrics)
        removed_some = replaced is None or int(metrics.get("numRemovedFiles") or 0) > 0
        if "numDeletedRows" not in metrics and version > 0 and removed_some:
            before = (
                self.spark.read.format("delta").option("versionAsOf", version - 1)
                .load(self.location(table))
            )
            if replaced is not None:
                before = before.filter(replaced)
            result = replace(result, rows_deleted=before.count())
        return result

    def _last_commit_metrics(self, table: str) -> tuple[int, dict[str, str]]:
        """The table's latest version and its commit's operation metrics."""
        last = (
            DeltaTable.forPath(self.spark, self.location(table))
            .history(1)
            .select("version", "operationMetrics")
            .first()
        )
        return last["version"], last["operationMetrics"] or {}


def _write_result(table: str, metrics: dict[str, str]) -> WriteResult:
    """Rows inserted, updated and deleted, from a Delta commit's operation metrics."""

    def metric(*names: str) -> int:
        return sum(int(metrics.get(name, 0) or 0) for name in names)

    if "numTargetRowsInserted" in metrics:  # MERGE
        return WriteResult(
            table,
            rows_inserted=metric("numTargetRowsInserted"),
            rows_updated=metric("numTargetRowsUpdated"),
            rows_deleted=metric("numTargetRowsDeleted"),
        )
    return WriteResult(
        table,
        rows_inserted=metric("numOutputRows"),
        rows_deleted=metric("numDeletedRows", "numRemovedRows"),
    )
