"""The gate: a table's rules on a frame -> QUALITY_METRICS rows; a failed ``fail`` check raises."""

from __future__ import annotations

import time
from datetime import date, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from etl_lib.config import ConfigError
from etl_lib.job import RUN_LOG_SCHEMA
from etl_lib.quality.gate import QualityGate, QualityGateFailed, QualityRuleError
from etl_lib.quality.metrics import QUALITY_METRICS_SCHEMA
from etl_lib.quality.rules import QualitySettings

DAY = date(2024, 1, 16)
TABLES = {"orders": "STAGING.T_ORDERS", "stores": "CURATED.T_STORES",
          "rejected": "STAGING.T_REJECTED", "outliers": "ANALYTICS.T_OUTLIERS"}
ORDERS = "id int, store_id string, amount double, day date"
METRIC_COLUMNS = ["table", "layer", "check_name", "severity", "status", "error_count",
                  "rows_checked"]
METRIC_SCHEMA = ("table string, layer string, check_name string, severity string, status string, "
                 "error_count long, rows_checked long")


def gate(test_config, warehouse, spark, rules: dict, run_id="run-1", run_date=DAY, **quality):
    config = test_config.model_copy(update={
        "tables": {**test_config.tables, **TABLES},
        "quality": QualitySettings.model_validate({"tables": rules, **quality}),
    })
    return QualityGate(spark, warehouse, config, run_id, run_date)


def metrics(spark, warehouse, test_config):
    return warehouse.read(test_config.table("quality_metrics")).select(*METRIC_COLUMNS)


def orders(spark, rows):
    return spark.createDataFrame(rows, ORDERS)


def test_every_check_is_recorded_and_failed_fail_checks_stop_the_run(spark, warehouse, test_config):
    stores = spark.createDataFrame([("S1",), ("S2",)], "store_id string")
    warehouse.overwrite(stores, TABLES["stores"])
    rules = {"orders": {"rules": [
        {"check": "not_null", "columns": ["id"], "severity": "fail"},
        {"check": "accepted_values", "column": "store_id", "values": ["S1", "S2"],
         "severity": "warn"},
        {"check": "relationships", "column": "store_id", "to": "stores", "field": "store_id",
         "severity": "warn"},
        {"check": "freshness", "column": "day", "max_age_days": 1, "severity": "fail"},
    ]}}
    frame = orders(spark, [(1, "S1", 5.0, DAY), (None, "S3", 7.0, DAY), (3, "S3", 1.0, DAY)])
    with pytest.raises(QualityGateFailed) as failed:
        gate(test_config, warehouse, spark, rules).run({"orders": frame})
    assert failed.value.check_names == ["STAGING.T_ORDERS.not_null_id"]
    assert str(failed.value).startswith(
        "quality gate failed: STAGING.T_ORDERS.not_null_id (not_null_id: 1 of 3 rows unexpected")
    assert "Nothing downstream was written" in str(failed.value)
    expected = spark.createDataFrame([
        ("STAGING.T_ORDERS", "staging", "not_null_id", "fail", "FAIL", 1, 3),
        ("STAGING.T_ORDERS", "staging", "accepted_values_store_id", "warn", "WARN", 2, 3),
        ("STAGING.T_ORDERS", "staging", "relationships_store_id", "warn", "WARN", 2, 3),
        ("STAGING.T_ORDERS", "staging", "freshness_day", "fail", "PASS", 0, 3),
    ], METRIC_SCHEMA)
    assert_df_equality(metrics(spark, warehouse, test_config), expected, ignore_row_order=True,
                       ignore_nullable=True)
    assert not frame.is_cached  # the gate releases the copy it cached


def test_warn_only_failures_pass_and_a_rerun_replaces_its_rows(spark, warehouse, test_config):
    rules = {"orders": {"layer": "landing", "rules": [
        {"check": "freshness", "column": "day", "max_age_days": 0, "severity": "warn"}]}}
    stale = orders(spark, [(1, "S1", 5.0, date(2024, 1, 13))])
    results = gate(test_config, warehouse, spark, rules).run({"orders": stale})
    assert [(o.status, o.error_count) for o in results[0].outcomes] == [("WARN", 3)]
    gate(test_config, warehouse, spark, rules).run({"orders": orders(spark, [(1, "S1", 5.0, DAY)])})
    expected = spark.createDataFrame(
        [("STAGING.T_ORDERS", "landing", "freshness_day", "warn", "PASS", 0, 1)], METRIC_SCHEMA)
    assert_df_equality(metrics(spark, warehouse, test_config), expected, ignore_nullable=True)


def test_row_count_change_and_volume_anomaly_read_earlier_runs(spark, warehouse, test_config):
    rules = {"orders": {"rules": [
        {"check": "row_count_change", "max_change_pct": 50, "severity": "warn"},
        {"check": "volume_anomaly", "max_z": 3, "min_history": 3, "severity": "warn"}]}}
    warehouse.overwrite(spark.createDataFrame(
        [(f"r{d}", "job", date(2024, 1, d), "local", "SUCCEEDED", 0, 0, 0,
          {"STAGING.T_ORDERS": n}, datetime(2024, 1, d), 1.0, None)
         for d, n in ((12, 2), (13, 3), (14, 2))], RUN_LOG_SCHEMA), test_config.table("run_log"))
    two = orders(spark, [(1, "S1", 5.0, DAY), (2, "S1", 5.0, DAY)])
    first = gate(test_config, warehouse, spark, rules, "run-15", date(2024, 1, 15)).run(
        {"orders": two})
    assert [o.status for o in first[0].outcomes] == ["PASS", "PASS"]
    assert "no previous run date" in first[0].outcomes[0].details
    eight = orders(spark, [(i, "S1", 5.0, DAY) for i in range(8)])
    second = gate(test_config, warehouse, spark, rules, "run-16", DAY).run({"orders": eight})
    assert [(o.status, o.error_count) for o in second[0].outcomes] == [("WARN", 1), ("WARN", 1)]
    assert second[0].outcomes[0].details.startswith("8 rows vs 2 on the previous run date: 300.0%")


def test_outliers_are_kept_in_their_table_and_counted(spark, warehouse, test_config):
    rules = {"orders": {"rules": [
        {"check": "outliers", "column": "amount", "group_by": ["store_id"], "min_group_rows": 5,
         "keep_in": "outliers", "keep_columns": ["id", "store_id", "amount"], "severity": "warn"}]}}
    amounts = [10.0, 11.0, 12.0, 12.5, 13.0, 14.0, 15.0, 16.0, 16.5, 500.0]
    frame = orders(spark, [(i, "S1", a, DAY) for i, a in enumerate(amounts)])
    results = gate(test_config, warehouse, spark, rules).run({"orders": frame})
    assert [(o.status, o.error_count) for o in results[0].outcomes] == [("WARN", 1)]
    kept = warehouse.read(TABLES["outliers"]).select("id", "store_id", "amount", "run_date")
    expected = spark.createDataFrame(
        [(9, "S1", 500.0, DAY)], "id int, store_id string, amount double, run_date date")
    assert_df_equality(kept, expected, ignore_nullable=True)


def test_landing_balance_reads_the_written_tables(spark, warehouse, test_config):
    rules = {"orders": {"rules": [{"check": "landing_balance", "rejected": "rejected",
                                   "keys": ["id"], "date_column": "day"}]}}
    warehouse.overwrite(orders(spark, [(1, "S1", 1.0, DAY), (2, "S1", 1.0, DAY),
                                       (9, "S1", 1.0, date(2024, 1, 1))]), TABLES["orders"])
    warehouse.overwrite(spark.createDataFrame([(DAY, '{"id":"x"}')], "day date, record string"),
                        TABLES["rejected"])
    landing = spark.createDataFrame([("1",), ("2",), ("2",), ("x",)], "id string")
    subject = gate(test_config, warehouse, spark, rules)
    assert subject.run({"orders": orders(spark, [])}) == []  # only reconcile_landing runs it
    balanced = subject.reconcile_landing("orders", landing)
    assert balanced[0].outcomes[0].details == "landing 4 = staged 2 + rejected 1 + superseded 1"
    with pytest.raises(QualityGateFailed, match="STAGING.T_ORDERS.landing_balance"):
        lost_line = spark.createDataFrame([("7",)], "id string")
        subject.reconcile_landing("orders", landing.union(lost_line))
    # A line whose key won on another day (a correction, or an older version sent again).
    resent = landing.union(spark.createDataFrame([("9",)], "id string"))
    other_day = subject.reconcile_landing("orders", resent)
    assert other_day[0].outcomes[0].details == "landing 5 = staged 2 + rejected 1 + superseded 2"


def test_metrics_record_the_run_time_instant_whatever_the_driver_zone(
    spark, warehouse, test_config, driver_in_new_york
):
    rules = {"orders": {"rules": [{"check": "not_null", "columns": ["id"]}]}}
    before = time.time()
    gate(test_config, warehouse, spark, rules).run({"orders": orders(spark, [(1, "S1", 1.0, DAY)])})
    stored = warehouse.read(test_config.table("quality_metrics")).select(
        F.unix_timestamp("run_time")).first()[0]
    assert before - 1 <= stored <= time.time() + 1


def test_a_rule_on_a_missing_column_says_which(spark, warehouse, test_config):
    rules = {"orders": {"rules": [{"check": "not_null", "columns": ["idd"]}]}}
    with pytest.raises(QualityRuleError, match=r"quality\.tables\.orders check not_null_idd: "
                                               r"column\(s\) idd not in STAGING\.T_ORDERS"):
        gate(test_config, warehouse, spark, rules).run({"orders": orders(spark, [])})


def test_rules_naming_an_unknown_table_fail_before_any_check(spark, warehouse, test_config):
    rules = {"orders": {"rules": [{"check": "relationships", "column": "store_id",
                                   "to": "dim_nowhere", "field": "store_id"}]}}
    with pytest.raises(ConfigError, match="tables.dim_nowhere: not set"):
        gate(test_config, warehouse, spark, rules)


def test_tables_without_rules_and_disabled_gates_record_nothing(spark, warehouse, test_config):
    rules = {"orders": {"rules": [{"check": "not_null", "columns": ["id"]}]}}
    nulls = orders(spark, [(None, "S1", 1.0, DAY)])
    assert gate(test_config, warehouse, spark, rules).run({"stores": nulls}) == []
    assert gate(test_config, warehouse, spark, rules, enabled=False).run({"orders": nulls}) == []
    assert not warehouse.exists(test_config.table("quality_metrics"))


def test_metrics_schema_has_the_seed_columns():
    names = QUALITY_METRICS_SCHEMA.fieldNames()
    assert {"check_name", "layer", "table", "status", "error_count", "run_id", "run_time",
            "severity", "details"} <= set(names)


def test_a_deferred_gate_writes_all_its_calls_at_flush_and_a_failure_at_once(
    spark, warehouse, test_config
):
    rules = {"orders": {"rules": [{"check": "not_null", "columns": ["id"], "severity": "fail"}]},
             "stores": {"rules": [{"check": "not_null", "columns": ["store_id"]}]}}
    deferred = gate(test_config, warehouse, spark, rules)
    deferred.defer_metrics = True
    metrics_table = test_config.table("quality_metrics")
    deferred.run({"orders": orders(spark, [(1, "S1", 1.0, DAY)])})
    deferred.run({"stores": spark.createDataFrame([("S1",)], "store_id string")})
    assert not warehouse.exists(metrics_table)
    deferred.flush()
    assert sorted(r.table for r in metrics(spark, warehouse, test_config).collect()) == sorted(
        [TABLES["orders"], TABLES["stores"]])
    assert warehouse.delta_table(metrics_table).history().count() == 1  # one write for both
    with pytest.raises(QualityGateFailed):
        deferred.run({"orders": orders(spark, [(None, "S1", 1.0, DAY)])})
    failed = metrics(spark, warehouse, test_config).where("status = 'FAIL'").collect()
    assert [r.table for r in failed] == [TABLES["orders"]]
