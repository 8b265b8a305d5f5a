"""marts: CURATED.FACT_SALES + dimensions -> the ANALYTICS marts, rebuilt whole for the run date.

* CUSTOMER_360: per known customer, lifetime value, orders, lines, units, first / last
  purchase, recency, tenure, RFM scores (1-5 over all customers, 5 = best: the fifths of
  customers at or below the customer's value, ties scored alike), a
  churn-risk score in [0, 1] from recency and frequency, and the customer's latest
  (masked) attributes and status (``active`` or ``deleted`` upstream).
* PRODUCT_PERFORMANCE: per product, revenue, units, orders, customers, discounts, average
  selling price, first / last sale, rank in its category and share of all revenue.
* MONTHLY_REVENUE: per calendar month and store, revenue, units, orders, customers.
* CUSTOMER_COHORTS: first-purchase month x months since, active customers, retention.

Each mart is reconciled with FACT_SALES before anything is written (revenue, units, lines,
customers; exact decimal sums): a mismatch fails the run and leaves yesterday's marts.
The marts cover every fact loaded: they are as of the run date, or of the latest sale
date in FACT_SALES when that is later (a past day being rerun), so rerunning any day
rebuilds the same marts. The marts are bounded (customers, products, stores x months); the RFM
quintiles use one window over all customers, which is fine at that size.

Run alone: ``spark-submit jobs/marts.py --env local --run-date 2024-01-17``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from etl_lib.dedupe import dedupe_latest
from etl_lib.job import JobContext, RunStats, run_job
from etl_lib.joins import UNKNOWN_KEY

JOB_NAME = "marts"
MONEY = "decimal(18,2)"
QUANTILES = 5
#: Churn risk weights: recency matters more than frequency.
RECENCY_WEIGHT, FREQUENCY_WEIGHT = 0.6, 0.4


class MartReconciliationError(RuntimeError):
    """A mart's totals differ from FACT_SALES; nothing was written."""


@dataclass(frozen=True)
class Marts:
    """The four ANALYTICS marts, keyed by their logical table names in conf."""

    customer_360: DataFrame
    product_performance: DataFrame
    monthly_revenue: DataFrame
    customer_cohorts: DataFrame

    def items(self) -> list[tuple[str, DataFrame]]:
        return [(f.name, getattr(self, f.name)) for f in fields(self)]


@dataclass(frozen=True)
class Reconciliation:
    """One mart measure against the same measure summed over FACT_SALES."""

    mart: str
    measure: str
    fact_total: Decimal | int | None
    mart_total: Decimal | int | None

    @property
    def matches(self) -> bool:
        return (self.fact_total or 0) == (self.mart_total or 0)


def _money(column: Column) -> Column:
    return column.cast(MONEY)


def _per_order(revenue: str, orders: str) -> Column:
    return F.when(F.col(orders) > 0, F.round(F.col(revenue) / F.col(orders), 2)).cast(MONEY)


def customer_360(facts: DataFrame, dim_customer: DataFrame, as_of: date) -> DataFrame:
    """One row per customer_id seen in ``facts`` (anonymous lines are not a customer).

    ``dim_customer`` holds DIM_CUSTOMER's versions; the latest version of each customer
    gives its attributes and ``customer_key``.
    """
    known = facts.filter(F.col("customer_id").isNotNull())
    per_customer = known.groupBy("customer_id").agg(
        F.countDistinct("transaction_id").alias("orders"),
        F.count(F.lit(1)).alias("lines"),
        F.sum("quantity").cast("long").alias("units"),
        _money(F.sum("net_amount")).alias("lifetime_value"),
        F.min("transaction_ts").alias("first_purchase_ts"),
        F.max("transaction_ts").alias("last_purchase_ts"),
    )
    today = F.lit(as_of)
    measured = per_customer.withColumns({
        "avg_order_value": _per_order("lifetime_value", "orders"),
        "recency_days": F.datediff(today, F.to_date("last_purchase_ts")),
        "tenure_days": F.datediff(today, F.to_date("first_purchase_ts")),
    })
    everyone = Window.partitionBy(F.lit(1))

    def quantile_score(*worst_to_best: Column) -> Column:
        # The share of customers at or below this one (ties included), in fifths: equal
        # behaviour gets an equal score (ntile would split ties by customer_id), and the
        # best customer scores 5 however few customers there are.
        share = F.cume_dist().over(everyone.orderBy(*worst_to_best))
        return F.ceil(share * QUANTILES).cast("int")

    scored = measured.withColumns({
        "r_score": quantile_score(F.desc("recency_days")),
        "f_score": quantile_score(F.col("orders"), F.col("lines")),
        "m_score": quantile_score(F.col("lifetime_value")),
    })
    risk = (
        (QUANTILES - F.col("r_score")) * RECENCY_WEIGHT
        + (QUANTILES - F.col("f_score")) * FREQUENCY_WEIGHT
    ) / (QUANTILES - 1)
    scored = scored.withColumns({
        "rfm_segment": F.concat_ws("", "r_score", "f_score", "m_score"),
        "churn_risk_score": F.round(risk, 2).cast("decimal(3,2)"),
    }).withColumn(
        "churn_risk",
        F.when(F.col("churn_risk_score") >= 0.6, "high")
        .when(F.col("churn_risk_score") >= 0.3, "medium").otherwise("low"),
    )
    latest = dedupe_latest(
        dim_customer.filter(F.col("customer_id").isNotNull()), ["customer_id"], ["valid_from"]
    ).select(
        "customer_id", "customer_key", "segment", "city", "state", "country",
        F.when(F.col("is_current"), "active").otherwise("deleted").alias("customer_status"),
    )
    return scored.join(F.broadcast(latest), "customer_id", "left").select(
        "customer_id",
        F.coalesce("customer_key", F.lit(UNKNOWN_KEY).cast("long")).alias("customer_key"),
        "segment", "city", "state", "country",
        F.coalesce("customer_status", F.lit("unknown")).alias("customer_status"),
        "lifetime_value", "orders", "lines", "units", "avg_order_value",
        "first_purchase_ts", "last_purchase_ts", "recency_days", "tenure_days",
        "r_score", "f_score", "m_score", "rfm_segment", "churn_risk_score", "churn_risk",
        today.alias("as_of_date"),
    )


def product_performance(facts: DataFrame, dim_product: DataFrame) -> DataFrame:
    """One row per product_id sold (unknown products included, category ``Unknown``)."""
    per_product = facts.groupBy("product_id").agg(
        _money(F.sum("net_amount")).alias("revenue"),
        _money(F.sum("gross_amount")).alias("gross_revenue"),
        _money(F.sum("discount_amount")).alias("discounts"),
        F.sum("quantity").cast("long").alias("units"),
        F.count(F.lit(1)).alias("lines"),
        F.countDistinct("transaction_id").alias("orders"),
        F.countDistinct("customer_id").alias("customers"),
        F.min("sale_date").alias("first_sale_date"),
        F.max("sale_date").alias("last_sale_date"),
    )
    products = F.broadcast(dim_product.filter(F.col("product_id").isNotNull()).select(
        "product_id", "product_key", "name", "category", "brand"))
    joined = per_product.join(products, "product_id", "left").withColumns({
        "product_key": F.coalesce("product_key", F.lit(UNKNOWN_KEY).cast("long")),
        "category": F.coalesce("category", F.lit("Unknown")),
    })
    total = F.sum("revenue").over(Window.partitionBy(F.lit(1)))
    return joined.select(
        "product_id", "product_key", "name", "category", "brand",
        "revenue", "gross_revenue", "discounts", "units", "lines", "orders", "customers",
        F.when(F.col("units") > 0, F.round(F.col("revenue") / F.col("units"), 2)).cast(MONEY)
        .alias("avg_selling_price"),
        "first_sale_date", "last_sale_date",
        F.dense_rank().over(Window.partitionBy("category").orderBy(F.desc("revenue")))
        .alias("revenue_rank_in_category"),
        F.when(total > 0, F.round(F.col("revenue") / total * 100, 4)).cast("decimal(7,4)")
        .alias("revenue_share_pct"),
    )


def monthly_revenue(facts: DataFrame, dim_store: DataFrame) -> DataFrame:
    """One row per (calendar month, store_id)."""
    per_month = facts.groupBy(F.trunc("sale_date", "month").alias("month"), "store_id").agg(
        _money(F.sum("net_amount")).alias("revenue"),
        F.sum("quantity").cast("long").alias("units"),
        F.count(F.lit(1)).alias("lines"),
        F.countDistinct("transaction_id").alias("orders"),
        F.countDistinct("customer_id").alias("customers"),
    )
    stores = F.broadcast(dim_store.filter(F.col("store_id").isNotNull()).select(
        "store_id", "store_key", "store_name", "region"))
    return per_month.join(stores, "store_id", "left").select(
        "month", F.date_format("month", "yyyy-MM").alias("year_month"), "store_id",
        F.coalesce("store_key", F.lit(UNKNOWN_KEY).cast("long")).alias("store_key"),
        "store_name", F.coalesce("region", F.lit("Unknown")).alias("region"),
        "revenue", "units", "lines", "orders", "customers",
        _per_order("revenue", "orders").alias("avg_order_value"),
    )


def customer_cohorts(facts: DataFrame) -> DataFrame:
    """One row per (first-purchase month, months since it) with the cohort's activity."""
    known = facts.filter(F.col("customer_id").isNotNull())
    first = known.groupBy("customer_id").agg(
        F.trunc(F.min("sale_date"), "month").alias("cohort_month"))
    sizes = first.groupBy("cohort_month").agg(F.count(F.lit(1)).alias("cohort_size"))
    month = F.trunc("sale_date", "month")
    activity = known.join(first, "customer_id").groupBy(
        "cohort_month",
        F.months_between(month, F.col("cohort_month")).cast("int").alias("months_since"),
    ).agg(
        F.countDistinct("customer_id").alias("active_customers"),
        F.countDistinct("transaction_id").alias("orders"),
        _money(F.sum("net_amount")).alias("revenue"),
    )
    return activity.join(sizes, "cohort_month").select(
        "cohort_month", "months_since", "cohort_size", "active_customers",
        F.round(F.col("active_customers") / F.col("cohort_size") * 100, 2).cast("decimal(5,2)")
        .alias("retention_pct"),
        "orders", "revenue",
    )


def transform(
    facts: DataFrame, dim_customer: DataFrame, dim_product: DataFrame, dim_store: DataFrame,
    as_of: date,
) -> Marts:
    """All marts from the fact lines of days up to ``as_of``."""
    facts = facts.filter(F.col("sale_date") <= F.lit(as_of))
    return Marts(
        customer_360=customer_360(facts, dim_customer, as_of),
        product_performance=product_performance(facts, dim_product),
        monthly_revenue=monthly_revenue(facts, dim_store),
        customer_cohorts=customer_cohorts(facts),
    )


def reconcile(facts: DataFrame, marts: Marts, as_of: date) -> list[Reconciliation]:
    """Each mart's totals next to FACT_SALES' (one small aggregate per table)."""
    facts = facts.filter(F.col("sale_date") <= F.lit(as_of))
    known = F.col("customer_id").isNotNull()
    fact = facts.agg(
        _money(F.sum("net_amount")).alias("revenue"),
        F.sum("quantity").cast("long").alias("units"),
        F.count(F.lit(1)).alias("lines"),
        _money(F.sum(F.when(known, F.col("net_amount")))).alias("known_revenue"),
        F.count(F.when(known, 1)).alias("known_lines"),
        F.countDistinct("customer_id").alias("customers"),
    ).first()
    checks = {
        "customer_360": {
            "lifetime_value": "known_revenue", "lines": "known_lines", "customer_id": "customers",
        },
        "product_performance": {"revenue": "revenue", "units": "units", "lines": "lines"},
        "monthly_revenue": {"revenue": "revenue", "units": "units", "lines": "lines"},
        "customer_cohorts": {"revenue": "known_revenue", "cohort_size": "customers"},
    }
    out = []
    for name, mart in marts.items():
        measures = checks[name]
        sums = []
        for column in measures:
            if column == "customer_id":
                sums.append(F.count(F.lit(1)).alias(column))
            elif column == "cohort_size":
                sums.append(F.sum(F.when(F.col("months_since") == 0, F.col(column))).alias(column))
            else:
                sums.append(F.sum(column).alias(column))
        totals = mart.agg(*sums).first()
        out += [Reconciliation(name, column, fact[fact_measure], totals[column])
                for column, fact_measure in measures.items()]
    return out


def as_of_date(facts: DataFrame, run_date: date) -> date:
    """The later of ``run_date`` and the latest ``sale_date`` in ``facts``."""
    latest = facts.agg(F.max("sale_date")).first()[0]
    return max(run_date, latest) if latest is not None else run_date


def run(ctx: JobContext) -> RunStats:
    """Build the marts as of :func:`as_of_date`, reconcile them with FACT_SALES, replace them."""
    wh, stats = ctx.warehouse, RunStats()
    facts = wh.read(ctx.table("fact_sales"))
    day = as_of_date(facts, ctx.run_date)
    if day != ctx.run_date:
        ctx.log.info("FACT_SALES holds sales up to %s: the marts are built as of that day", day)
    dims = {name: wh.read(ctx.table(name)) for name in ("dim_customer", "dim_product", "dim_store")}
    marts = transform(facts, dims["dim_customer"], dims["dim_product"], dims["dim_store"], day)
    cached = Marts(**{name: mart.cache() for name, mart in marts.items()})
    results = reconcile(facts, cached, day)
    wrong = [r for r in results if not r.matches]
    if wrong:
        raise MartReconciliationError("marts do not reconcile with FACT_SALES: " + "; ".join(
            f"{r.mart}.{r.measure} = {r.mart_total}, facts say {r.fact_total}" for r in wrong))
    ctx.log.info("marts reconcile with FACT_SALES (%d checks)", len(results))
    ctx.quality_gate(**dict(cached.items()))
    for name, mart in cached.items():
        stats.wrote(wh.overwrite(mart, ctx.table(name)))
        mart.unpersist()
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB_NAME, run, argv)


if __name__ == "__main__":
    sys.exit(main())
