"""The pure DataFrame logic behind ``apply_changes``: events, SCD1 state, SCD2 history.

Nothing here reads or writes a table. The functions take a batch of change rows plus the
stored rows (and delete tombstones) of the keys the batch touches, and return what those
keys must hold afterwards; :mod:`etl_lib.cdc` commits that with one Delta MERGE. The full
contract, which every warehouse adapter must reproduce, is in ``docs/history.md``.

How a batch is applied:

1. every change row becomes an *event*: ``keys``, ``_sequence`` (the ``sequence_by``
   value), a kind (``U`` upsert or ``D`` delete) and the stored value columns;
2. the stored rows of the touched keys become events again (kind ``R``: "the row was
   exactly this at that sequence"; a version closed by a delete also gives a ``D``), and
   so does each key's tombstone (the sequence of its latest delete);
3. one event is kept per (keys, sequence): stored events win over new ones (a replay
   changes nothing), then a delete, then the greatest row;
4. the events of each key are folded in sequence order (windows per key, no global sort):
   SCD1 keeps the state after the latest event, so an event older than the stored row or
   tombstone never wins; SCD2 re-derives the key's whole history, so a late event lands
   in the interval where it belongs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DataType,
    DateType,
    MapType,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from etl_lib.changes import SCD2_COLUMNS, ChangeSpec
from etl_lib.joins import UNKNOWN_KEY, lookup_key

__all__ = [
    "SEQUENCE",
    "ChangeLayout",
    "ChangeResult",
    "ChangesInputError",
    "as_of_lookup",
    "compute_changes",
    "member_key_at",
    "resolve_layout",
    "snapshot_changes",
    "snapshot_spec",
    "version_key",
]

#: The column that keeps, on every stored row, the sequence of the last event applied to it.
SEQUENCE = "_sequence"
VALID_FROM, VALID_TO, IS_CURRENT = SCD2_COLUMNS
#: Names starting with this prefix are internal to apply_changes and cannot be stored.
INTERNAL_PREFIX = "_cdc_"
KIND, ORIGIN = "_cdc_kind", "_cdc_origin"
UPSERT, DELETE, STORED = "U", "D", "R"
#: Columns of the change rows built by :func:`snapshot_changes`.
SNAPSHOT_VERSION, SNAPSHOT_OP = "_cdc_snapshot_version", "_cdc_snapshot_op"
_KEY_SEPARATOR = "\u001f"


class ChangesInputError(ValueError):
    """The change rows (or the snapshot) do not fit the ChangeSpec; the message says what to fix."""


@dataclass(frozen=True)
class ChangeLayout:
    """The columns a ChangeSpec stores, resolved against the change rows' schema.

    ``values`` are the stored non-key columns in target order, ``tracked`` the ones whose
    change opens a new SCD2 version (all values unless a track-history list says otherwise).
    """

    keys: tuple[str, ...]
    values: tuple[str, ...]
    tracked: tuple[str, ...]
    scd_type: int
    surrogate_key: str | None
    sequence_type: DataType

    @property
    def target_columns(self) -> tuple[str, ...]:
        """The target table's columns, in order."""
        if self.scd_type == 1:
            return (*self.keys, *self.values, SEQUENCE)
        key = (self.surrogate_key,) if self.surrogate_key else ()
        return (*key, *self.keys, *self.values, VALID_FROM, VALID_TO, IS_CURRENT, SEQUENCE)


@dataclass(frozen=True)
class ChangeResult:
    """What the touched keys hold after a batch.

    ``rows``: their target rows (SCD1: one per live key; SCD2: every version).
    ``tombstones``: ``keys`` + ``_sequence`` of the keys whose latest event is a delete.
    ``keys``: the distinct keys the batch touches (rows of other keys never change).
    """

    rows: DataFrame
    tombstones: DataFrame
    keys: DataFrame


def resolve_layout(spec: ChangeSpec, schema: StructType) -> ChangeLayout:
    """Which columns ``spec`` stores from change rows of ``schema``.

    Raises:
        ChangesInputError: a named column is missing, a stored column clashes with a
            reserved name, or a stored column is a MAP (not comparable: store it as JSON).
    """
    columns = schema.fieldNames()
    named = [*spec.keys, spec.sequence_by, *(spec.column_list or ()),
             *(spec.except_column_list or ())]
    missing = [c for c in dict.fromkeys(named) if c not in columns]
    if missing:
        raise ChangesInputError(
            f"apply_changes: columns not in the change rows: {', '.join(missing)} "
            f"(the rows have: {', '.join(columns)})"
        )
    if spec.column_list is not None:
        values = [c for c in spec.column_list if c not in spec.keys]
    else:
        skipped = set(spec.except_column_list or ())
        values = [c for c in columns if c not in spec.keys and c not in skipped]
    reserved = {*SCD2_COLUMNS, SEQUENCE, *([spec.surrogate_key] if spec.surrogate_key else [])}
    clash = [c for c in values if c in reserved or c.startswith(INTERNAL_PREFIX)]
    if clash:
        raise ChangesInputError(
            f"apply_changes: stored columns use reserved names: {', '.join(clash)} "
            "(rename them, or leave them out with except_column_list)"
        )
    maps = [c for c in [*spec.keys, *values] if isinstance(schema[c].dataType, MapType)]
    if maps:
        raise ChangesInputError(
            f"apply_changes: MAP columns cannot be compared: {', '.join(maps)} (store to_json(col))"
        )
    return ChangeLayout(
        keys=tuple(spec.keys),
        values=tuple(values),
        tracked=_tracked(spec, values),
        scd_type=spec.stored_as_scd_type,
        surrogate_key=spec.surrogate_key if spec.stored_as_scd_type == 2 else None,
        sequence_type=schema[spec.sequence_by].dataType,
    )


def _tracked(spec: ChangeSpec, values: Sequence[str]) -> tuple[str, ...]:
    listed = spec.track_history_column_list or spec.track_history_except_column_list or ()
    unknown = [c for c in listed if c not in values]
    if unknown:
        raise ChangesInputError(
            f"apply_changes: track-history columns are not stored columns: {', '.join(unknown)}"
        )
    if spec.track_history_column_list is not None:
        return tuple(c for c in values if c in spec.track_history_column_list)
    return tuple(c for c in values if c not in (spec.track_history_except_column_list or ()))


def change_events(changes: DataFrame, spec: ChangeSpec, layout: ChangeLayout) -> DataFrame:
    """One event per change row; a delete carries no values."""
    deleted = F.lit(False)
    if spec.apply_as_deletes:
        deleted = F.coalesce(F.expr(spec.apply_as_deletes), F.lit(False))
    return changes.select(
        *layout.keys,
        F.col(spec.sequence_by).alias(SEQUENCE),
        F.when(deleted, F.lit(DELETE)).otherwise(F.lit(UPSERT)).alias(KIND),
        F.lit(0).alias(ORIGIN),
        *[F.when(~deleted, F.col(c)).alias(c) for c in layout.values],
    )


def stored_events(target: DataFrame, layout: ChangeLayout) -> DataFrame:
    """The target rows as events: what each row held, and from which sequence.

    SCD1: a row is ``R`` at its ``_sequence``. SCD2: a version is ``R`` at ``valid_from``
    and, when later events were folded into it, ``R`` again at its ``_sequence``; a
    ``valid_to`` that no next version starts at is the ``D`` that closed the key.
    """
    def as_event(rows: DataFrame, at: str, kind: str) -> DataFrame:
        values = [F.col(c) for c in layout.values] if kind == STORED else []
        return rows.select(
            *layout.keys, F.col(at).alias(SEQUENCE), F.lit(kind).alias(KIND),
            F.lit(1).alias(ORIGIN), *values,
        )

    if layout.scd_type == 1:
        return as_event(target, SEQUENCE, STORED)
    following = F.lead(VALID_FROM).over(Window.partitionBy(*layout.keys).orderBy(VALID_FROM))
    closed = target.withColumn("_cdc_following", following).filter(
        F.col(VALID_TO).isNotNull()
        & (F.col("_cdc_following").isNull() | (F.col("_cdc_following") != F.col(VALID_TO)))
    )
    folded = target.filter(F.col(SEQUENCE) != F.col(VALID_FROM))
    return (
        as_event(target, VALID_FROM, STORED)
        .unionByName(as_event(folded, SEQUENCE, STORED))
        .unionByName(as_event(closed, VALID_TO, DELETE), allowMissingColumns=True)
    )


def tombstone_events(tombstones: DataFrame, layout: ChangeLayout) -> DataFrame:
    """Each tombstone as the stored delete it records."""
    return tombstones.select(
        *layout.keys, SEQUENCE, F.lit(DELETE).alias(KIND), F.lit(1).alias(ORIGIN)
    )


def one_event_per_sequence(events: DataFrame, layout: ChangeLayout) -> DataFrame:
    """Keep one event per (keys, ``_sequence``): stored first, then a delete, then the greatest row.

    Exact duplicates collapse; conflicting events at one sequence (a source error) resolve
    the same way whatever their order. One aggregate per (keys, sequence), no sort.
    """
    rank = F.struct(F.col(ORIGIN), F.col(KIND) == DELETE, *[F.col(c) for c in layout.values])
    payload = F.struct(KIND, ORIGIN, *layout.values)
    return (
        events.groupBy(*layout.keys, SEQUENCE)
        .agg(F.max_by(payload, rank).alias("_cdc_event"))
        .select(*layout.keys, SEQUENCE, "_cdc_event.*")
    )


def fold_scd1(events: DataFrame, layout: ChangeLayout, ignore_null_updates: bool) -> DataFrame:
    """Per key, the state after its latest event: ``keys``, values, ``_sequence``, kind U or D.

    A stored row or delete is a barrier: events before it never count. Without
    ``ignore_null_updates`` every upsert is a barrier too (the latest event wins whole);
    with it, each column takes its latest non-null value since the last barrier.
    """
    seq, kind = F.col(SEQUENCE), F.col(KIND)
    resets = (STORED, DELETE) if ignore_null_updates else (STORED, DELETE, UPSERT)
    barrier = F.max(F.when(kind.isin(*resets), seq)).over(Window.partitionBy(*layout.keys))
    marked = events.withColumn("_cdc_barrier", barrier)
    live = (kind != DELETE) & (
        F.col("_cdc_barrier").isNull() | (seq >= F.col("_cdc_barrier"))
    )

    def value(column: str) -> Column:
        counts = live & F.col(column).isNotNull() if ignore_null_updates else live
        return F.max_by(F.col(column), F.when(counts, seq)).alias(column)

    latest_kind = F.max_by(kind, seq)
    return marked.groupBy(*layout.keys).agg(
        *[value(c) for c in layout.values],
        F.max(seq).alias(SEQUENCE),
        F.when(latest_kind == DELETE, F.lit(DELETE)).otherwise(F.lit(UPSERT)).alias(KIND),
    )


def fold_scd2(events: DataFrame, layout: ChangeLayout, ignore_null_updates: bool) -> DataFrame:
    """Every version of each key, re-derived from its events in sequence order.

    A version opens at an event when the key had no live row or a tracked column
    changes (null-safe); other changes update the open version in place. It closes at
    the sequence of the next version or of the delete that ends it, so versions are
    contiguous unless a delete separates them. ``_sequence`` is the last event folded in.
    """
    keys, seq, kind = layout.keys, F.col(SEQUENCE), F.col(KIND)
    ordered = Window.partitionBy(*keys).orderBy(SEQUENCE)
    so_far = ordered.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    live = kind != DELETE
    barrier = F.last(F.when(kind.isin(STORED, DELETE), seq), ignorenulls=True).over(so_far)

    def state(column: str) -> Column:
        if not ignore_null_updates:
            return F.col(column)
        given = live & F.col(column).isNotNull()
        since = F.last(F.when(given, seq), ignorenulls=True).over(so_far)
        latest = F.last(F.when(given, F.col(column)), ignorenulls=True).over(so_far)
        return F.when(live & (barrier.isNull() | (since >= barrier)), latest)

    stated = events.select(
        *keys, SEQUENCE, live.alias("_cdc_live"), *[state(c).alias(c) for c in layout.values]
    )
    changed = reduce(
        lambda a, b: a | b,
        [~F.col(c).eqNullSafe(F.lag(c).over(ordered)) for c in layout.tracked],
        F.lit(False),
    )
    was_live = F.coalesce(F.lag("_cdc_live").over(ordered), F.lit(False))
    marked = stated.withColumns({
        "_cdc_opens": F.col("_cdc_live") & (~was_live | changed),
        "_cdc_next": F.lead(SEQUENCE).over(ordered),
    }).withColumn("_cdc_version", F.sum(F.col("_cdc_opens").cast("int")).over(so_far))
    versions = (
        marked.filter("_cdc_live")
        .groupBy(*keys, "_cdc_version")
        .agg(
            F.min(SEQUENCE).alias(VALID_FROM),
            F.max_by(F.col("_cdc_next"), seq).alias(VALID_TO),
            F.max(SEQUENCE).alias("_cdc_last"),
            F.max_by(F.struct(*layout.values), seq).alias("_cdc_values"),
        )
    )
    rows = versions.select(
        *keys,
        *[F.col(f"_cdc_values.{c}").alias(c) for c in layout.values],
        VALID_FROM,
        VALID_TO,
        F.col(VALID_TO).isNull().alias(IS_CURRENT),
        F.col("_cdc_last").alias(SEQUENCE),
    )
    if layout.surrogate_key:
        key = version_key(keys, VALID_FROM, layout.sequence_type).alias(layout.surrogate_key)
        rows = rows.select(key, *rows.columns)
    return rows


def latest_deletes(events: DataFrame, layout: ChangeLayout) -> DataFrame:
    """``keys`` + ``_sequence`` of the keys whose latest event is a delete (their tombstones)."""
    latest = events.groupBy(*layout.keys).agg(
        F.max_by(F.col(KIND), F.col(SEQUENCE)).alias(KIND), F.max(SEQUENCE).alias(SEQUENCE)
    )
    return latest.filter(F.col(KIND) == DELETE).select(*layout.keys, SEQUENCE)


def compute_changes(
    changes: DataFrame,
    spec: ChangeSpec,
    target: DataFrame | None = None,
    tombstones: DataFrame | None = None,
) -> ChangeResult:
    """What the keys touched by ``changes`` hold after applying them (pure, no I/O).

    Args:
        changes: the batch of change rows (keys and ``sequence_by`` never null).
        spec: the options, see :mod:`etl_lib.changes`.
        target: the target table as stored (None when it does not exist yet).
        tombstones: ``keys`` + ``_sequence`` of keys deleted last (None: none kept).

    Example:
        >>> spec = ChangeSpec(keys=("id",), sequence_by="seq", apply_as_deletes="op = 'D'",
        ...                   except_column_list=("op", "seq"), stored_as_scd_type=2)
        >>> history = compute_changes(batch, spec, target=stored).rows
    """
    layout = resolve_layout(spec, changes.schema)
    new = change_events(changes, spec, layout)
    touched = new.select(*layout.keys).distinct()
    events = new
    if target is not None:
        rows = target.join(touched, list(layout.keys), "left_semi")
        events = events.unionByName(stored_events(rows, layout), allowMissingColumns=True)
    if tombstones is not None:
        dead = tombstones.join(touched, list(layout.keys), "left_semi")
        events = events.unionByName(tombstone_events(dead, layout), allowMissingColumns=True)
    events = one_event_per_sequence(events, layout)
    if layout.scd_type == 1:
        folded = fold_scd1(events, layout, spec.ignore_null_updates)
        result = folded.filter(F.col(KIND) == UPSERT).select(*layout.target_columns)
    else:
        result = fold_scd2(events, layout, spec.ignore_null_updates)
    return ChangeResult(rows=result, tombstones=latest_deletes(events, layout), keys=touched)


def sequence_text(column: Column, data_type: DataType) -> Column:
    """Canonical text of a sequence value: ``yyyy-MM-dd``, ``yyyy-MM-dd'T'HH:mm:ss.SSSSSS`` (UTC)
    or the plain cast to string."""
    if isinstance(data_type, (TimestampType, TimestampNTZType)):
        return F.date_format(column, "yyyy-MM-dd'T'HH:mm:ss.SSSSSS")
    if isinstance(data_type, DateType):
        return F.date_format(column, "yyyy-MM-dd")
    return column.cast("string")


def version_key(keys: Sequence[str], valid_from: str, sequence_type: DataType) -> Column:
    """The SCD2 surrogate key of a version: stable, no sort, no lookup table.

    ``xxhash64`` (seed 42, Spark's default) of the UTF-8 text
    ``key1 \\x1f key2 ... \\x1f <valid_from as sequence_text>``; -1 (the unknown member) becomes -2.
    """
    parts = [F.col(k).cast("string") for k in keys]
    text = F.concat_ws(_KEY_SEPARATOR, *parts, sequence_text(F.col(valid_from), sequence_type))
    hashed = F.xxhash64(text)
    return F.when(hashed == UNKNOWN_KEY, F.lit(-2).cast("long")).otherwise(hashed)


def snapshot_spec(
    keys: Sequence[str],
    stored_as_scd_type: int,
    track_history_column_list: Sequence[str] | None = None,
    track_history_except_column_list: Sequence[str] | None = None,
    surrogate_key: str | None = None,
) -> ChangeSpec:
    """The ChangeSpec that applies the change rows of :func:`snapshot_changes`."""
    return ChangeSpec(
        keys=tuple(keys),
        sequence_by=SNAPSHOT_VERSION,
        stored_as_scd_type=stored_as_scd_type,
        apply_as_deletes=f"{SNAPSHOT_OP} = '{DELETE}'",
        except_column_list=(SNAPSHOT_VERSION, SNAPSHOT_OP),
        track_history_column_list=track_history_column_list,
        track_history_except_column_list=track_history_except_column_list,
        surrogate_key=surrogate_key,
    )


def snapshot_changes(
    current: DataFrame | None,
    snapshot: DataFrame,
    keys: Sequence[str],
    version: date | datetime | int,
) -> DataFrame:
    """Change rows turning ``current`` into ``snapshot``, all at sequence ``version``.

    A key new to the target or with any column changed (null-safe) is an upsert; a key of
    ``current`` missing from ``snapshot`` is a delete. Rows of ``current`` with a null key
    (an unknown member) are not managed and never deleted. ``current`` holds the live rows
    (SCD2: ``is_current``) with at least the snapshot's columns.
    """
    if isinstance(version, bool) or not isinstance(version, (date, datetime, int)):
        raise ChangesInputError(
            f"snapshot_version must be a date, timestamp or int, not {version!r}")
    missing = [k for k in keys if k not in snapshot.columns]
    if missing:
        raise ChangesInputError(
            f"apply_changes_from_snapshot: keys not in the snapshot: {', '.join(missing)}")
    values = [c for c in snapshot.columns if c not in keys]
    stamp = F.lit(version).cast("long") if isinstance(version, int) else F.lit(version)
    fresh = snapshot.select(*keys, *values, F.lit(True).alias("_cdc_in_snapshot"))
    if current is None:
        changed = fresh
    else:
        known = current.filter(reduce(lambda a, b: a & b, [F.col(k).isNotNull() for k in keys]))
        old = known.select(
            *keys, *[F.col(c).alias(f"_cdc_old_{c}") for c in values],
            F.lit(True).alias("_cdc_in_target"),
        )
        joined = fresh.join(old, list(keys), "full_outer")
        differs = reduce(
            lambda a, b: a | b,
            [~F.col(c).eqNullSafe(F.col(f"_cdc_old_{c}")) for c in values],
            F.lit(False),
        )
        in_snapshot = F.col("_cdc_in_snapshot").isNotNull()
        changed = joined.filter(
            (in_snapshot & (F.col("_cdc_in_target").isNull() | differs)) | ~in_snapshot
        )
    op = F.when(F.col("_cdc_in_snapshot").isNull(), F.lit(DELETE)).otherwise(F.lit(UPSERT))
    return changed.select(*keys, *values, stamp.alias(SNAPSHOT_VERSION), op.alias(SNAPSHOT_OP))


def member_key_at(
    facts: DataFrame, dimension: DataFrame, natural_key: str, key_column: str, at: str
) -> DataFrame:
    """Add ``key_column`` from ``dimension``: of an SCD2 dimension (``valid_from`` present)
    the version valid at ``facts[at]`` (:func:`as_of_lookup`), else the member's one row.

    Linking by time, not to the current version, keeps a fact's key the same when its day
    is reprocessed after the member has changed.
    """
    if VALID_FROM in dimension.columns:
        return as_of_lookup(facts, dimension, natural_key, key_column, at)
    return lookup_key(facts, dimension, natural_key, key_column)


def as_of_lookup(
    facts: DataFrame,
    versions: DataFrame,
    natural_key: str,
    key_column: str,
    at: str,
    dimension_natural_key: str | None = None,
    broadcast: bool = True,
) -> DataFrame:
    """Add ``key_column``: the SCD2 version of the member valid at ``facts[at]``.

    Each member's versions cover its whole timeline for lookups: a version from its
    ``valid_from`` to the next version's ``valid_from`` (so the last version also covers
    time after a delete), and the first version from the beginning of time (a fact older
    than the member's first version, a late-arriving member, links to that version). So
    every fact whose member exists links to exactly one version, and no row is ever
    duplicated or dropped; a fact with no member (or a null key) gets UNKNOWN_KEY.
    """
    dim_key = dimension_natural_key or natural_key
    ordered = Window.partitionBy(dim_key).orderBy(VALID_FROM)
    at_type = facts.schema[at].dataType
    ranges = versions.filter(F.col(dim_key).isNotNull()).select(
        F.col(dim_key).alias("_lookup_natural_key"),
        F.col(key_column).alias("_lookup_key"),
        F.when(F.row_number().over(ordered) > 1, F.col(VALID_FROM))
        .cast(at_type).alias("_lookup_from"),
        F.lead(VALID_FROM).over(ordered).cast(at_type).alias("_lookup_to"),
    )
    if broadcast:
        ranges = F.broadcast(ranges)
    moment = facts[at]
    condition = (
        (facts[natural_key] == ranges["_lookup_natural_key"])
        & (ranges["_lookup_from"].isNull() | (moment >= ranges["_lookup_from"]))
        & (ranges["_lookup_to"].isNull() | (moment < ranges["_lookup_to"]))
    )
    joined = facts.join(ranges, condition, "left")
    return joined.withColumn(
        key_column, F.coalesce(F.col("_lookup_key"), F.lit(UNKNOWN_KEY).cast("long"))
    ).drop("_lookup_natural_key", "_lookup_key", "_lookup_from", "_lookup_to")
