"""apply_changes and apply_changes_from_snapshot on Delta Lake (DLT APPLY CHANGES semantics).

The logic is the pure :func:`etl_lib.scd.compute_changes`; this module reads its inputs
at pinned table versions and commits its result:

* the target ``SCHEMA.NAME`` gets exactly one MERGE per batch (one atomic commit, the
  last write, so a failed batch leaves the previous version for readers);
* when the spec has ``apply_as_deletes``, the tombstones ``SCHEMA.NAME__TOMBSTONES``
  (``keys`` + ``_sequence`` of each key whose latest event is a delete) are merged first,
  so a delete is remembered after its row is gone and an older event arriving in a later
  batch cannot bring the row back.

Both writes are idempotent: re-applying a batch, or finishing a failed one by running it
again, leaves the same tables. See ``docs/history.md`` for the full contract.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from functools import reduce
from typing import TYPE_CHECKING

from delta.tables import DeltaTable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl_lib.changes import ChangeSpec
from etl_lib.io.warehouse import Warehouse, WriteResult, check_table_name
from etl_lib.scd import (
    IS_CURRENT,
    SEQUENCE,
    VALID_FROM,
    VALID_TO,
    ChangeLayout,
    ChangesInputError,
    compute_changes,
    resolve_layout,
    snapshot_changes,
    snapshot_spec,
)

if TYPE_CHECKING:
    from etl_lib.io.delta import DeltaWarehouse

__all__ = [
    "TOMBSTONES_SUFFIX",
    "ChangesInputError",
    "StaleSnapshotError",
    "TargetMismatchError",
    "apply_changes",
    "apply_changes_from_snapshot",
    "tombstones_table",
]

TOMBSTONES_SUFFIX = "__TOMBSTONES"
_KEEP = "_cdc_keep"


class TargetMismatchError(ValueError):
    """The existing target table does not have the columns this spec writes."""


class StaleSnapshotError(ValueError):
    """A snapshot older than what the target already reflects (it would undo newer changes)."""


def tombstones_table(table: str) -> str:
    """Where the delete tombstones of ``table`` are kept: ``SCHEMA.NAME__TOMBSTONES``."""
    return check_table_name(table) + TOMBSTONES_SUFFIX


def apply_changes(
    warehouse: DeltaWarehouse, changes: DataFrame, table: str, spec: ChangeSpec
) -> None:
    """Apply a batch of change rows to the Delta table ``table`` (created if missing).

    Called by :meth:`DeltaWarehouse.apply_changes`, which reports the target's commit.

    Raises:
        ChangesInputError: the rows miss a spec column, or a key or sequence is null.
        TargetMismatchError: ``table`` exists with other columns than the spec writes.
    """
    layout = resolve_layout(spec, changes.schema)
    _check_not_null(changes, spec)
    target = _read_pinned(warehouse, table)
    if target is not None:
        _check_columns(target, layout, table)
    graves_table = tombstones_table(table) if spec.apply_as_deletes else None
    graves = _read_pinned(warehouse, graves_table) if graves_table else None
    result = compute_changes(changes, spec, target, graves)
    rows, keys, dead = (df.persist() for df in (result.rows, result.keys, result.tombstones))
    try:
        if graves_table:
            _merge_tombstones(warehouse, keys, dead, graves_table, layout)
        if target is None:
            rows.write.format("delta").mode("errorifexists").save(warehouse.location(table))
        else:
            _merge_target(warehouse, rows, keys, target, table, layout)
    finally:
        for df in (rows, keys, dead):
            df.unpersist()


def apply_changes_from_snapshot(
    warehouse: Warehouse,
    snapshot: DataFrame,
    table: str,
    keys: Sequence[str],
    snapshot_version: date | datetime | int,
    stored_as_scd_type: int = 1,
    track_history_column_list: Sequence[str] | None = None,
    track_history_except_column_list: Sequence[str] | None = None,
    surrogate_key: str | None = None,
) -> WriteResult:
    """Make ``table`` reflect ``snapshot``, a full extract taken at ``snapshot_version``.

    The snapshot is compared with the target's live rows: new or changed keys are
    upserts and keys missing from the snapshot are deletes, all at ``snapshot_version``
    (SCD2: ``valid_from`` / ``valid_to`` are snapshot versions). Re-applying the same
    snapshot changes nothing. Works with any warehouse adapter (it calls
    ``warehouse.apply_changes``).

    Raises:
        StaleSnapshotError: the target already holds changes newer than ``snapshot_version``.
        TargetMismatchError: a snapshot column is not in the existing target.
    """
    spec = snapshot_spec(
        keys, stored_as_scd_type, _tuple(track_history_column_list),
        _tuple(track_history_except_column_list), surrogate_key,
    )
    current = _read_pinned(warehouse, table)
    if current is not None:
        missing = [c for c in [*snapshot.columns, SEQUENCE] if c not in current.columns]
        if missing:
            raise TargetMismatchError(
                f"{table}: columns {', '.join(missing)} are not in the table "
                f"(it has {', '.join(current.columns)})"
            )
        if _holds_newer(warehouse, current, table, snapshot_version):
            raise StaleSnapshotError(
                f"{table} already holds changes newer than snapshot {snapshot_version}: "
                "apply snapshots in version order (a rerun of the latest one is safe)"
            )
        if stored_as_scd_type == 2:
            current = current.filter(F.col(IS_CURRENT))
    changes = snapshot_changes(current, snapshot, keys, snapshot_version)
    return warehouse.apply_changes(changes, table, spec)


def _tuple(values: Sequence[str] | None) -> tuple[str, ...] | None:
    return None if values is None else tuple(values)


def _holds_newer(
    warehouse: Warehouse, current: DataFrame, table: str, version: date | datetime | int
) -> bool:
    """True when the target or its tombstones record a change after ``version``."""
    stamp = F.lit(version)
    newer = F.col(SEQUENCE) > stamp
    if VALID_TO in current.columns:
        newer = newer | (F.col(VALID_TO) > stamp)
    if current.filter(newer).limit(1).count():
        return True
    graves = _read_pinned(warehouse, tombstones_table(table))
    return graves is not None and bool(graves.filter(F.col(SEQUENCE) > stamp).limit(1).count())


def _check_not_null(changes: DataFrame, spec: ChangeSpec) -> None:
    columns = [*spec.keys, spec.sequence_by]
    any_null = reduce(lambda a, b: a | b, [F.col(c).isNull() for c in columns])
    bad = changes.filter(any_null).select(*columns).first()
    if bad is not None:
        raise ChangesInputError(
            f"apply_changes: a change row has a null key or {spec.sequence_by}: {bad.asDict()} "
            "(reject such rows before applying changes)"
        )


def _check_columns(target: DataFrame, layout: ChangeLayout, table: str) -> None:
    expected, actual = layout.target_columns, target.columns
    missing = [c for c in expected if c not in actual]
    extra = [c for c in actual if c not in expected]
    if missing or extra:
        raise TargetMismatchError(
            f"{table} does not have the columns this ChangeSpec writes: "
            f"missing {missing or 'none'}, unexpected {extra or 'none'} "
            "(was it created with another SCD type or column list?)"
        )


def _read_pinned(warehouse: Warehouse, table: str) -> DataFrame | None:
    """The table at its current version (Delta: pinned, so later commits cannot change the read)."""
    from etl_lib.io.delta import DeltaWarehouse

    if not warehouse.exists(table):
        return None
    if not isinstance(warehouse, DeltaWarehouse):
        return warehouse.read(table)
    version = warehouse.delta_table(table).history(1).select("version").first()[0]
    location = warehouse.location(table)
    return warehouse.spark.read.format("delta").option("versionAsOf", version).load(location)


def _differs(columns: Sequence[str]) -> str:
    return " OR ".join(f"NOT (t.`{c}` <=> s.`{c}`)" for c in columns) or "FALSE"


def _on(columns: Sequence[str]) -> str:
    return " AND ".join(f"t.`{c}` = s.`{c}`" for c in columns)


def _merge_tombstones(
    warehouse: DeltaWarehouse, keys: DataFrame, tombstones: DataFrame, table: str,
    layout: ChangeLayout,
) -> None:
    """Set the tombstone of each touched key to its latest delete, or remove it."""
    if not warehouse.exists(table):
        tombstones.write.format("delta").mode("errorifexists").save(warehouse.location(table))
        return
    source = keys.join(tombstones, list(layout.keys), "left")
    (
        DeltaTable.forPath(warehouse.spark, warehouse.location(table)).alias("t")
        .merge(source.alias("s"), _on(layout.keys))
        .whenMatchedDelete(condition=f"s.`{SEQUENCE}` IS NULL")
        .whenMatchedUpdate(
            condition=f"s.`{SEQUENCE}` IS NOT NULL AND {_differs([SEQUENCE])}",
            set={SEQUENCE: f"s.`{SEQUENCE}`"},
        )
        .whenNotMatchedInsert(
            condition=f"s.`{SEQUENCE}` IS NOT NULL",
            values={c: f"s.`{c}`" for c in (*layout.keys, SEQUENCE)},
        )
        .execute()
    )


def _merge_target(
    warehouse: DeltaWarehouse, rows: DataFrame, keys: DataFrame, target: DataFrame, table: str,
    layout: ChangeLayout,
) -> None:
    """Replace the touched keys' rows with ``rows`` in one MERGE (unchanged rows untouched).

    SCD1 matches on the keys; SCD2 on keys + ``valid_from`` (one version), and versions
    of touched keys that the new history no longer has are deleted in the same MERGE.
    """
    match = list(layout.keys) if layout.scd_type == 1 else [*layout.keys, VALID_FROM]
    if layout.scd_type == 1:
        source = keys.join(rows.withColumn(_KEEP, F.lit(True)), list(layout.keys), "left")
    else:
        stored = target.join(keys, list(layout.keys), "left_semi").select(*match)
        gone = stored.join(rows.select(*match), match, "left_anti").withColumn(_KEEP, F.lit(False))
        source = rows.withColumn(_KEEP, F.lit(True)).unionByName(gone, allowMissingColumns=True)
    columns = layout.target_columns
    (
        DeltaTable.forPath(warehouse.spark, warehouse.location(table)).alias("t")
        .merge(source.alias("s"), _on(match))
        .whenMatchedDelete(condition=f"NOT coalesce(s.`{_KEEP}`, FALSE)")
        .whenMatchedUpdate(
            condition=f"s.`{_KEEP}` AND ({_differs([c for c in columns if c not in match])})",
            set={c: f"s.`{c}`" for c in columns},
        )
        .whenNotMatchedInsert(
            condition=f"s.`{_KEEP}`", values={c: f"s.`{c}`" for c in columns}
        )
        .execute()
    )
