"""Row-level rules (not_null, unique, accepted_values, regex, range) run by Great Expectations 1.x.

One ephemeral GX context per process (importing GX and building it costs seconds); one
suite and validation definition per table and rule set, built once from conf and reused.
The frame is passed at run time as a whole-dataframe batch, so GX computes its metrics
with Spark on the (cached) frame, never through pandas. Only counts are requested
(``partial_unexpected_count: 0``): unexpected-value samples cost GX extra Spark jobs.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from pyspark.sql import DataFrame

from etl_lib.quality.outcome import CheckOutcome, judge
from etl_lib.quality.rules import ROW_CHECKS

__all__ = ["expectation_for", "run_row_checks"]

RESULT_FORMAT = {"result_format": "BASIC", "partial_unexpected_count": 0}
#: Validation definitions by "<table>-<digest of its rules>", built on first use.
_DEFINITIONS: dict[str, Any] = {}


def expectation_for(rule) -> Any:
    """The GX expectation for one row-level check, tagged with its check name in ``meta``."""
    import great_expectations as gx

    expectations = gx.expectations
    common = {"mostly": rule.mostly, "meta": {"check_name": rule.check_name}}
    if rule.check == "not_null":
        return expectations.ExpectColumnValuesToNotBeNull(column=rule.columns[0], **common)
    if rule.check == "unique":
        if len(rule.columns) == 1:
            return expectations.ExpectColumnValuesToBeUnique(column=rule.columns[0], **common)
        return expectations.ExpectCompoundColumnsToBeUnique(
            column_list=list(rule.columns), **common
        )
    if rule.check == "accepted_values":
        return expectations.ExpectColumnValuesToBeInSet(
            column=rule.column, value_set=list(rule.values), **common
        )
    if rule.check == "regex":
        return expectations.ExpectColumnValuesToMatchRegex(
            column=rule.column, regex=rule.pattern, **common
        )
    if rule.check == "range":
        return expectations.ExpectColumnValuesToBeBetween(
            column=rule.column, min_value=rule.min, max_value=rule.max, **common
        )
    raise ValueError(f"{rule.check!r} is not a row-level check (those are {sorted(ROW_CHECKS)})")


def run_row_checks(table: str, rules: Sequence, df: DataFrame) -> list[CheckOutcome]:
    """Validate ``df`` against ``rules`` in GX; one outcome per rule, in rule order.

    An expectation GX could not evaluate counts as violated, with GX's message as details.
    """
    if not rules:
        return []
    definition = _validation_definition(table, rules)
    result = definition.run(batch_parameters={"dataframe": df}, result_format=RESULT_FORMAT)
    by_name = {r.expectation_config.meta["check_name"]: r for r in result.results}
    return [_outcome(rule, by_name[rule.check_name]) for rule in rules]


def _outcome(rule, result) -> CheckOutcome:
    info = result.exception_info or {}
    if info.get("raised_exception"):
        message = str(info.get("exception_message", "unknown error")).splitlines()[0]
        return judge(rule, 0, f"Great Expectations could not evaluate it: {message}", violated=True)
    unexpected = int(result.result.get("unexpected_count") or 0)
    checked = int(result.result.get("element_count") or 0)
    share = unexpected / checked * 100 if checked else 0.0
    what = "rows in duplicate groups" if rule.check == "unique" else "rows unexpected"
    details = f"{unexpected} of {checked} {what} ({share:.2f}%)"
    if rule.mostly < 1:
        details += f"; at most {(1 - rule.mostly) * 100:g}% allowed"
    return judge(rule, unexpected, details, violated=not result.success)


def _digest(rules: Sequence) -> str:
    payload = json.dumps([r.model_dump(mode="json") for r in rules], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:12]


def _validation_definition(table: str, rules: Sequence) -> Any:
    """A validation definition for ``table`` and this rule set, built once per process."""
    name = f"{table}-{_digest(rules)}"
    if name not in _DEFINITIONS:
        _DEFINITIONS[name] = _build_definition(name, rules)
    return _DEFINITIONS[name]


def _build_definition(name: str, rules: Sequence) -> Any:
    import great_expectations as gx

    context, datasource = _context()
    asset = datasource.add_dataframe_asset(name)
    batch = asset.add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(
        gx.ExpectationSuite(name=name, expectations=[expectation_for(r) for r in rules])
    )
    return context.validation_definitions.add(
        gx.ValidationDefinition(name=name, data=batch, suite=suite)
    )


@lru_cache(maxsize=1)
def _context() -> tuple[Any, Any]:
    """The process's ephemeral GX context and Spark datasource (no analytics, no bars)."""
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    logging.getLogger("great_expectations").setLevel(logging.WARNING)
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    return context, context.data_sources.add_spark("etl_quality")
