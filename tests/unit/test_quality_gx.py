"""Row-level rule kinds through Great Expectations 1.x on Spark frames.

One suite holds a check of every kind and runs once (GX costs seconds per run) on a frame
where some checks hold and others break; each test reads its kind's outcomes.
"""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

import pytest

from etl_lib.quality.gx_runner import RESULT_FORMAT, _outcome, expectation_for, run_row_checks
from etl_lib.quality.rules import TableRules

RULES = TableRules.model_validate({"rules": [
    {"check": "not_null", "columns": ["id", "store_id"], "severity": "fail"},
    {"check": "not_null", "columns": ["customer_id"], "mostly": 0.5, "severity": "fail"},
    {"check": "unique", "columns": ["id"], "severity": "fail"},
    {"check": "unique", "columns": ["store_id", "line"], "severity": "warn"},
    {"check": "accepted_values", "column": "payment", "values": ["card", "cash"],
     "severity": "warn"},
    {"check": "regex", "column": "store_id", "pattern": r"^S\d{3}$", "severity": "warn"},
    {"check": "range", "column": "amount", "min": 0, "max": 100, "severity": "fail"},
]}).rules
SCHEMA = ("id int, store_id string, line int, customer_id string, payment string, "
          "amount decimal(12,2)")
ROWS = [
    (1, "S001", 1, "C1", "card", Decimal("10.00")),
    (2, "S001", 1, None, "cash", Decimal("100.00")),   # duplicate store/line; null customer
    (2, "S002", 1, "C3", "voucher", Decimal("-1.00")),  # duplicate id; payment and amount out
    (None, "s9", 2, "C4", None, Decimal("250.00")),     # null id; bad store id; amount out
]


@pytest.fixture(scope="module")
def outcomes(spark):
    """Outcomes by check name, in the order GX returned them."""
    frame = spark.createDataFrame(ROWS, SCHEMA).cache()
    found = run_row_checks("TEST.GX_RULES", RULES, frame)
    frame.unpersist()
    return {o.check_name: o for o in found}


def verdict(outcomes, name):
    o = outcomes[name]
    return o.status, o.error_count


def test_outcomes_follow_rule_order_and_names(outcomes):
    assert list(outcomes) == [r.check_name for r in RULES]


def test_not_null(outcomes):
    assert verdict(outcomes, "not_null_id") == ("FAIL", 1)
    assert verdict(outcomes, "not_null_store_id") == ("PASS", 0)
    assert outcomes["not_null_id"].details == "1 of 4 rows unexpected (25.00%)"


def test_not_null_mostly_tolerates_a_share(outcomes):
    assert verdict(outcomes, "not_null_customer_id") == ("PASS", 1)  # 1 of 4 <= 50 %
    assert "at most 50% allowed" in outcomes["not_null_customer_id"].details


def test_unique_single_and_compound(outcomes):
    assert verdict(outcomes, "unique_id") == ("FAIL", 2)  # both rows of the group
    assert verdict(outcomes, "unique_store_id_line") == ("WARN", 2)


def test_accepted_values_ignores_nulls(outcomes):
    assert verdict(outcomes, "accepted_values_payment") == ("WARN", 1)


def test_regex(outcomes):
    assert verdict(outcomes, "regex_store_id") == ("WARN", 1)


def test_range_counts_both_sides(outcomes):
    assert verdict(outcomes, "range_amount") == ("FAIL", 2)


def test_expectations_carry_their_check_name():
    expectation = expectation_for(RULES[-1])
    assert type(expectation).__name__ == "ExpectColumnValuesToBeBetween"
    assert expectation.meta == {"check_name": "range_amount"}
    assert RESULT_FORMAT["partial_unexpected_count"] == 0  # counts only: samples cost Spark jobs
    with pytest.raises(ValueError, match="not a row-level check"):
        expectation_for(SimpleNamespace(check="freshness", mostly=1.0, check_name="x"))


def test_an_expectation_gx_could_not_evaluate_is_a_violation():
    crashed = SimpleNamespace(
        exception_info={"raised_exception": True, "exception_message": "column 'x' not found\n..."},
        success=False, result={},
    )
    outcome = _outcome(RULES[0], crashed)
    assert (outcome.status, outcome.error_count) == ("FAIL", 0)
    assert outcome.details == "Great Expectations could not evaluate it: column 'x' not found"
