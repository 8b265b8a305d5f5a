"""Quality gates end to end on the shared three-day run, then a run a gate stops.

The generator plants warn-level dirt (payment methods outside the accepted list, products
no dimension knows yet, bulk-order amount outliers); each day must complete with those
caught as WARN rows in QUALITY_METRICS. A ``fail`` rule that the planted outliers break
must stop sales_enrich with exit code 1 naming the check, before FACT_SALES is written.
"""

from __future__ import annotations

import pytest
from pyspark.sql import functions as F

from jobs import sales_enrich
from tests.integration.pipeline_runs import DAYS, run_id_of

pytestmark = pytest.mark.integration

GATED_TABLES = (
    "STAGING.STG_SALES", "STAGING.REJECTED_SALES", "STAGING.STG_PRODUCTS",
    "STAGING.REJECTED_PRODUCTS", "STAGING.STG_STORES", "STAGING.REJECTED_STORES",
    "STAGING.STG_CUSTOMERS", "STAGING.REJECTED_CUSTOMERS", "STAGING.STG_REVIEWS",
    "STAGING.REJECTED_REVIEWS", "STAGING.STG_CLICKSTREAM", "STAGING.REJECTED_CLICKSTREAM",
    "CURATED.DIM_PRODUCT", "CURATED.DIM_STORE", "CURATED.DIM_CUSTOMER", "CURATED.FACT_SALES",
    "CURATED.FACT_CLICKSTREAM", "CURATED.FACT_SESSIONS", "CURATED.INVENTORY_CURRENT",
    "CURATED.FACT_INVENTORY", "ANALYTICS.DAILY_SALES_SUMMARY", "ANALYTICS.CONVERSION_FUNNEL",
    "ANALYTICS.CUSTOMER_360", "ANALYTICS.PRODUCT_PERFORMANCE", "ANALYTICS.MONTHLY_REVENUE",
    "ANALYTICS.CUSTOMER_COHORTS",
)
#: (table, layer): every table's metrics carry its schema as the layer.
GATED = {(table, table.split(".")[0].lower()) for table in GATED_TABLES}


def metrics(run):
    return run.table("quality_metrics")


def metric(run, day, table, check):
    rows = metrics(run).where(
        (F.col("run_id") == run_id_of(day)) & (F.col("table") == table)
        & (F.col("check_name") == check)
    ).collect()
    assert len(rows) == 1, f"{day} {table}.{check}: {len(rows)} rows"
    return rows[0]


def test_every_table_of_every_layer_gets_quality_metrics(three_days):
    gated = metrics(three_days).where("check_type != 'schema_drift'")  # etl_lib.semistructured
    for day in DAYS:
        of_day = gated.where(F.col("run_id") == run_id_of(day))
        found = {(r.table, r.layer) for r in of_day.select("table", "layer").distinct().collect()}
        # The store list lands on some days only; stores_dim has nothing to check on the rest.
        stores = {t for t in GATED if "STORE" in t[0]} if "stores" not in three_days.day(day) \
            else set()
        assert found == GATED - stores, day
    run_ids = {r.run_id for r in metrics(three_days).select("run_id").distinct().collect()}
    assert run_ids == {run_id_of(day) for day in DAYS}


def test_planted_warn_dirt_is_caught_and_the_days_complete(three_days):
    kept = three_days.table("sales_outliers")
    for day in DAYS:
        sales = three_days.day(day)["sales"]
        payment = metric(three_days, day, "STAGING.STG_SALES", "accepted_values_payment_method")
        assert (payment.status, payment.severity) == ("WARN", "warn") and payment.error_count > 0
        orphans = metric(three_days, day, "STAGING.STG_SALES", "relationships_product_id")
        assert (orphans.status, orphans.error_count) == ("WARN", sales["unknown_product_lines"])
        # Every planted bulk order (250+ units) is flagged; ordinary lines rarely are (a line
        # several times its store's typical amount can be, at this small scale).
        outliers = metric(three_days, day, "CURATED.FACT_SALES", "outliers_net_amount")
        of_day = kept.where(F.col("run_date") == day)
        assert outliers.status == "WARN" and outliers.error_count == of_day.count()
        assert of_day.where("quantity >= 250").count() == sales["outlier_lines"] > 0
        assert of_day.count() <= sales["outlier_lines"] + sales["lines"] // 200
        assert of_day.where(F.log1p("net_amount") <= F.col("group_median")).count() == 0
    failed = metrics(three_days).where("severity = 'fail' AND status != 'PASS'")
    assert failed.count() == 0, failed.select("table", "check_name", "details").collect()
    statuses = {r.status for r in three_days.table("run_log").collect()}
    assert statuses == {"SUCCEEDED"}


def test_cross_layer_reconciliation_holds(three_days):
    for day in DAYS:
        sales = three_days.day(day)["sales"]
        balance = metric(three_days, day, "STAGING.STG_SALES", "landing_balance")
        assert balance.status == "PASS"
        assert balance.details.startswith(f"landing {sales['lines']} = ")
        assert f"rejected {sales['bad_lines_total']} + superseded {sales['corrections']['total']}" \
            in balance.details
        for table, check in [
            ("CURATED.FACT_SALES", "reconcile_rows_stg_sales"),
            ("CURATED.FACT_SALES", "reconcile_net_amount_stg_sales"),
            ("ANALYTICS.DAILY_SALES_SUMMARY", "reconcile_total_sales_fact_sales"),
            ("ANALYTICS.DAILY_SALES_SUMMARY", "reconcile_lines_fact_sales"),
            ("ANALYTICS.DAILY_SALES_SUMMARY", "continuity_date"),
        ]:
            assert metric(three_days, day, table, check).status == "PASS", (day, check)


def test_a_failed_fail_check_stops_the_run_before_downstream_writes(
    three_days, tmp_path, capsys, spark
):
    run = three_days.copy(tmp_path)
    day = DAYS[-1]
    warehouse = run.warehouse
    downstream = [run.config.table(t) for t in ("fact_sales", "daily_sales_summary",
                                                "sales_outliers")]
    before = {t: warehouse.delta_table(t).history(1).first()["version"] for t in downstream}
    tightened = "quality.tables.fact_sales.rules=[{check: range, column: quantity, max: 100}]"
    argv = ["--run-date", day.isoformat(), "--run-id", "quality-it-fail",
            "--conf", f"landing.root={run.landing}", "--conf", f"warehouse.root={run.root}",
            "--conf", tightened]
    partitions = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        assert sales_enrich.main(argv) == 1  # attaches to this session, with conf's settings
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", partitions)
    message = capsys.readouterr().err
    assert "QualityGateFailed: quality gate failed: CURATED.FACT_SALES.range_quantity" in message
    after = {t: warehouse.delta_table(t).history(1).first()["version"] for t in downstream}
    assert after == before
    failed = metrics(run).where("run_id = 'quality-it-fail' AND status = 'FAIL'").collect()
    assert [(r.check_name, r.error_count) for r in failed] == [
        ("range_quantity", run.day(day)["sales"]["outlier_lines"])]
    log = run.table("run_log").where("run_id = 'quality-it-fail'").first()
    assert log.status == "FAILED" and "range_quantity" in log.error
