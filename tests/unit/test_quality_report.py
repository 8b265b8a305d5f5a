"""quality_report: the day's verdict from QUALITY_METRICS and RUN_LOG."""

from datetime import date, datetime

from etl_lib.job import RUN_LOG_SCHEMA
from etl_lib.quality.metrics import QUALITY_METRICS_SCHEMA
from jobs import quality_report

DAY = date(2024, 1, 16)


def metric(table, check, status, hour=1, day=DAY, severity="warn", layer="staging"):
    return ("r", day, datetime(day.year, day.month, day.day, hour), layer, table, check,
            "kind", severity, status, 0 if status == "PASS" else 2, 10, f"{check} said so")


def run_log(spark, *written):
    rows = [("r", job, day, "local", status, 1, 1, 0, tables, datetime(2024, 1, 16), 1.0, None)
            for job, day, status, tables in written]
    return spark.createDataFrame(rows, RUN_LOG_SCHEMA)


def test_the_latest_result_per_check_counts_and_not_passed_checks_are_listed(spark):
    metrics = spark.createDataFrame([
        metric("S.A", "not_null_id", "FAIL", hour=1, severity="fail"),
        metric("S.A", "not_null_id", "PASS", hour=2, severity="fail"),  # a rerun fixed it
        metric("S.A", "accepted_values_pm", "WARN"),
        metric("C.B", "reconcile_rows", "PASS", layer="curated"),
        metric("C.B", "reconcile_rows", "FAIL", day=date(2024, 1, 15), severity="fail"),
    ], QUALITY_METRICS_SCHEMA)
    found = quality_report.report(metrics, {"S.A", "C.B"}, {"S.A", "C.B"}, DAY)
    assert found.counts == {("staging", "PASS"): 1, ("staging", "WARN"): 1,
                            ("curated", "PASS"): 1}
    assert found.not_passed == [("S.A", "accepted_values_pm", "warn", "WARN",
                                 "accepted_values_pm said so")]
    assert found.failures == []


def test_a_failed_fail_check_and_a_gated_table_without_metrics_fail_the_day(spark):
    metrics = spark.createDataFrame([metric("S.A", "not_null_id", "FAIL", severity="fail")],
                                    QUALITY_METRICS_SCHEMA)
    log = run_log(spark, ("a_job", DAY, "SUCCEEDED", {"S.A": 5, "C.B": 3, "C.N": 0}),
                  ("b_job", DAY, "FAILED", {"C.F": 4}),
                  ("c_job", date(2024, 1, 15), "SUCCEEDED", {"C.OLD": 4}))
    written = quality_report.written_tables(log, DAY)
    assert written == {"S.A", "C.B"}  # no rows (C.N), a failed run, another day: not written
    found = quality_report.report(metrics, written, {"S.A", "C.B", "C.F", "C.OLD"}, DAY)
    assert found.failures == ["S.A.not_null_id", "C.B (no quality metrics)"]


def test_main_exits_1_naming_the_failures(spark, tmp_path, capsys):
    from etl_lib.io.delta import DeltaWarehouse

    warehouse = DeltaWarehouse(spark, str(tmp_path))
    warehouse.overwrite(spark.createDataFrame(
        [metric("STAGING.STG_SALES", "not_null_transaction_id", "FAIL", severity="fail")],
        QUALITY_METRICS_SCHEMA), "METADATA.QUALITY_METRICS")
    partitions = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        code = quality_report.main(["--run-date", DAY.isoformat(),
                                    "--conf", f"warehouse.root={tmp_path}"])
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", partitions)
    assert code == 1
    assert "STAGING.STG_SALES.not_null_transaction_id" in capsys.readouterr().err
