"""A one-day read of a date-partitioned fact table touches that day's files only."""

from __future__ import annotations

from datetime import date

import pytest
from pyspark.sql import functions as F

pytestmark = pytest.mark.integration

DAYS = (date(2024, 1, 14), date(2024, 1, 15), date(2024, 1, 16))


def scan_metrics(df) -> dict[str, int]:
    """SQL metrics of the file scan in ``df``'s own executed plan (``df.collect()`` it first)."""
    plan = df._jdf.queryExecution().executedPlan()
    if plan.nodeName() == "AdaptiveSparkPlan":
        plan = plan.finalPhysicalPlan()
    leaves = plan.collectLeaves()
    for i in range(leaves.size()):
        leaf = leaves.apply(i)
        if "Scan" in leaf.nodeName():
            metrics = leaf.metrics()
            return {name: int(metrics.apply(name).value()) for name in ("numFiles", "numOutputRows")}
    raise AssertionError(f"no file scan in {plan.toString()}")


@pytest.fixture
def fact_sales(spark, warehouse):
    """FACT_SALES as sales_enrich writes it (MERGE, partitioned by sale_date), two files a day."""
    for batch in range(2):
        rows = spark.range(30).select(
            F.concat(F.lit(f"T{batch}-"), F.col("id").cast("string")).alias("transaction_id"),
            F.lit(1).alias("line_number"),
            F.element_at(F.array(*[F.lit(d) for d in DAYS]), (F.col("id") % 3 + 1).cast("int"))
            .alias("sale_date"),
            (F.col("id") * 1.5).cast("decimal(14,2)").alias("net_amount"),
        ).coalesce(1)
        warehouse.merge(rows, "CURATED.FACT_SALES", keys=["transaction_id", "line_number"],
                        partition_by=["sale_date"])
    return warehouse.read("CURATED.FACT_SALES")


def test_one_day_read_prunes_to_that_days_partition(fact_sales):
    one_day = fact_sales.filter(F.col("sale_date") == date(2024, 1, 15))
    plan = one_day._jdf.queryExecution().executedPlan().toString()
    assert "PartitionFilters: [isnotnull(sale_date" in plan
    assert "= 2024-01-15)]" in plan
    files = one_day.inputFiles()
    assert len(files) == 2 and all("sale_date=2024-01-15" in f for f in files)
    assert len(one_day.collect()) == 20  # runs one_day's own plan, which fills its metrics
    assert scan_metrics(one_day) == {"numFiles": 2, "numOutputRows": 20}


def test_a_read_without_the_date_filter_reads_every_partition(fact_sales):
    everything = fact_sales.filter(F.col("net_amount") >= 0)
    assert len(everything.collect()) == 60
    assert "PartitionFilters: []" in everything._jdf.queryExecution().executedPlan().toString()
    assert scan_metrics(everything)["numFiles"] == 6
