"""The walking skeleton end to end: generated landing zone -> pipeline for 3 days -> real Delta.

Checks the promises of the product on the generator's data: every sales line is
accounted for, the summary reconciles with the facts, a rerun changes nothing, and the
tables open in an independent Delta reader (delta-rs).
"""

from __future__ import annotations

import dataclasses
import uuid
from datetime import date, timedelta

import pytest
from pyspark.sql import functions as F

from etl_lib.config import load_config
from etl_lib.job import JobArgs, create_context
from jobs import pipeline
from scripts.generate_data import generate

pytestmark = pytest.mark.integration

START = date(2024, 1, 15)
DAYS = [START + timedelta(days=i) for i in range(3)]
SKELETON_STEPS = ["dim_date", "stores_dim", "products_dim", "customers_dim", "sales_enrich"]


@pytest.fixture(scope="module")
def demo(spark, tmp_path_factory):
    """Generate 3 small days and run the skeleton's steps for each; return (ctx, manifest)."""
    root = tmp_path_factory.mktemp("pipeline")
    manifest = generate(root / "landing", START, len(DAYS), scale=0.05, seed=7)
    config = load_config("local", [f"landing.root={root / 'landing'}", f"warehouse.root={root / 'wh'}"])
    args = JobArgs(env="local", run_date=START, overrides=(), run_id="setup")
    ctx = create_context("pipeline-test", args, config=config, spark=spark)
    for day in DAYS:
        pipeline.run_steps(dataclasses.replace(ctx, run_date=day, run_id=uuid.uuid4().hex), SKELETON_STEPS)
    return ctx, manifest


def table(ctx, logical):
    return ctx.warehouse.read(ctx.table(logical))


def test_every_landing_line_is_staged_rejected_or_superseded(demo):
    ctx, manifest = demo
    staged = dict(table(ctx, "stg_sales").groupBy("business_date").count().collect())
    rejected = dict(table(ctx, "rejected_sales").groupBy("business_date").count().collect())
    for day in DAYS:
        sales = manifest["days"][day.isoformat()]["sales"]
        superseded = sales["corrections"]["total"]
        assert sales["lines"] == staged[day] + rejected[day] + superseded, day
        assert rejected[day] == sales["bad_lines_total"], day


def test_rejected_lines_carry_reasons_and_the_raw_line_when_unparseable(demo):
    ctx, manifest = demo
    rejected = table(ctx, "rejected_sales")
    assert rejected.filter(F.size("reject_reasons") == 0).count() == 0
    malformed = sum(manifest["days"][d.isoformat()]["sales"]["bad_lines"]["malformed"] for d in DAYS)
    unparseable = rejected.filter(F.array_contains("reject_reasons", "unparseable_record"))
    assert unparseable.count() == malformed
    assert unparseable.filter(F.col("raw_record").isNull()).count() == 0


def test_fact_has_one_row_per_staged_line_and_links_unknown_members(demo):
    ctx, manifest = demo
    facts, staged = table(ctx, "fact_sales"), table(ctx, "stg_sales")
    assert facts.count() == staged.count()
    assert facts.select("transaction_id", "line_number").distinct().count() == facts.count()
    unknown_ids = {p for d in DAYS for p in manifest["days"][d.isoformat()]["sales"]["unknown_product_ids"]}
    linked_unknown = {r.product_id for r in facts.filter("product_key = -1").select("product_id").distinct().collect()}
    assert linked_unknown and linked_unknown <= unknown_ids


def test_summary_reconciles_with_facts_for_each_day(demo):
    ctx, _ = demo
    facts = table(ctx, "fact_sales").groupBy("sale_date").agg(
        F.sum("net_amount").alias("total"), F.sum("quantity").alias("qty"), F.count(F.lit(1)).alias("lines"))
    summary = table(ctx, "daily_sales_summary").groupBy("date").agg(
        F.sum("total_sales").alias("total"), F.sum("quantity").alias("qty"), F.sum("lines").alias("lines"))
    by_day = {r.sale_date: (r.total, r.qty, r.lines) for r in facts.collect()}
    assert {r.date: (r.total, r.qty, r.lines) for r in summary.collect()} == by_day
    assert sorted(by_day) == DAYS


def test_rerunning_a_day_leaves_every_table_unchanged(demo):
    ctx, _ = demo
    # METADATA tables (RUN_LOG, QUALITY_METRICS, ...) log each run; every other table must not change.
    data_tables = [t for t in ctx.config.tables.values()
                   if not t.startswith("METADATA.") and ctx.warehouse.exists(t)]

    def snapshot():
        return {t: sorted(map(str, ctx.warehouse.read(t).collect())) for t in data_tables}

    before = snapshot()
    pipeline.run_steps(dataclasses.replace(ctx, run_date=DAYS[1], run_id="rerun"), SKELETON_STEPS)
    assert snapshot() == before


def test_run_log_records_each_step_of_each_day(demo):
    ctx, manifest = demo
    log = table(ctx, "run_log").filter(F.col("run_id") != "rerun")
    rows = {(r.job, r.run_date, r.status) for r in log.collect()}
    assert rows == {(job, day, "SUCCEEDED") for job in SKELETON_STEPS for day in DAYS}
    for r in log.filter("job = 'sales_enrich'").collect():
        sales = manifest["days"][r.run_date.isoformat()]["sales"]
        assert (r.rows_in, r.rows_rejected) == (sales["lines"], sales["bad_lines_total"])
        assert r.tables[ctx.table("fact_sales")] == r.rows_out > 0


def test_tables_open_in_an_independent_delta_reader(demo):
    import deltalake

    ctx, _ = demo
    for logical in ("fact_sales", "dim_product", "daily_sales_summary", "rejected_sales"):
        path = ctx.warehouse.location(ctx.table(logical))
        spark_rows = ctx.warehouse.read(ctx.table(logical)).count()
        assert deltalake.DeltaTable(path).to_pyarrow_table().num_rows == spark_rows, logical
