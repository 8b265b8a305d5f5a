"""The pipeline's promises on the shared three-day run (tests/integration/pipeline_runs.py).

Every sales line is accounted for, the summary reconciles with the facts, a rerun changes
nothing, no raw PII is written anywhere, and the tables open in an independent Delta
reader (delta-rs).
"""

from __future__ import annotations

from functools import reduce

import pytest
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from jobs import pipeline
from tests.integration.pipeline_runs import DAYS, PARQUET_ZONES, parquet_zones, run_id_of

pytestmark = pytest.mark.integration


def test_every_landing_line_is_staged_rejected_or_superseded(three_days):
    staged = dict(three_days.table("stg_sales").groupBy("business_date").count().collect())
    rejected = dict(three_days.table("rejected_sales").groupBy("business_date").count().collect())
    for day in DAYS:
        sales = three_days.day(day)["sales"]
        superseded = sales["corrections"]["total"]
        assert sales["lines"] == staged[day] + rejected[day] + superseded, day
        assert rejected[day] == sales["bad_lines_total"], day


def test_rejected_lines_carry_reasons_and_the_raw_line_when_unparseable(three_days):
    rejected = three_days.table("rejected_sales")
    assert rejected.filter(F.size("reject_reasons") == 0).count() == 0
    malformed = sum(three_days.day(d)["sales"]["bad_lines"]["malformed"] for d in DAYS)
    unparseable = rejected.filter(F.array_contains("reject_reasons", "unparseable_record"))
    assert unparseable.count() == malformed
    assert unparseable.filter(F.col("raw_record").isNull()).count() == 0


def test_fact_has_one_row_per_staged_line_and_links_unknown_members(three_days):
    facts, staged = three_days.table("fact_sales"), three_days.table("stg_sales")
    assert facts.count() == staged.count()
    assert facts.select("transaction_id", "line_number").distinct().count() == facts.count()
    unknown_ids = {p for d in DAYS for p in three_days.day(d)["sales"]["unknown_product_ids"]}
    linked_unknown = {r.product_id for r in
                      facts.filter("product_key = -1").select("product_id").distinct().collect()}
    assert linked_unknown and linked_unknown <= unknown_ids


def test_summary_reconciles_with_facts_for_each_day(three_days):
    facts = three_days.table("fact_sales").groupBy("sale_date").agg(
        F.sum("net_amount").alias("total"), F.sum("quantity").alias("qty"),
        F.count(F.lit(1)).alias("lines"))
    summary = three_days.table("daily_sales_summary").groupBy("date").agg(
        F.sum("total_sales").alias("total"), F.sum("quantity").alias("qty"),
        F.sum("lines").alias("lines"))
    by_day = {r.sale_date: (r.total, r.qty, r.lines) for r in facts.collect()}
    assert {r.date: (r.total, r.qty, r.lines) for r in summary.collect()} == by_day
    assert sorted(by_day) == DAYS


def test_rerunning_a_day_leaves_every_table_unchanged(three_days, tmp_path):
    run = three_days.copy(tmp_path)
    ctx = run.context(DAYS[1], run_id="rerun")  # a past day: the harder case
    # METADATA tables (RUN_LOG, QUALITY_METRICS, ...) log each run; every other table and
    # the Parquet zones must not change.
    data_tables = [t for t in ctx.config.tables.values()
                   if not t.startswith("METADATA.") and ctx.warehouse.exists(t)]

    def snapshot():
        tables = {t: ctx.warehouse.read(t) for t in data_tables}
        # The audit trail records which run wrote each event: run_id is not content.
        zones = parquet_zones(run.spark, str(run.root))
        tables |= {name: df.drop("run_id") for name, df in zones.items()}
        return {name: sorted(map(str, df.collect())) for name, df in tables.items()}

    before = snapshot()
    assert set(before) >= set(PARQUET_ZONES) and len(data_tables) > 20
    pipeline.run(ctx)
    assert snapshot() == before


def test_run_log_records_each_step_of_each_day(three_days):
    log = three_days.table("run_log")
    steps = three_days.config.job_params("pipeline", pipeline.Params).steps
    rows = {(r.job, r.run_date, r.run_id, r.status) for r in log.collect()}
    assert rows == {(job, day, run_id_of(day), "SUCCEEDED") for job in steps for day in DAYS}
    for r in log.filter("job = 'sales_enrich'").collect():
        sales = three_days.day(r.run_date)["sales"]
        assert (r.rows_in, r.rows_rejected) == (sales["lines"], sales["bad_lines_total"])
        assert r.tables[three_days.config.table("fact_sales")] == r.rows_out > 0


def test_tables_open_in_an_independent_delta_reader(three_days):
    import deltalake

    warehouse = three_days.warehouse
    for logical in ("fact_sales", "dim_customer", "daily_sales_summary", "rejected_sales"):
        path = warehouse.location(three_days.config.table(logical))
        spark_rows = three_days.table(logical).count()
        assert deltalake.DeltaTable(path).to_pyarrow_table().num_rows == spark_rows, logical


def test_no_raw_pii_value_from_the_landing_data_is_written_anywhere(three_days):
    samples = three_days.manifest["pii_samples"]
    needles = samples["emails"] + samples["phones"]
    names = F.array(*[F.lit(n) for n in samples["first_names"] + samples["last_names"]])
    frames = {t: three_days.warehouse.read(t) for t in three_days.tables}
    frames |= parquet_zones(three_days.spark, str(three_days.root))
    assert len(frames) > 30 and needles
    # One query over every table: a row leaks if its JSON text holds an email or phone
    # anywhere (nested fields included) or one of its string columns is a raw name.
    in_text = "|".join(rf"\Q{n}\E" for n in needles)
    leaks = []
    for table, df in frames.items():
        strings = [F.col(f.name) for f in df.schema.fields if isinstance(f.dataType, StringType)]
        named = F.arrays_overlap(F.array(*strings), names) if strings else F.lit(False)
        text = F.to_json(F.struct(*[F.col(c) for c in df.columns]))
        leaks.append(df.where(text.rlike(in_text) | named)
                     .select(F.lit(table).alias("table"), text.alias("row")))
    assert reduce(lambda a, b: a.unionByName(b), leaks).limit(3).collect() == []
