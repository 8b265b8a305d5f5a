"""sales_enrich's pure transform on tiny inline frames: the contract's edge cases."""

import re
from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from etl_lib.io.files import SOURCE_FILE, SourceFiles
from etl_lib.joins import UNKNOWN_KEY, surrogate_key
from etl_lib.landing import SALES_SCHEMA, read_landing
from etl_lib.session import temporary_conf
from jobs import sales_enrich

DAY = date(2024, 1, 15)
COLUMNS = [f.name for f in SALES_SCHEMA.fields]


def raw_lines(spark, rows, source="file:/landing/sales_20240115.csv"):
    """Raw landing rows (all strings) as read_landing returns them."""
    full = [(*row, None, source) if len(row) == 11 else row for row in rows]
    schema = StructType([*SALES_SCHEMA.fields, StructField("_raw_record", StringType()),
                         StructField("_source_file", StringType())])
    return spark.createDataFrame(full, schema)


def line(tid="T1", ln="1", ts="2024-01-15T10:00:00", cust="C1", prod="P1", store="S1",
         qty="2", price="10.00", disc="", total="20.00", pay="card"):
    return (tid, ln, ts, cust, prod, store, qty, price, disc, total, pay)


@pytest.fixture
def dims(spark):
    def dim(ids, natural, key):
        return spark.createDataFrame([(i,) for i in ids], f"{natural} string").withColumn(
            key, surrogate_key(natural))
    store = dim(["S1"], "store_id", "store_key").withColumn("region", F.lit("East"))
    product = dim(["P1"], "product_id", "product_key").withColumn("category", F.lit("Toys"))
    customer = dim(["C1"], "customer_id", "customer_key")
    return store, product, customer


def files_of(raw):
    """The SourceFiles of an inline raw frame (SourceFiles.of needs files on disk)."""
    return SourceFiles.from_paths(r[0] for r in raw.select(SOURCE_FILE).distinct().collect())


def transform(raw, store, product, customer, history=None):
    return sales_enrich.transform(raw, files_of(raw), store, product, customer, history, DAY)


def run_transform(spark, dims, rows, history=None, **kw):
    return transform(raw_lines(spark, rows, **kw), *dims, history)


NO_AQE = {"spark.sql.adaptive.enabled": "false"}


def physical_plan(spark, frame):
    """``frame``'s physical plan (the JVM object) as planned without AQE (its own
    operators, not AQE's stages)."""
    with temporary_conf(spark, NO_AQE):
        return frame._jdf.queryExecution().executedPlan()


def executed_plan(spark, frame) -> str:
    """:func:`physical_plan` as text."""
    return physical_plan(spark, frame).toString()


def reasons(out):
    return {(r.tx, tuple(r.reject_reasons)) for r in out.rejected.select(
        F.get_json_object("record", "$.transaction_id").alias("tx"), "reject_reasons").collect()}


def test_each_contract_rejection_is_kept_with_every_reason(spark, dims):
    rows = [
        line(tid="OK"),
        line(tid="NOID", prod="", store=" "),
        line(tid="BADTS", ts="2024-13-45 99:00:00"),
        line(tid="QTY", qty="0"),
        line(tid="NEG", price="-1.00", qty="-3"),
        line(tid="DISC", disc="-2.00"),
        line(tid="CENTS", price="9.995", total="19.99"),  # not rounded to 10.00: rejected
        ("SHORT", "1", "2024-01-15T10:00:00", None, None, None, None, None, None, None, None,
         "SHORT,1,2024-01-15T10:00:00", "file:/x.csv"),
    ]
    out = run_transform(spark, dims, rows)
    assert reasons(out) == {
        ("NOID", ("product_id_missing", "store_id_missing")),
        ("BADTS", ("transaction_ts_invalid",)),
        ("QTY", ("quantity_not_positive",)),
        ("NEG", ("quantity_not_positive", "unit_price_negative")),
        ("DISC", ("discount_amount_negative",)),
        ("CENTS", ("unit_price_invalid",)),
        ("SHORT", ("unparseable_record", "product_id_missing", "store_id_missing", "quantity_missing",
                   "unit_price_missing", "total_amount_missing")),
    }
    assert [r.transaction_id for r in out.staged.collect()] == ["OK"]
    short = out.rejected.filter(F.col("raw_record").isNotNull()).first()
    assert short.raw_record == "SHORT,1,2024-01-15T10:00:00"


@pytest.mark.parametrize("coded", [True, False], ids=["file codes", "paths (many files)"])
def test_corrections_keep_latest_line_and_ties_go_to_the_later_file(
    spark, dims, coded, monkeypatch
):
    if not coded:
        monkeypatch.setattr(SourceFiles, "MAX_CODED_FILES", 1)
    first = raw_lines(spark, [line(tid="A", qty="1", total="10.00"), line(tid="B", qty="1", total="10.00")],
                      source="file:/l/sales_20240115.csv")
    second = raw_lines(spark, [line(tid="A", ts="2024-01-15T11:00:00", qty="3", total="30.00"),
                               line(tid="B", qty="2", total="20.00")],
                       source="file:/l/sales_20240115_2.csv")
    out = transform(first.unionByName(second), *dims)
    got = {r.transaction_id: (r.quantity, r.source_file) for r in out.staged.collect()}
    assert got == {"A": (3, "file:/l/sales_20240115_2.csv"), "B": (2, "file:/l/sales_20240115_2.csv")}
    assert {r.source_file for r in out.facts.collect()} == {"file:/l/sales_20240115_2.csv"}


def test_a_rejected_later_version_neither_displaces_the_valid_line_nor_is_lost(spark, dims):
    rows = [line(tid="A", qty="1", total="10.00"),
            line(tid="A", ts="2024-01-15T11:00:00", qty="-1", total="10.00"),
            line(tid="A", ts="2024-01-15T12:00:00", qty="-2", total="10.00")]
    out = run_transform(spark, dims, rows)
    assert [(r.transaction_id, r.quantity) for r in out.staged.collect()] == [("A", 1)]
    assert out.rejected.count() == 2
    assert [r.quantity for r in out.facts.collect()] == [1]


def transform_landing_file(spark, dims, tmp_path):
    """The transform of one landing file (a valid line, a rejected one) read as the job reads it."""
    folder = tmp_path / "sales/2024/01"
    folder.mkdir(parents=True)
    (folder / "sales_20240115.csv").write_text(
        "\n".join(",".join(row) for row in (COLUMNS, line(), line(tid="Q", qty="0"))) + "\n")
    raw = read_landing(spark, str(tmp_path), "sales", DAY)
    return sales_enrich.transform(raw, SourceFiles.of(raw), *dims, None, DAY)


def test_with_checked_cached_no_output_reads_the_landing_files_again(spark, dims, tmp_path):
    out = transform_landing_file(spark, dims, tmp_path)
    out.checked.cache()
    try:
        with temporary_conf(spark, NO_AQE):  # leaves of the plan, not of AQE's
            for frame in (out.staged, out.rejected, out.facts):
                leaves = frame._jdf.queryExecution().executedPlan().collectLeaves()
                kinds = {leaves.apply(i).getClass().getSimpleName() for i in range(leaves.size())}
                assert "InMemoryTableScanExec" in kinds and "FileSourceScanExec" not in kinds, kinds
            assert (out.staged.count(), out.rejected.count()) == (1, 1)
    finally:
        out.checked.unpersist()


def test_lines_carry_a_file_code_through_the_cache_and_are_written_with_the_path(
    spark, dims, tmp_path
):
    out = transform_landing_file(spark, dims, tmp_path)
    assert "source_file" not in out.checked.columns
    assert out.checked.schema[sales_enrich.SOURCE_CODE].dataType.simpleString() == "int"
    path = out.rejected.first().source_file
    assert path.endswith("/sales/2024/01/sales_20240115.csv")
    assert [r.source_file for r in out.staged.collect()] == [path]
    assert [r.source_file for r in out.facts.collect()] == [path]
    assert out.staged.columns.index("source_file") == out.checked.columns.index(
        sales_enrich.SOURCE_CODE)


def test_parse_and_check_methods_stay_small_enough_for_the_jit(spark, dims, tmp_path):
    # HotSpot never compiles a method of 8,000 bytes of bytecode or more (the default
    # -XX:+DontCompileHugeMethods): the stage that parses and checks every line would run
    # interpreted, several times slower, and nothing else would say so.
    out = transform_landing_file(spark, dims, tmp_path)
    plan = physical_plan(spark, out.checked)
    code = spark._jvm.org.apache.spark.sql.execution.debug.package.codegenString(plan)
    sizes = [int(size) for size in re.findall(r"maxMethodCodeSize:(\d+)", code)]
    assert sizes and max(sizes) < 8000, sizes


def test_parse_and_check_before_the_dedupe_shuffle_is_all_generated_code(spark, dims, tmp_path):
    # An expression without generated code (to_json was one) takes its whole operator out
    # of whole-stage code generation: every row of the day was copied out of the pipeline.
    out = transform_landing_file(spark, dims, tmp_path)
    plan = executed_plan(spark, out.checked)
    below_shuffle = plan[plan.index("Exchange hashpartitioning"):].splitlines()[1:]
    operators = [op for op in below_shuffle if "Project [" in op or "Filter " in op]
    assert operators and all("*(" in op for op in operators), plan
    assert reasons(out) == {("Q", ("quantity_not_positive",))}
    assert out.rejected.first().record.startswith('{"transaction_id":"Q"')


def test_zone_offsets_become_utc_and_blank_discount_means_zero(spark, dims):
    out = run_transform(spark, dims, [line(ts="2024-01-15T12:22:03+02:00", disc="")])
    row = out.staged.first()
    assert row.transaction_ts == datetime(2024, 1, 15, 10, 22, 3)
    assert row.discount_amount == Decimal("0.00")
    assert row.sale_date == DAY


def test_unknown_product_store_and_anonymous_customer_link_to_unknown_members(spark, dims):
    out = run_transform(spark, dims, [line(tid="U", prod="P404", store="S404", cust="")])
    fact = out.facts.first()
    assert (fact.product_key, fact.store_key, fact.customer_key) == (UNKNOWN_KEY,) * 3
    assert fact.product_id == "P404"  # kept, so the link can be repaired later
    assert fact.customer_spend_7d is None


def test_derived_measures(spark, dims):
    out = run_transform(spark, dims, [line(qty="4", price="25.00", disc="10.00", total="90.00", pay=" CARD ")])
    fact = out.facts.first()
    assert (fact.gross_amount, fact.net_amount, fact.discount_pct) == (
        Decimal("100.00"), Decimal("90.00"), Decimal("10.00"))
    assert fact.payment_method == "card"
    assert fact.date_key == 20240115


def test_rolling_spend_includes_history_inside_the_window_only(spark, dims):
    history = spark.createDataFrame(
        [("C1", datetime(2024, 1, 10, 9), Decimal("5.00")),   # 5 days before: in 7d and 30d
         ("C1", datetime(2024, 1, 1, 9), Decimal("7.00")),    # 14 days before: 30d only
         ("C9", datetime(2024, 1, 14, 9), Decimal("100.00"))],  # other customer
        "customer_id string, transaction_ts timestamp, net_amount decimal(14,2)",
    )
    rows = [line(tid="A", ts="2024-01-15T10:00:00", total="20.00"),
            line(tid="B", ts="2024-01-15T12:00:00", total="1.00")]
    out = run_transform(spark, dims, rows, history=history)
    got = {r.transaction_id: (r.customer_spend_7d, r.customer_spend_30d) for r in out.facts.collect()}
    assert got == {"A": (Decimal("25.00"), Decimal("32.00")), "B": (Decimal("26.00"), Decimal("33.00"))}


def test_daily_summary_totals_match_facts(spark, dims):
    rows = [line(tid="A", total="20.00"), line(tid="B", prod="P404", total="5.00", qty="1")]
    out = run_transform(spark, dims, rows)
    store, product, _ = dims
    summary = sales_enrich.daily_summary(out.facts, store, product)
    expected = spark.createDataFrame(
        [(DAY, "East", "Toys", Decimal("20.00"), 2, 1), (DAY, "East", "Unknown", Decimal("5.00"), 1, 1)],
        "date date, region string, category string, total_sales decimal(18,2), quantity long, lines long",
    )
    assert_df_equality(summary, expected, ignore_row_order=True, ignore_nullable=True)


def test_customer_key_is_the_dim_customer_version_valid_at_the_sale(spark, dims):
    store, product, _ = dims
    versions = spark.createDataFrame(
        [("C1", 101, date(2024, 1, 1), date(2024, 1, 15)), ("C1", 102, date(2024, 1, 15), None),
         (None, -1, None, None)],
        "customer_id string, customer_key long, valid_from date, valid_to date",
    )
    rows = [line(tid="A", ts="2024-01-14T23:59:59"), line(tid="B", ts="2024-01-15T00:00:00"),
            line(tid="C", cust="C404"), line(tid="D", cust="")]
    out = transform(raw_lines(spark, rows), store, product, versions)
    got = sorted((r.transaction_id, r.customer_key) for r in out.facts.collect())
    assert got == [("A", 101), ("B", 102), ("C", UNKNOWN_KEY), ("D", UNKNOWN_KEY)]


def test_repair_unknown_members_relinks_late_arrivals_once(spark, dims):
    store, product, customer = dims
    out = run_transform(spark, dims, [line(tid="A", prod="P404"), line(tid="B")])
    facts = out.facts
    assert {r.transaction_id: r.product_key for r in facts.collect()}["A"] == UNKNOWN_KEY
    arrived = product.unionByName(
        spark.createDataFrame([("P404",)], "product_id string")
        .withColumn("product_key", surrogate_key("product_id")).withColumn("category", F.lit("Toys")))
    repaired = sales_enrich.repair_unknown_members(facts, store, arrived, customer)
    assert [(r.transaction_id, r.product_key, r.store_key) for r in repaired.collect()] == [
        ("A", arrived.filter("product_id = 'P404'").first().product_key, facts.first().store_key)]
    assert repaired.columns == facts.columns
    merged = facts.filter("transaction_id != 'A'").unionByName(repaired)
    assert sales_enrich.repair_unknown_members(merged, store, arrived, customer).count() == 0


def test_rolling_spend_equals_a_sliding_range_window(spark):
    """Running-total differences give exactly the sliding RANGE frame's sums, including lines
    exactly N days apart, peers in the same second, fractional seconds and history."""
    import random

    rng = random.Random(11)
    moments = [datetime(2024, 1, 1) + timedelta(hours=rng.randint(0, 40 * 24)) for _ in range(150)]
    moments += [m + offset for m in moments[:60]
                for offset in (timedelta(0), timedelta(days=7), timedelta(days=30),
                               timedelta(days=7, seconds=1), timedelta(seconds=0.5))]
    rows = [(f"T{n}", 1, rng.choice(["C1", "C2", "C3", None]), at,
             Decimal(rng.randint(0, 50000)) / 100, n % 3 != 0) for n, at in enumerate(moments)]
    frame = spark.createDataFrame(
        rows, "transaction_id string, line_number int, customer_id string, "
              "transaction_ts timestamp, net_amount decimal(14,2), today boolean")
    lines = frame.filter("today").drop("today")
    history = frame.filter("NOT today").select("customer_id", "transaction_ts", "net_amount")
    got = sales_enrich.with_rolling_spend(lines, history, [7, 30])
    union = frame.withColumn("_s", F.col("transaction_ts").cast("long"))
    expected = union.withColumns({
        f"customer_spend_{d}d": F.when(F.col("customer_id").isNotNull(), F.sum("net_amount").over(
            Window.partitionBy("customer_id").orderBy("_s").rangeBetween(-d * 86400 + 1, 0)
        )).cast("decimal(14,2)") for d in (7, 30)
    }).filter("today").drop("today", "_s")
    assert_df_equality(got, expected.select(*got.columns), ignore_row_order=True)


def test_rolling_spend_window_shuffle_gets_lines_sorted_by_one_long_key(spark):
    # Performance, not results (the test above checks those): lines sorted by one long key
    # before the window's shuffle reach the window's own sort as runs lying together.
    lines = spark.createDataFrame(
        [("T1", 1, "C1", datetime(2024, 1, 15, 9), Decimal("5.00"))],
        "transaction_id string, line_number int, customer_id string, "
        "transaction_ts timestamp, net_amount decimal(14,2)")
    plan = executed_plan(spark, sales_enrich.with_rolling_spend(lines, None, [7]))
    below_shuffle = plan[plan.index("Exchange hashpartitioning(customer_id"):].splitlines()[1]
    assert "Sort [" in below_shuffle and "xxhash64(customer_id" in below_shuffle, plan
