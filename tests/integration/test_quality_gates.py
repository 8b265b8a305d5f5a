"""Quality gates end to end: a generated day through the pipeline, then a run a gate stops.

The generator plants warn-level dirt (payment methods outside the accepted list, products
no dimension knows yet, bulk-order amount outliers); the day must complete with those
caught as WARN rows in QUALITY_METRICS. A ``fail`` rule that the planted outliers break
must stop sales_enrich with exit code 1 naming the check, before FACT_SALES is written.
"""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import functions as F

from etl_lib.config import load_config
from etl_lib.job import JobArgs, create_context
from jobs import pipeline, sales_enrich
from scripts.generate_data import generate

pytestmark = pytest.mark.integration

DAY = date(2024, 1, 15)
RUN_ID = "quality-it"
STEPS = "[dim_date, stores_dim, products_dim, customers_dim, sales_enrich]"
GATED = {
    ("STAGING.STG_SALES", "staging"), ("STAGING.REJECTED_SALES", "staging"),
    ("STAGING.STG_PRODUCTS", "staging"), ("STAGING.REJECTED_PRODUCTS", "staging"),
    ("STAGING.STG_STORES", "staging"), ("STAGING.REJECTED_STORES", "staging"),
    ("STAGING.STG_CUSTOMERS", "staging"), ("STAGING.REJECTED_CUSTOMERS", "staging"),
    ("CURATED.DIM_PRODUCT", "curated"), ("CURATED.DIM_STORE", "curated"),
    ("CURATED.DIM_CUSTOMER", "curated"), ("CURATED.FACT_SALES", "curated"),
    ("ANALYTICS.DAILY_SALES_SUMMARY", "analytics"),
}


@pytest.fixture(scope="module")
def demo(spark, tmp_path_factory):
    """One small generated day through the pipeline's dimension and sales steps."""
    root = tmp_path_factory.mktemp("quality")
    manifest = generate(root / "landing", DAY, 1, scale=0.05, seed=3,
                        datasets="stores,products,customers,sales")
    overrides = [f"landing.root={root / 'landing'}", f"warehouse.root={root / 'wh'}",
                 "spark.shuffle_partitions=2", f"jobs.pipeline.steps={STEPS}"]
    config = load_config("local", overrides)
    ctx = create_context("pipeline", JobArgs("local", DAY, tuple(overrides), RUN_ID),
                         config=config, spark=spark)
    pipeline.run(ctx)
    return ctx, manifest["days"][DAY.isoformat()]["sales"], overrides


def metrics(ctx):
    return ctx.warehouse.read(ctx.table("quality_metrics"))


def metric(ctx, table, check):
    rows = metrics(ctx).where((F.col("table") == table) & (F.col("check_name") == check)).collect()
    assert len(rows) == 1, f"{table}.{check}: {len(rows)} rows"
    return rows[0]


def test_every_table_of_every_layer_gets_quality_metrics(demo):
    ctx, _, _ = demo
    gated = metrics(ctx).where("check_type != 'schema_drift'")  # drift rows: etl_lib.semistructured
    found = {(r.table, r.layer) for r in gated.select("table", "layer").distinct().collect()}
    assert found == GATED
    assert {r.run_id for r in metrics(ctx).select("run_id").distinct().collect()} == {RUN_ID}


def test_planted_warn_dirt_is_caught_and_the_day_completes(demo):
    ctx, sales, _ = demo
    payment = metric(ctx, "STAGING.STG_SALES", "accepted_values_payment_method")
    assert (payment.status, payment.severity) == ("WARN", "warn") and payment.error_count > 0
    orphans = metric(ctx, "STAGING.STG_SALES", "relationships_product_id")
    assert (orphans.status, orphans.error_count) == ("WARN", sales["unknown_product_lines"])
    outliers = metric(ctx, "CURATED.FACT_SALES", "outliers_net_amount")
    assert (outliers.status, outliers.error_count) == ("WARN", sales["outlier_lines"])
    kept = ctx.warehouse.read(ctx.table("sales_outliers"))
    assert kept.count() == kept.where("quantity >= 250").count() == sales["outlier_lines"] > 0
    failed = metrics(ctx).where("severity = 'fail' AND status != 'PASS'")
    assert failed.count() == 0, failed.select("table", "check_name", "details").collect()
    statuses = {r.status for r in ctx.warehouse.read(ctx.table("run_log")).collect()}
    assert statuses == {"SUCCEEDED"}


def test_cross_layer_reconciliation_holds(demo):
    ctx, sales, _ = demo
    balance = metric(ctx, "STAGING.STG_SALES", "landing_balance")
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
        assert metric(ctx, table, check).status == "PASS", check


def test_a_failed_fail_check_stops_the_run_before_downstream_writes(demo, capsys, spark):
    ctx, sales, overrides = demo
    downstream = [ctx.table(t) for t in ("fact_sales", "daily_sales_summary", "sales_outliers")]
    before = {t: ctx.warehouse.delta_table(t).history(1).first()["version"] for t in downstream}
    tightened = "quality.tables.fact_sales.rules=[{check: range, column: quantity, max: 100}]"
    paths = [o for o in overrides if o.split(".")[0] in ("landing", "warehouse")]
    argv = ["--run-date", DAY.isoformat(), "--run-id", "quality-it-fail",
            *[a for o in paths for a in ("--conf", o)], "--conf", tightened]
    partitions = spark.conf.get("spark.sql.shuffle.partitions")
    try:
        assert sales_enrich.main(argv) == 1  # attaches to this session, with conf's settings
    finally:
        spark.conf.set("spark.sql.shuffle.partitions", partitions)
    message = capsys.readouterr().err
    assert "QualityGateFailed: quality gate failed: CURATED.FACT_SALES.range_quantity" in message
    after = {t: ctx.warehouse.delta_table(t).history(1).first()["version"] for t in downstream}
    assert after == before
    failed = metrics(ctx).where("run_id = 'quality-it-fail' AND status = 'FAIL'").collect()
    assert [(r.check_name, r.error_count) for r in failed] == [
        ("range_quantity", sales["outlier_lines"])]
    log = ctx.warehouse.read(ctx.table("run_log")).where("run_id = 'quality-it-fail'").first()
    assert log.status == "FAILED" and "range_quantity" in log.error
