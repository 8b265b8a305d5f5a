"""Quality rules as conf declares them (``quality:`` in conf/*.yaml), validated at start-up.

Each table lists rules; a rule has a ``check`` kind, its parameters and a ``severity``
(``warn`` records, ``fail`` stops the run). A rule expands into one or more named checks
(``not_null`` with three columns is three checks), and every check writes one
QUALITY_METRICS row::

    quality:
      tables:
        stg_sales:
          rules:
            - {check: not_null, columns: [transaction_id, product_id], severity: fail}
            - {check: accepted_values, column: payment_method, values: [card, cash], severity: warn}
            - {check: relationships, column: product_id, to: dim_product, field: product_id,
               severity: warn}

Row-level kinds (``ROW_CHECKS``) run in Great Expectations; the others are etl_lib code
(see :mod:`etl_lib.quality.checks`). Nulls are only ever ``not_null``'s business: the
other row-level kinds ignore them.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = [
    "AcceptedValues",
    "Continuity",
    "Freshness",
    "LandingBalance",
    "NotNull",
    "Outliers",
    "QualitySettings",
    "Range",
    "Reconcile",
    "Regex",
    "Relationships",
    "RowCountChange",
    "Rule",
    "ROW_CHECKS",
    "TableRules",
    "Unique",
    "VolumeAnomaly",
]

Severity = Literal["warn", "fail"]
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    #: The check's name in QUALITY_METRICS; default ``<check>_<columns>``.
    name: str | None = None
    severity: Severity = "fail"

    @field_validator("name")
    @classmethod
    def _name_is_snake_case(cls, name: str | None) -> str | None:
        if name is not None and not _NAME.match(name):
            raise ValueError(f"check name {name!r} must be snake_case letters, digits and _")
        return name

    @property
    def check_name(self) -> str:
        """The name this check has in QUALITY_METRICS."""
        return self.name or "_".join([self.check, *self.name_parts()])  # type: ignore[attr-defined]

    def name_parts(self) -> list[str]:
        column = getattr(self, "column", None)
        return [column] if column else []

    def expand(self) -> list["_Rule"]:
        """The single-check rules this rule stands for (itself, for most kinds)."""
        return [self]

    def frame_columns(self) -> list[str]:
        """Columns of the checked frame this check reads."""
        return [*getattr(self, "columns", []), *filter(None, [getattr(self, "column", None)])]


class _RowRule(_Rule):
    #: Share of rows that must pass (GX ``mostly``); 1.0 = every row.
    mostly: float = Field(1.0, gt=0, le=1)


class NotNull(_RowRule):
    """No null in each of ``columns`` (one check per column)."""

    check: Literal["not_null"]
    columns: list[str] = Field(min_length=1)

    def name_parts(self) -> list[str]:
        return list(self.columns)

    def expand(self) -> list[_Rule]:
        if len(self.columns) == 1:
            return [self]
        if self.name:
            raise ValueError("not_null with several columns cannot have one name; split the rule")
        return [self.model_copy(update={"columns": [c]}) for c in self.columns]


class Unique(_RowRule):
    """``columns`` together identify a row (GX counts every row of a duplicate group)."""

    check: Literal["unique"]
    columns: list[str] = Field(min_length=1)

    def name_parts(self) -> list[str]:
        return list(self.columns)


class AcceptedValues(_RowRule):
    """Every non-null ``column`` value is one of ``values``."""

    check: Literal["accepted_values"]
    column: str
    values: list[str | int | float | bool] = Field(min_length=1)


class Regex(_RowRule):
    """Every non-null ``column`` value matches ``pattern`` (Java regex, searched, not anchored)."""

    check: Literal["regex"]
    column: str
    pattern: str

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, pattern: str) -> str:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"pattern {pattern!r} is not a regular expression: {exc}") from None
        return pattern


class Range(_RowRule):
    """Every non-null ``column`` value is within [min, max] (either bound may be left out)."""

    check: Literal["range"]
    column: str
    min: float | None = None
    max: float | None = None

    @model_validator(mode="after")
    def _has_a_bound(self) -> "Range":
        if self.min is None and self.max is None:
            raise ValueError("range needs min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"range min {self.min} is above max {self.max}")
        return self


class Relationships(_Rule):
    """Every non-null ``column`` value exists as ``field`` in table ``to`` (a logical name)."""

    check: Literal["relationships"]
    column: str
    to: str
    field: str


class Freshness(_Rule):
    """The latest ``column`` date or timestamp is at most ``max_age_days`` before the run date."""

    check: Literal["freshness"]
    column: str
    max_age_days: int = Field(ge=0)


class RowCountChange(_Rule):
    """Rows checked changed by at most ``max_change_pct`` % against the previous run date."""

    check: Literal["row_count_change"]
    max_change_pct: float = Field(gt=0)


class VolumeAnomaly(_Rule):
    """Rows checked are within ``max_z`` standard deviations of the table's RUN_LOG history.

    History: rows written to the table by the last ``history_runs`` successful run dates
    before this one; with fewer than ``min_history`` of them the check passes, saying so.
    """

    check: Literal["volume_anomaly"]
    max_z: float = Field(3.0, gt=0)
    history_runs: int = Field(14, ge=2)
    min_history: int = Field(3, ge=2)

    @model_validator(mode="after")
    def _enough_runs(self) -> "VolumeAnomaly":
        if self.min_history > self.history_runs:
            raise ValueError(
                f"min_history {self.min_history} exceeds history_runs {self.history_runs}"
            )
        return self


class Reconcile(_Rule):
    """Per ``by`` key, this frame's total equals ``to``'s total (cross-layer reconciliation).

    ``column`` / ``field``: the summed column on each side; left out, rows are counted.
    ``by`` maps this frame's key columns to ``to``'s; only keys present in the frame are
    compared, so a partial rewrite is reconciled against the same slice of ``to``.
    (Not ``on``: YAML reads a bare ``on`` key as true.)
    """

    check: Literal["reconcile"]
    to: str
    by: dict[str, str] = Field(min_length=1)
    column: str | None = None
    field: str | None = None

    def name_parts(self) -> list[str]:
        return [self.column or "rows", self.to]

    def frame_columns(self) -> list[str]:
        return [*self.by, *filter(None, [self.column])]


class Continuity(_Rule):
    """No calendar day is missing between the first and last ``column`` date.

    The dates of the frame and of the stored table are taken together, so a one-day
    rewrite is checked against the history it joins.
    """

    check: Literal["continuity"]
    column: str


class Outliers(_Rule):
    """Flag ``column`` values far from their ``group_by`` group (robust: median/MAD or IQR).

    ``mad``: |0.6745 * (x - median) / MAD| > threshold (Iglewicz-Hoaglin modified z).
    ``iqr``: x outside [Q1 - threshold * IQR, Q3 + threshold * IQR]. ``scale: log`` scores
    log(1 + x) instead of x: right-skewed amounts (many small lines, a few large ones) then
    flag only what is far out in proportion. ``side: high`` (or ``low``) flags only values
    above (below) the group median. Groups with fewer than ``min_group_rows`` rows
    or no spread are not scored. Flagged rows are written to table ``keep_in`` (a logical
    name), replacing the run date's rows.
    """

    check: Literal["outliers"]
    column: str
    group_by: list[str] = Field(min_length=1)
    method: Literal["mad", "iqr"] = "mad"
    scale: Literal["linear", "log"] = "linear"
    side: Literal["both", "high", "low"] = "both"
    threshold: float = Field(3.5, gt=0)
    min_group_rows: int = Field(10, ge=3)
    keep_in: str
    #: Columns of the flagged rows to keep (default: all); a fixed list keeps ``keep_in``'s
    #: schema stable when the checked table gains columns.
    keep_columns: list[str] = Field(default_factory=list)

    def frame_columns(self) -> list[str]:
        return [self.column, *self.group_by, *self.keep_columns]


class LandingBalance(_Rule):
    """Every landing line of the run date is staged, rejected, or superseded by the version of
    its key that won (staged on this day or another).

    Run after the staging writes (``ctx.reconcile_landing``): landing lines = staged +
    ``rejected`` + superseded, counted from the written tables by line ``keys``.
    """

    check: Literal["landing_balance"]
    rejected: str
    keys: list[str] = Field(min_length=1)
    #: The business-date column of the staged and rejected tables.
    date_column: str = "business_date"

    def name_parts(self) -> list[str]:
        return []

    def frame_columns(self) -> list[str]:
        return list(self.keys)


Rule = Annotated[
    Union[NotNull, Unique, AcceptedValues, Regex, Range, Relationships, Freshness,
          RowCountChange, VolumeAnomaly, Reconcile, Continuity, Outliers, LandingBalance],
    Field(discriminator="check"),
]

#: Kinds evaluated by Great Expectations; the rest are etl_lib checks.
ROW_CHECKS = frozenset({"not_null", "unique", "accepted_values", "regex", "range"})


class TableRules(BaseModel):
    """The rules of one table; ``layer`` defaults to the table's schema (staging, curated...)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    layer: str | None = None
    rules: list[Rule] = Field(min_length=1)

    @field_validator("rules")
    @classmethod
    def _expand_with_unique_names(cls, rules: list[_Rule]) -> list[_Rule]:
        expanded = [single for rule in rules for single in rule.expand()]
        seen: set[str] = set()
        for rule in expanded:
            if rule.check_name in seen:
                raise ValueError(
                    f"two checks are named {rule.check_name!r}: give one of them a `name`"
                )
            seen.add(rule.check_name)
        return expanded

    def of_kind(self, *kinds: str) -> list[_Rule]:
        """The checks whose kind is one of ``kinds``, in conf order."""
        return [rule for rule in self.rules if rule.check in kinds]  # type: ignore[attr-defined]


class QualitySettings(BaseModel):
    """``quality:`` in conf: rules per logical table name, and where results go."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: false = gates record nothing and never stop a run (an emergency switch, not a habit).
    enabled: bool = True
    #: Logical table (in ``tables``) that receives one row per check.
    metrics_table: str = "quality_metrics"
    #: Logical table name -> its rules.
    tables: dict[str, TableRules] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _outlier_tables_are_distinct(self) -> "QualitySettings":
        targets = [
            rule.keep_in for rules in self.tables.values() for rule in rules.of_kind("outliers")
        ]
        duplicates = sorted({t for t in targets if targets.count(t) > 1})
        if duplicates:
            raise ValueError(f"outliers checks share keep_in table(s) {duplicates}: use one each")
        return self

    def referenced_tables(self) -> set[str]:
        """Every logical table name the rules mention (checked against conf ``tables``)."""
        names = {self.metrics_table, *self.tables}
        for rules in self.tables.values():
            for rule in rules.rules:
                for attribute in ("to", "keep_in", "rejected"):
                    value = getattr(rule, attribute, None)
                    if value:
                        names.add(value)
        return names
