"""The ``quality:`` conf section: typed rules, expansion into named checks, clear errors."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from etl_lib.config import ConfigError, load_config
from etl_lib.quality.rules import QualitySettings, TableRules


def rules(*declared: dict) -> TableRules:
    return TableRules.model_validate({"rules": list(declared)})


def test_each_rule_becomes_named_checks_with_their_severity():
    table = rules(
        {"check": "not_null", "columns": ["a", "b"], "severity": "warn"},
        {"check": "unique", "columns": ["a", "b"]},
        {"check": "accepted_values", "column": "pm", "values": ["card", "cash"],
         "severity": "warn"},
        {"check": "range", "column": "qty", "min": 1, "name": "qty_positive"},
        {"check": "reconcile", "to": "fact_sales", "by": {"date": "sale_date"}, "column": "total"},
        {"check": "landing_balance", "rejected": "rejected_sales", "keys": ["a"]},
    )
    assert [(r.check_name, r.check, r.severity) for r in table.rules] == [
        ("not_null_a", "not_null", "warn"),
        ("not_null_b", "not_null", "warn"),
        ("unique_a_b", "unique", "fail"),
        ("accepted_values_pm", "accepted_values", "warn"),
        ("qty_positive", "range", "fail"),
        ("reconcile_total_fact_sales", "reconcile", "fail"),
        ("landing_balance", "landing_balance", "fail"),
    ]
    assert [r.check_name for r in table.of_kind("not_null", "range")] == [
        "not_null_a", "not_null_b", "qty_positive"]
    assert table.rules[5].frame_columns() == ["date", "total"]


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ({"check": "not_null", "columns": ["a"], "severity": "error"}, "'warn' or 'fail'"),
        ({"check": "range", "column": "q"}, "range needs min, max or both"),
        ({"check": "range", "column": "q", "min": 5, "max": 1}, "min 5.0 is above max 1.0"),
        ({"check": "regex", "column": "s", "pattern": "(["}, "is not a regular expression"),
        ({"check": "not_null", "columns": ["a"], "mostly": 1.5}, "less than or equal to 1"),
        ({"check": "volume_anomaly", "history_runs": 3, "min_history": 5}, "exceeds history_runs"),
        ({"check": "not_nul", "columns": ["a"]}, "does not match any of the expected tags"),
        ({"check": "not_null", "columns": ["a"], "colour": "red"}, "Extra inputs"),
        ({"check": "unique", "columns": ["a"], "name": "Bad Name"}, "snake_case"),
    ],
)
def test_invalid_rules_say_what_to_fix(declared, message):
    with pytest.raises(ValidationError, match=message):
        rules(declared)


def test_two_checks_with_one_name_are_refused():
    with pytest.raises(ValidationError, match="two checks are named 'not_null_a'"):
        rules({"check": "not_null", "columns": ["a"]}, {"check": "not_null", "columns": ["a", "b"]})


def test_outlier_checks_need_their_own_table():
    outliers = {"check": "outliers", "column": "x", "group_by": ["g"], "keep_in": "kept"}
    with pytest.raises(ValidationError, match="share keep_in"):
        QualitySettings.model_validate(
            {"tables": {"a": {"rules": [outliers]}, "b": {"rules": [outliers]}}}
        )


def test_referenced_tables_include_targets_of_cross_table_checks():
    settings = QualitySettings.model_validate({"tables": {"stg_sales": {"rules": [
        {"check": "relationships", "column": "p", "to": "dim_product", "field": "p"},
        {"check": "landing_balance", "rejected": "rejected_sales", "keys": ["k"]},
    ]}}})
    assert settings.referenced_tables() == {
        "quality_metrics", "stg_sales", "dim_product", "rejected_sales"}


def test_the_shipped_conf_declares_valid_rules_on_known_tables():
    config = load_config("local")
    assert config.quality.enabled
    unknown = config.quality.referenced_tables() - set(config.tables)
    assert not unknown, f"quality rules name tables missing from conf tables: {unknown}"
    layers = {config.table(name).split(".")[0] for name in config.quality.tables}
    assert layers >= {"STAGING", "CURATED", "ANALYTICS"}
    severities = {r.severity for t in config.quality.tables.values() for r in t.rules}
    assert severities == {"warn", "fail"}


def test_a_bad_rule_in_conf_is_a_config_error_naming_the_key():
    with pytest.raises(ConfigError, match=r"quality\.tables\.stg_sales\.rules\.0"):
        load_config("local", ["quality.tables.stg_sales.rules=[{check: range, column: q}]"])
