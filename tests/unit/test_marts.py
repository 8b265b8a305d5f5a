"""marts: the four ANALYTICS marts on tiny facts, each reconciled with FACT_SALES."""

from datetime import date, datetime
from decimal import Decimal

from pyspark.sql import functions as F

from jobs import marts

AS_OF = date(2024, 2, 10)
FACTS = "transaction_id string, line_number int, sale_date date, transaction_ts timestamp, " \
        "customer_id string, product_id string, store_id string, quantity int, " \
        "gross_amount decimal(14,2), discount_amount decimal(12,2), net_amount decimal(14,2)"


def line(tx, n, day, customer, product, store, qty, gross, discount, net):
    ts = datetime(day.year, day.month, day.day, 10)
    return (tx, n, day, ts, customer, product, store, qty, Decimal(gross), Decimal(discount), Decimal(net))


def inputs(spark):
    """Facts, DIM_CUSTOMER versions, products and stores."""
    facts = spark.createDataFrame([
        line("T1", 1, date(2024, 1, 10), "C1", "P1", "S1", 2, "20", "0", "20"),
        line("T1", 2, date(2024, 1, 10), "C1", "P404", "S1", 1, "5", "0", "5"),
        line("T2", 1, date(2024, 2, 5), "C1", "P1", "S2", 1, "10", "1", "9"),
        line("T3", 1, date(2024, 2, 6), "C2", "P1", "S1", 3, "30", "0", "30"),
        line("T4", 1, date(2024, 2, 7), None, "P1", "S2", 1, "10", "0", "10"),
        line("T5", 1, date(2024, 3, 1), "C1", "P1", "S1", 1, "10", "0", "10"),  # after AS_OF
    ], FACTS)
    customers = spark.createDataFrame([
        ("C1", 101, "Consumer", date(2024, 1, 1), date(2024, 2, 1), False),
        ("C1", 102, "Vip", date(2024, 2, 1), None, True),
        ("C2", 201, "Corporate", date(2024, 1, 1), date(2024, 2, 8), False),
        (None, -1, "Unknown", None, None, True),
    ], "customer_id string, customer_key long, segment string, valid_from date, valid_to date, "
       "is_current boolean").selectExpr("*", "'Boston' AS city", "'MA' AS state", "'US' AS country")
    products = spark.createDataFrame(
        [("P1", 11, "Yoga Mat", "Sports", "Acme"), (None, -1, "Unknown", "Unknown", "Unknown")],
        "product_id string, product_key long, name string, category string, brand string")
    stores = spark.createDataFrame(
        [("S1", 21, "Boston Downtown", "East"), ("S2", 22, "Boston Plaza", "East")],
        "store_id string, store_key long, store_name string, region string")
    return facts, customers, products, stores


def build(spark):
    facts, *dims = inputs(spark)
    return facts, marts.transform(facts, *dims, AS_OF)


def test_customer_360_lifetime_value_rfm_and_churn_risk(spark):
    _, built = build(spark)
    got = {r.customer_id: r for r in built.customer_360.collect()}
    c1, c2 = got["C1"], got["C2"]
    assert (c1.customer_key, c1.segment, c1.customer_status) == (102, "Vip", "active")
    assert (c2.customer_key, c2.customer_status) == (201, "deleted")
    assert (c1.lifetime_value, c1.orders, c1.lines, c1.units, c1.avg_order_value) == (
        Decimal("34.00"), 2, 3, 4, Decimal("17.00"))
    assert (c1.first_purchase_ts, c1.last_purchase_ts) == (datetime(2024, 1, 10, 10), datetime(2024, 2, 5, 10))
    assert (c1.recency_days, c1.tenure_days, c2.recency_days) == (5, 31, 4)
    # Of two customers, each is the best at something: C2 bought last, C1 more and for more.
    assert (c1.rfm_segment, c2.rfm_segment) == ("355", "533")
    assert (c1.churn_risk_score, c2.churn_risk_score) == (Decimal("0.30"), Decimal("0.20"))
    assert (c1.churn_risk, c2.churn_risk) == ("medium", "low") and c1.as_of_date == AS_OF


def test_rfm_scores_the_same_behaviour_alike_and_the_best_customer_5(spark):
    facts, *dims = inputs(spark)
    c2 = facts.filter("customer_id = 'C2'")
    twins = c2.unionByName(c2.withColumns({"customer_id": F.lit("C3"), "transaction_id": F.lit("T33")}))
    got = {r.customer_id: (r.rfm_segment, r.churn_risk_score, r.churn_risk)
           for r in marts.transform(twins, *dims, AS_OF).customer_360.collect()}
    assert got["C2"] == got["C3"] == ("555", Decimal("0.00"), "low")


def test_product_monthly_and_cohort_marts(spark):
    _, built = build(spark)
    products = {r.product_id: r for r in built.product_performance.collect()}
    p1, unknown = products["P1"], products["P404"]
    assert (p1.revenue, p1.units, p1.lines, p1.orders, p1.customers, p1.category) == (
        Decimal("69.00"), 7, 4, 4, 2, "Sports")
    assert (unknown.product_key, unknown.category, unknown.revenue_rank_in_category) == (-1, "Unknown", 1)
    assert (p1.revenue_share_pct, unknown.revenue_share_pct) == (Decimal("93.2432"), Decimal("6.7568"))
    monthly = sorted((r.year_month, r.store_id, r.revenue, r.orders, r.customers)
                     for r in built.monthly_revenue.collect())
    assert monthly == [("2024-01", "S1", Decimal("25.00"), 1, 1), ("2024-02", "S1", Decimal("30.00"), 1, 1),
                       ("2024-02", "S2", Decimal("19.00"), 2, 1)]
    cohorts = sorted((str(r.cohort_month), r.months_since, r.cohort_size, r.active_customers,
                      r.retention_pct, r.revenue) for r in built.customer_cohorts.collect())
    assert cohorts == [("2024-01-01", 0, 1, 1, Decimal("100.00"), Decimal("25.00")),
                       ("2024-01-01", 1, 1, 1, Decimal("100.00"), Decimal("9.00")),
                       ("2024-02-01", 0, 1, 1, Decimal("100.00"), Decimal("30.00"))]


def test_every_mart_reconciles_with_the_facts_and_a_wrong_one_is_caught(spark):
    facts, built = build(spark)
    checks = marts.reconcile(facts, built, AS_OF)
    assert {(r.mart, r.measure) for r in checks} >= {
        ("customer_360", "lifetime_value"), ("product_performance", "revenue"),
        ("monthly_revenue", "revenue"), ("customer_cohorts", "revenue")}
    assert all(r.matches for r in checks), [r for r in checks if not r.matches]
    revenue = {r.mart: r.fact_total for r in checks if r.measure in ("revenue", "lifetime_value")}
    assert revenue["product_performance"] == Decimal("74.00") and revenue["customer_360"] == Decimal("64.00")
    broken = marts.Marts(
        customer_360=built.customer_360, product_performance=built.product_performance.filter("product_id = 'P1'"),
        monthly_revenue=built.monthly_revenue, customer_cohorts=built.customer_cohorts)
    wrong = [r for r in marts.reconcile(facts, broken, AS_OF) if not r.matches]
    assert [(r.mart, r.measure) for r in wrong] == [
        ("product_performance", "revenue"), ("product_performance", "units"), ("product_performance", "lines")]


def test_a_rerun_of_a_past_day_builds_the_marts_as_of_the_latest_sale(spark):
    facts, _ = build(spark)
    assert marts.as_of_date(facts, AS_OF) == date(2024, 3, 1)  # T5 was loaded by a later day
    assert marts.as_of_date(facts, date(2024, 3, 5)) == date(2024, 3, 5)
    assert marts.as_of_date(facts.limit(0), AS_OF) == AS_OF
