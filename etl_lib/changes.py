"""What ``apply_changes`` is asked to do: the options of Delta Live Tables' APPLY CHANGES.

A :class:`ChangeSpec` is plain data, validated when built, shared by every warehouse
adapter (Delta applies it with Spark + MERGE, Snowflake with generated SQL).

Semantics (those of DLT APPLY CHANGES INTO):

* ``keys`` identify a row; ``sequence_by`` orders the events of a key. Events older than
  what the target already holds never overwrite newer state; replaying a batch changes
  nothing; duplicates and out-of-order arrival give the same result as in-order replay.
* ``apply_as_deletes``: a SQL boolean expression over the change row (e.g. ``op = 'D'``)
  marking deletes. SCD1 deletes the row; SCD2 closes the current version.
* ``ignore_null_updates``: a null in an update keeps the stored value of that column.
* ``column_list`` / ``except_column_list``: which columns of the change rows are stored.
* ``stored_as_scd_type``: 1 (current state) or 2 (history with ``valid_from``,
  ``valid_to``, ``is_current`` and a surrogate key stable per version).
* ``track_history_column_list`` / ``track_history_except_column_list`` (SCD2 only): a
  change to other columns updates the current version in place instead of adding one.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["ChangeSpec", "SCD2_COLUMNS"]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

#: Columns SCD2 targets carry besides the tracked ones.
SCD2_COLUMNS = ("valid_from", "valid_to", "is_current")


def _identifiers(name: str, values: Sequence[str] | None) -> tuple[str, ...] | None:
    if values is None:
        return None
    values = tuple(values)
    bad = [v for v in values if not _IDENTIFIER.match(v)]
    if bad:
        raise ValueError(f"ChangeSpec.{name}: not plain identifiers: {', '.join(map(repr, bad))}")
    return values


@dataclass(frozen=True)
class ChangeSpec:
    """The options of one ``apply_changes`` call (see the module docstring)."""

    keys: tuple[str, ...]
    sequence_by: str
    stored_as_scd_type: int = 1
    apply_as_deletes: str | None = None
    ignore_null_updates: bool = False
    column_list: tuple[str, ...] | None = None
    except_column_list: tuple[str, ...] | None = None
    track_history_column_list: tuple[str, ...] | None = None
    track_history_except_column_list: tuple[str, ...] | None = None
    #: SCD2 surrogate key column name (a hash of keys + valid_from), or None for none.
    surrogate_key: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "keys", _identifiers("keys", self.keys))
        for name in ("column_list", "except_column_list", "track_history_column_list",
                     "track_history_except_column_list"):
            object.__setattr__(self, name, _identifiers(name, getattr(self, name)))
        _identifiers("sequence_by", [self.sequence_by])
        if self.surrogate_key is not None:
            _identifiers("surrogate_key", [self.surrogate_key])
        if not self.keys:
            raise ValueError("ChangeSpec.keys: at least one key column is required")
        if self.stored_as_scd_type not in (1, 2):
            raise ValueError("ChangeSpec.stored_as_scd_type: must be 1 or 2")
        if self.column_list is not None and self.except_column_list is not None:
            raise ValueError("ChangeSpec: give column_list or except_column_list, not both")
        tracked = (self.track_history_column_list, self.track_history_except_column_list)
        if all(t is not None for t in tracked):
            raise ValueError(
                "ChangeSpec: give track_history_column_list or track_history_except_column_list, not both"
            )
        if self.stored_as_scd_type == 1 and any(t is not None for t in tracked):
            raise ValueError("ChangeSpec: track_history_* options need stored_as_scd_type=2")
