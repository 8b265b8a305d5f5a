"""Nested JSON made tabular: a generic flatten, schema-drift reports, type-conflict reasons.

Naming rule (stable, documented in docs/semistructured.md): a nested field's column name is
its path joined with a double underscore, ``category.name`` -> ``category__name``,
``price.amount`` -> ``price__amount``; an exploded array adds ``<array>__pos`` (0-based)
and its elements' fields (``images__url``); an exploded map gives ``<map>__key`` and
``<map>__value``; a promoted map key is ``<map>__<key>``. Top-level names are unchanged.
A double underscore never occurs in the contract's field names, so the rule cannot clash
with a real field (a clash raises :class:`FlattenError`).

Config paths (``FlattenSpec.modes``) and drift reports use dotted source paths
(``category.level``); a field inside an array's elements is addressed through the array's
name (``images.url``).

Everything here is built from Spark built-ins: no Python UDF runs.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import TYPE_CHECKING, Literal

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    DataType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
)

from etl_lib.io.files import RAW_RECORD, glob_files
from etl_lib.io.warehouse import Warehouse
from etl_lib.landing import DATASETS
from etl_lib.quality.metrics import TableOutcomes, metrics_frame, write_metrics
from etl_lib.quality.outcome import CheckOutcome
from etl_lib.validation import Rule

if TYPE_CHECKING:
    from etl_lib.job import JobContext

__all__ = [
    "DRIFT_SCHEMA",
    "FlattenError",
    "FlattenSpec",
    "Mode",
    "SEPARATOR",
    "column_name",
    "conflict_rules",
    "drift_outcome",
    "flatten",
    "read_json_text",
    "record_drift",
    "report_landing_drift",
    "unknown_fields",
]

SEPARATOR = "__"
#: ``flatten`` (structs only), ``keep`` as is, ``json`` text, ``explode`` (arrays and maps).
Mode = Literal["flatten", "keep", "json", "explode"]
#: What :func:`unknown_fields` returns and METADATA.SCHEMA_DRIFT holds (plus date and run).
DRIFT_SCHEMA = StructType([
    StructField("dataset", StringType(), False),
    StructField("field_path", StringType(), False),
    StructField("record_count", LongType(), False),
])
#: At most this many distinct unknown paths are collected for the log and the drift table.
MAX_REPORTED_PATHS = 1000

_DEFAULT_MODE = {StructType: "flatten", ArrayType: "keep", MapType: "json"}
_ALLOWED_MODES = {
    StructType: {"flatten", "keep", "json"},
    ArrayType: {"keep", "json", "explode"},
    MapType: {"keep", "json", "explode"},
}


class FlattenError(ValueError):
    """A flatten spec that does not fit the frame; the message says which path and why."""


@dataclass(frozen=True)
class FlattenSpec:
    """How :func:`flatten` treats nested fields, by dotted source path.

    Defaults: structs are flattened, arrays kept, maps written as JSON text (keys sorted,
    so the same map always gives the same text).

    Attributes:
        modes: path -> ``flatten`` | ``keep`` | ``json`` | ``explode``; at most one path
            may be exploded per call (two explodes would multiply rows).
        map_keys: map path -> keys promoted to their own ``<map>__<key>`` columns, on top
            of what the map's mode produces.
        separator: joins path parts into column names.

    Example:
        >>> spec = FlattenSpec(modes={"images": "explode"}, map_keys={"metadata": ["source"]})
    """

    modes: Mapping[str, Mode] = field(default_factory=dict)
    map_keys: Mapping[str, Sequence[str]] = field(default_factory=dict)
    separator: str = SEPARATOR

    def mode_for(self, path: str, data_type: DataType) -> str:
        kind = _kind(data_type)
        return self.modes.get(path, _DEFAULT_MODE[kind]) if kind else "keep"


def column_name(path: str, separator: str = SEPARATOR) -> str:
    """The flattened column name of a dotted source path: ``price.amount`` -> ``price__amount``."""
    return path.replace(".", separator)


def flatten(df: DataFrame, spec: FlattenSpec = FlattenSpec()) -> DataFrame:
    """Nested columns of ``df`` turned into flat ones by the naming rule and ``spec``.

    Rows are kept one for one, except for an exploded array or map: one row per element
    (``explode_outer``: a null or empty one still gives one row, with null element columns).

    Raises:
        FlattenError: a spec path the schema does not have, a mode the type does not allow,
            more than one explode, or two fields that would get the same column name.

    Example:
        >>> flatten(products).columns[:4]
        ['product_id', 'name', 'category__name', 'category__subcategory']
    """
    _check_spec(df.schema, spec)
    planner = _Planner(spec)
    columns = [
        col
        for f in df.schema.fields
        for col in planner.expand(f.dataType, f.name, f.name, F.col(_quote(f.name)))
    ]
    flat = df.select(*columns)
    if planner.exploded is None:
        _check_unique(flat.columns)
        return flat
    name, data_type, path = planner.exploded
    others = [F.col(_quote(c)) for c in flat.columns if c != name]
    sep = spec.separator
    if isinstance(data_type, MapType):
        out = flat.select(*others, F.explode_outer(F.col(_quote(name))).alias(
            f"{name}{sep}key", f"{name}{sep}value"))
    else:
        element = "_flatten_element"
        exploded = flat.select(*others, F.posexplode_outer(F.col(_quote(name))).alias(
            f"{name}{sep}pos", element))
        element_columns = planner.expand_element(
            data_type.elementType, path, name, F.col(element))
        out = exploded.select(*[c for c in exploded.columns if c != element], *element_columns)
    _check_unique(out.columns)
    return out


class _Planner:
    """Builds the select list; remembers the one array or map to explode."""

    def __init__(self, spec: FlattenSpec) -> None:
        self.spec = spec
        self.exploded: tuple[str, DataType, str] | None = None

    def expand(self, data_type: DataType, path: str, name: str, column: Column) -> list[Column]:
        mode = self.spec.mode_for(path, data_type)
        promoted = [
            column.getItem(key).alias(f"{name}{self.spec.separator}{key}")
            for key in self.spec.map_keys.get(path, ())
        ]
        if mode == "flatten":
            return self._struct_fields(data_type, path, name, column)
        if mode == "json":
            return [_to_json(column, data_type).alias(name), *promoted]
        if mode == "explode":
            self.exploded = (name, data_type, path)
        return [column.alias(name), *promoted]

    def expand_element(
        self, data_type: DataType, path: str, name: str, column: Column
    ) -> list[Column]:
        """Columns of one exploded array element (a struct's fields are flattened)."""
        if isinstance(data_type, StructType):
            return self._struct_fields(data_type, path, name, column)
        return self.expand(data_type, f"{path}[]", name, column)

    def _struct_fields(
        self, struct: StructType, path: str, name: str, column: Column
    ) -> list[Column]:
        sep = self.spec.separator
        return [
            col
            for f in struct.fields
            for col in self.expand(
                f.dataType, f"{path}.{f.name}", f"{name}{sep}{f.name}", column.getField(f.name))
        ]


def _to_json(column: Column, data_type: DataType) -> Column:
    """JSON text; a map's keys are sorted first, so the same map always gives the same text."""
    if isinstance(data_type, MapType):
        column = F.map_from_entries(F.array_sort(F.map_entries(column)))
    return F.to_json(column)


def _kind(data_type: DataType) -> type | None:
    for kind in (StructType, ArrayType, MapType):
        if isinstance(data_type, kind):
            return kind
    return None


def _quote(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _paths(schema: StructType, prefix: str = "") -> Iterator[tuple[str, DataType]]:
    """Every (dotted path, type) of the schema, walking into structs and array elements."""
    for f in schema.fields:
        path = f"{prefix}{f.name}"
        yield path, f.dataType
        nested = f.dataType
        while isinstance(nested, ArrayType):
            nested = nested.elementType
        if isinstance(nested, StructType):
            yield from _paths(nested, f"{path}.")


def _check_spec(schema: StructType, spec: FlattenSpec) -> None:
    types = dict(_paths(schema))
    for path, mode in spec.modes.items():
        if path not in types:
            raise FlattenError(
                f"flatten: modes[{path!r}]: no such field (known: {', '.join(types)})")
        kind = _kind(types[path])
        if kind is None or mode not in _ALLOWED_MODES[kind]:
            allowed = sorted(_ALLOWED_MODES[kind]) if kind else []
            raise FlattenError(
                f"flatten: modes[{path!r}] = {mode!r} does not apply to "
                f"{types[path].simpleString()}"
                f" (use one of: {', '.join(allowed) or 'nothing, it is not nested'})"
            )
    for path in spec.map_keys:
        if not isinstance(types.get(path), MapType):
            raise FlattenError(f"flatten: map_keys[{path!r}]: not a map field of the frame")
    explodes = [p for p, m in spec.modes.items() if m == "explode"]
    if len(explodes) > 1:
        raise FlattenError(
            f"flatten: explode at most one array or map per call, not {', '.join(explodes)}: "
            "keep or json the others, or flatten in two steps"
        )


def _check_unique(columns: Sequence[str]) -> None:
    counts: dict[str, int] = {}
    for column in columns:
        counts[column] = counts.get(column, 0) + 1
    clashes = sorted(c for c, n in counts.items() if n > 1)
    if clashes:
        raise FlattenError(
            f"flatten: several fields map to the column(s) {', '.join(clashes)}: rename one "
            "upstream or keep/json its parent"
        )


# --------------------------------------------------------------------------- type conflicts


def conflict_rules(
    schema: StructType, raw: str = RAW_RECORD, separator: str = SEPARATOR
) -> list[Rule]:
    """Rules naming why the reader could not parse a record (rows with ``raw`` set).

    * ``malformed_json``: the raw text is not one JSON object;
    * ``<column>_type_conflict``: a known field holds a value of another JSON type
      (``"rating": "five"`` for an int gives ``rating_type_conflict``). A struct is
      judged whole (``price_type_conflict`` when ``price`` is not an object) and each of
      its fields too (``price__amount_type_conflict``); arrays and maps are judged whole
      (``images_type_conflict``).

    Each rule is false for rows the reader parsed, so they can join any rule list.
    """
    text = F.col(raw)
    is_object = F.json_object_keys(text).isNotNull()
    rules = [Rule("malformed_json", text.isNotNull() & ~is_object)]
    for parts, data_type in _fields(schema):
        json_path = "$" + "".join(f"['{p}']" for p in parts)
        single = _single_path_schema(parts, data_type)
        parsed: Column = F.from_json(text, single)
        for part in parts:
            parsed = parsed.getField(part)
        conflict = (
            text.isNotNull() & is_object
            & F.get_json_object(text, json_path).isNotNull() & parsed.isNull()
        )
        rules.append(Rule(f"{separator.join(parts)}_type_conflict", conflict))
    return rules


def _fields(
    schema: StructType, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], DataType]]:
    """Every field's (path parts, type), a struct before its children."""
    for f in schema.fields:
        if f.name == RAW_RECORD:
            continue
        parts = (*prefix, f.name)
        yield parts, f.dataType
        if isinstance(f.dataType, StructType):
            yield from _fields(f.dataType, parts)


def _single_path_schema(parts: tuple[str, ...], leaf: DataType) -> StructType:
    data_type: DataType = leaf
    for part in reversed(parts):
        data_type = StructType([StructField(part, data_type, True)])
    return data_type  # type: ignore[return-value]


# --------------------------------------------------------------------------- drift


def read_json_text(spark: SparkSession, paths: Sequence[str]) -> DataFrame:
    """The raw lines of JSON Lines files as one ``value`` string column (no parsing)."""
    return spark.read.text(list(paths)).filter(F.trim("value") != "")


def unknown_fields(
    lines: DataFrame, schema: StructType, dataset: str, text: str = "value"
) -> DataFrame:
    """Keys in the raw JSON that ``schema`` does not know: ``(dataset, field_path, record_count)``.

    Walks the JSON text of every line (top-level objects, nested objects, objects inside
    arrays) with ``json_object_keys``; ``record_count`` is how many lines carry the key.
    Only the top of an unknown subtree is reported (``supplier``, not ``supplier.id``);
    map fields are free-form by contract and never drift. Malformed lines report nothing
    (they are rejected elsewhere).

    Example:
        >>> unknown_fields(read_json_text(spark, paths), PRODUCTS_SCHEMA, "products")
        # rows like ('products', 'category.level', 12)
    """
    paths = _unknown_paths(F.col(text), schema, "")
    return (
        lines.select(F.explode(F.array_distinct(paths)).alias("field_path"))
        .groupBy("field_path")
        .agg(F.count(F.lit(1)).alias("record_count"))
        .select(F.lit(dataset).alias("dataset"), "field_path", "record_count")
    )


def _no_paths() -> Column:
    return F.array().cast(ArrayType(StringType()))


def _unknown_paths(text: Column, data_type: DataType, path: str) -> Column:
    """array<string> of unknown dotted paths in the JSON ``text`` of a ``data_type`` value."""
    if isinstance(data_type, StructType):
        prefix = f"{path}." if path else ""
        known = F.array(*[F.lit(f.name) for f in data_type.fields])
        unknown = F.transform(
            F.array_except(F.json_object_keys(text), known),
            lambda key: F.concat(F.lit(prefix), key),
        )
        parts = [F.coalesce(unknown, _no_paths())]
        for f in data_type.fields:
            if _has_struct(f.dataType):
                child = F.get_json_object(text, f"$['{f.name}']")
                parts.append(_unknown_paths(child, f.dataType, f"{prefix}{f.name}"))
        return F.concat(*parts)
    if isinstance(data_type, ArrayType) and _has_struct(data_type.elementType):
        elements = F.from_json(text, ArrayType(StringType()))
        nested = F.transform(elements, lambda e: _unknown_paths(e, data_type.elementType, path))
        return F.coalesce(F.flatten(nested), _no_paths())
    return _no_paths()


def _has_struct(data_type: DataType) -> bool:
    while isinstance(data_type, ArrayType):
        data_type = data_type.elementType
    return isinstance(data_type, StructType)


def record_drift(
    warehouse: Warehouse, table: str, report: DataFrame, business_date: date, log: logging.Logger
) -> dict[str, int]:
    """Log a warning for unknown fields and upsert them into ``table``; return path -> count.

    ``table`` (METADATA.SCHEMA_DRIFT) is keyed by (dataset, business_date, field_path), so a
    rerun updates its rows. The report is small (distinct paths); at most
    ``MAX_REPORTED_PATHS`` are collected. Nothing is written when no field is unknown.
    """
    rows = report.orderBy("dataset", "field_path").limit(MAX_REPORTED_PATHS).collect()
    found = {row.field_path: int(row.record_count) for row in rows}
    if not found:
        return found
    dataset = rows[0].dataset
    log.warning(
        "schema drift in %s on %s: %d field(s) not in the landing contract: %s",
        dataset, business_date, len(found),
        ", ".join(f"{path} ({count} records)" for path, count in found.items()),
    )
    frame = report.sparkSession.createDataFrame(
        [(r.dataset, business_date, r.field_path, int(r.record_count)) for r in rows],
        "dataset string, business_date date, field_path string, record_count long",
    )
    warehouse.merge(frame, table, keys=["dataset", "business_date", "field_path"])
    return found


def drift_outcome(found: Mapping[str, int]) -> CheckOutcome:
    """The QUALITY_METRICS verdict of a drift report: WARN naming the unknown fields, or PASS.

    ``error_count`` is the number of unknown field paths; ``details`` gives each with the
    number of records carrying it.
    """
    listed = ", ".join(f"{path} ({count} records)" for path, count in sorted(found.items()))
    return CheckOutcome(
        check_name="schema_drift", check_type="schema_drift", severity="warn",
        status="WARN" if found else "PASS", error_count=len(found),
        details=f"fields not in the landing contract: {listed}" if found else "no unknown fields",
    )


def report_landing_drift(
    ctx: JobContext, dataset: str, schema: StructType, staged_table: str | None = None
) -> dict[str, int]:
    """Compare the run day's landing JSON of ``dataset`` with ``schema``; record what is unknown.

    Reads the day's files once more as plain text (no JSON parsing by the reader), hands
    the report to :func:`record_drift` (table ``schema_drift`` in conf) and, unless quality
    gates are switched off, writes one ``schema_drift`` row (warn) to QUALITY_METRICS for
    ``staged_table`` (logical name, default ``stg_<dataset>``), layer ``landing``.
    Returns field path -> records carrying it.
    """
    spec = DATASETS[dataset]
    paths = glob_files(ctx.spark, spec.paths_for(ctx.config.landing.root, ctx.run_date))
    if not paths:
        return {}
    report = unknown_fields(read_json_text(ctx.spark, paths), schema, dataset)
    found = record_drift(ctx.warehouse, ctx.table("schema_drift"), report, ctx.run_date, ctx.log)
    quality = ctx.config.quality
    if quality.enabled:
        outcomes = TableOutcomes(
            ctx.table(staged_table or f"stg_{dataset}"), "landing", None, [drift_outcome(found)])
        run_time = datetime.now(timezone.utc)
        frame = metrics_frame(ctx.spark, [outcomes], ctx.run_id, ctx.run_date, run_time)
        write_metrics(ctx.warehouse, ctx.table(quality.metrics_table), frame)
    return found
