"""The Warehouse port: what jobs may ask of a warehouse, whichever adapter serves it.

Tables are named ``SCHEMA.NAME``. Every write is atomic per table and safe to repeat:
``overwrite_partitions`` replaces exactly the given partition values, ``merge`` upserts by
key (optionally only when the incoming row is at least as new as the stored one).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pyspark.sql import DataFrame

from etl_lib.changes import ChangeSpec
from etl_lib.config import TABLE_NAME_PATTERN

__all__ = ["Warehouse", "WriteResult", "TableNotFoundError", "check_table_name"]

PartitionValue = str | int | date | datetime


class TableNotFoundError(LookupError):
    """A table a job reads has never been written."""


@dataclass(frozen=True)
class WriteResult:
    """What one write did to its table, as the warehouse reports it."""

    table: str
    rows_inserted: int = 0
    rows_updated: int = 0
    rows_deleted: int = 0

    @property
    def rows_written(self) -> int:
        return self.rows_inserted + self.rows_updated


def check_table_name(table: str) -> str:
    """Return ``table`` upper-cased if it is ``SCHEMA.NAME`` of plain identifiers, else raise."""
    if not TABLE_NAME_PATTERN.match(table):
        raise ValueError(f"table name {table!r} is not SCHEMA.NAME made of letters, digits and _")
    return table.upper()


class Warehouse(ABC):
    """A place tables are read from and written to (Delta Lake or Snowflake)."""

    @abstractmethod
    def exists(self, table: str) -> bool:
        """True when ``table`` has been created."""

    @abstractmethod
    def read(self, table: str) -> DataFrame:
        """The table as a DataFrame; raises :class:`TableNotFoundError` if it does not exist."""

    @abstractmethod
    def location(self, table: str) -> str:
        """Where the table lives, for people (a path or a fully qualified name)."""

    @abstractmethod
    def overwrite(self, df: DataFrame, table: str, partition_by: Sequence[str] = ()) -> WriteResult:
        """Replace the whole table with ``df`` (creating it if needed)."""

    @abstractmethod
    def overwrite_partitions(
        self,
        df: DataFrame,
        table: str,
        column: str,
        values: Sequence[PartitionValue],
        partition_by: Sequence[str] = (),
    ) -> WriteResult:
        """Replace the rows whose ``column`` is in ``values`` with ``df``, atomically.

        Every row of ``df`` must have ``column`` in ``values``. An empty ``values`` only
        creates the table if it is missing.
        """

    @abstractmethod
    def merge(
        self,
        df: DataFrame,
        table: str,
        keys: Sequence[str],
        newer_by: Sequence[str] = (),
        partition_by: Sequence[str] = (),
    ) -> WriteResult:
        """Upsert ``df`` into ``table`` by ``keys`` (``df`` holds at most one row per key).

        With ``newer_by``, a stored row is replaced only when the incoming row's
        ``newer_by`` tuple is greater than or equal to the stored one (so replaying an old
        batch never overwrites newer state, and replaying the same batch changes nothing).
        """

    @abstractmethod
    def apply_changes(self, changes: DataFrame, table: str, spec: ChangeSpec) -> WriteResult:
        """Apply a batch of change events to ``table`` as DLT APPLY CHANGES does.

        See :mod:`etl_lib.changes` for the semantics; the table is created if missing.
        """

    def read_or_none(self, table: str) -> DataFrame | None:
        """The table, or None when it has not been created yet."""
        return self.read(table) if self.exists(table) else None


def newer_or_equal_condition(newer_by: Sequence[str], source: str = "s", target: str = "t") -> str:
    """SQL for ``(source.a, source.b, ...) >= (target.a, target.b, ...)``, lexicographically."""
    clauses = []
    for index, column in enumerate(newer_by):
        equal_prefix = [f"{source}.`{c}` = {target}.`{c}`" for c in newer_by[:index]]
        last = index == len(newer_by) - 1
        comparison = f"{source}.`{column}` {'>=' if last else '>'} {target}.`{column}`"
        clauses.append("(" + " AND ".join([*equal_prefix, comparison]) + ")")
    return " OR ".join(clauses)
