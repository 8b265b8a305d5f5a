"""sales_enrich: landing sales CSV -> STG_SALES + REJECTED_SALES -> FACT_SALES -> DAILY_SALES_SUMMARY.

Every landing line ends in exactly one place: STG_SALES (the latest version of a line),
REJECTED_SALES (with every reason that applies), or superseded by a correction (the same
transaction_id + line_number with a later transaction_ts, ties won by the later file).
Facts are merged by line key, so re-running a day leaves the same tables.

Run alone: ``spark-submit jobs/sales_enrich.py --env local --run-date 2024-01-15``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import reduce

from pydantic import BaseModel, ConfigDict, Field
from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from etl_lib.cleansing import blank_to_null, normalize_text, parse_decimal, parse_int, parse_timestamp
from etl_lib.dedupe import dedupe_latest
from etl_lib.dimensions import date_key
from etl_lib.io.files import RAW_RECORD, SOURCE_FILE, SourceFiles
from etl_lib.job import JobContext, RunStats, run_job
from etl_lib.joins import UNKNOWN_KEY, lookup_key
from etl_lib.landing import SALES_SCHEMA, read_landing
from etl_lib.scd import member_key_at
from etl_lib.staging import REJECTION, StagedBatch, check_rows, is_rejected, split_checked
from etl_lib.validation import Rule, is_missing, not_parsed

JOB_NAME = "sales_enrich"
LINE_KEY = ("transaction_id", "line_number")
LATEST_FIRST = ("transaction_ts", "source_file")
#: Stands for source_file while lines are shuffled, sorted and cached (see SourceFiles).
SOURCE_CODE = "_source_file_code"
#: LATEST_FIRST while lines carry SOURCE_CODE: codes order as their paths do, so the
#: later file still wins a tie.
LATEST_FIRST_CODED = ("transaction_ts", SOURCE_CODE)
#: Fact columns that link to a dimension member (UNKNOWN_KEY until the member arrives).
MEMBER_KEYS = ("store_key", "product_key", "customer_key")
RAW_COLUMNS = tuple(field.name for field in SALES_SCHEMA.fields)


class Params(BaseModel):
    """``jobs.sales_enrich`` in conf."""

    model_config = ConfigDict(extra="forbid")
    rolling_windows_days: list[int] = Field(default=[7, 30], min_length=1)


@dataclass(frozen=True)
class SalesOutputs:
    """What :func:`transform` produces for one business day.

    ``checked`` holds the staged and rejected rows before they split (and the facts build
    on the staged ones): cache it when writing them, and the landing files are read once.
    Its lines name their file by :data:`SOURCE_CODE`; ``staged`` and ``facts`` by path.
    """

    staged: DataFrame
    rejected: DataFrame
    facts: DataFrame
    checked: DataFrame


def standardize(raw: DataFrame, source_files: SourceFiles) -> DataFrame:
    """The raw text columns trimmed (as ``raw_*``, blank = null) and the contract's typed ones.

    The line's file is :data:`SOURCE_CODE` (``_source_file`` stays for REJECTED rows). The
    parsers trim their text themselves: in one projection Spark trims each value once for
    all of them, and the generated code of the stage that parses and checks every line
    stays smaller (under 8,000 bytes of bytecode a method, or the JIT leaves it interpreted:
    a test checks it).
    """
    return raw.select(
        *[blank_to_null(F.col(c)).alias(f"raw_{c}") for c in RAW_COLUMNS], RAW_RECORD, SOURCE_FILE,
        blank_to_null(F.col("transaction_id")).alias("transaction_id"),
        parse_int(F.col("line_number")).alias("line_number"),
        parse_timestamp(F.col("transaction_ts")).alias("transaction_ts"),
        blank_to_null(F.col("customer_id")).alias("customer_id"),
        blank_to_null(F.col("product_id")).alias("product_id"),
        blank_to_null(F.col("store_id")).alias("store_id"),
        parse_int(F.col("quantity")).alias("quantity"),
        parse_decimal(F.col("unit_price")).alias("unit_price"),
        F.coalesce(
            parse_decimal(F.col("discount_amount")),
            F.when(blank_to_null(F.col("discount_amount")).isNull(),
                   F.lit(0).cast("decimal(12,2)")),
        ).alias("discount_amount"),
        parse_decimal(F.col("total_amount")).alias("total_amount"),
        normalize_text(F.col("payment_method")).alias("payment_method"),
        source_files.code(F.col(SOURCE_FILE)).alias(SOURCE_CODE),
    )


def rejection_rules() -> list[Rule]:
    """The contract's reasons to reject a sales line (every one that applies is kept)."""
    raw_missing = [
        Rule(f"{c}_missing", F.col(f"raw_{c}").isNull())
        for c in ("transaction_id", "line_number", "product_id", "store_id", "transaction_ts",
                  "quantity", "unit_price", "total_amount")
    ]
    unparsed = [
        not_parsed(f"raw_{c}", F.col(c), c)
        for c in ("line_number", "transaction_ts", "quantity", "unit_price", "discount_amount",
                  "total_amount")
    ]
    business = [
        Rule("quantity_not_positive", F.col("quantity") <= 0),
        Rule("unit_price_negative", F.col("unit_price") < 0),
        Rule("discount_amount_negative", F.col("discount_amount") < 0),
        Rule("total_amount_negative", F.col("total_amount") < 0),
    ]
    return [*raw_missing, *unparsed, *business]


def stage(raw: DataFrame, source_files: SourceFiles, business_date: date) -> StagedBatch:
    """Type, validate and deduplicate a day's raw lines into STG_SALES and REJECTED_SALES rows.

    Rejected lines ride through the dedupe shuffle next to the valid ones (and are all
    kept), so both outcomes come from one pass over the files (``checked``). Valid lines
    name their file by :data:`SOURCE_CODE` (:func:`transform` turns it back into the path).
    """
    typed = standardize(raw, source_files)
    record = F.struct(*[F.col(f"raw_{c}").alias(c) for c in RAW_COLUMNS])
    checked = check_rows(typed, rejection_rules(), record, business_date).select(
        "transaction_id", "line_number", "transaction_ts", "customer_id", "product_id",
        "store_id", "quantity", "unit_price", "discount_amount", "total_amount",
        "payment_method", SOURCE_CODE, REJECTION,
    )
    latest = dedupe_latest(checked, LINE_KEY, LATEST_FIRST_CODED, passthrough=is_rejected())
    batch = split_checked(latest)
    return replace(batch, valid=batch.valid.withColumns({
        "sale_date": F.to_date("transaction_ts"),
        "business_date": F.lit(business_date),
    }))


def with_rolling_spend(
    lines: DataFrame, history: DataFrame | None, windows_days: Sequence[int]
) -> DataFrame:
    """Add ``customer_spend_<N>d``: the customer's net spend in the N days up to each line.

    The window of a line at second ``t`` holds the customer's lines in ``(t - N days, t]``
    (whole seconds). ``history`` holds earlier fact lines (customer_id, transaction_ts,
    net_amount) so the window sees spend before today. Anonymous lines (no customer_id)
    get nulls.

    One window pass over the lines (no join back), as a difference of running totals,
    ``total(t) - total(t - N days)``: every frame starts at the customer's first line, so
    Spark adds each line once per frame, and frames sharing one window spec are computed
    in one operator (a running total read back with ``last`` took a second one). A
    sliding ``RANGE BETWEEN N days PRECEDING AND CURRENT ROW`` frame gives the same
    numbers but is re-aggregated whenever it moves: quadratic in a customer's lines per
    window (50 s of 2 cores at 1,200 lines per customer per day, and far worse with 30
    days of history).
    """
    rows = lines.withColumn("_current", F.lit(True))
    if history is not None:
        earlier = history.select(
            "customer_id", "transaction_ts", "net_amount", F.lit(False).alias("_current")
        ).filter(F.col("customer_id").isNotNull())
        rows = rows.unionByName(earlier, allowMissingColumns=True)
    # Each anonymous line is a window partition of its own: no spend, and no hot null key.
    # Every frame has the same partition and order columns: one shuffle and window operator.
    rows = rows.withColumns({
        "_anonymous": F.when(F.col("customer_id").isNull(), F.struct(*LINE_KEY)),
        "_second": F.col("transaction_ts").cast("long"),
        "_cents": (F.col("net_amount") * 100).cast("long"),  # exact; long sums are cheap
    })
    by_time = Window.partitionBy("customer_id", "_anonymous").orderBy("_second")
    # Order only, not results: each map task sorts its lines by one long (a radix sort) so
    # that the window's shuffle delivers every customer's lines as a few time-ordered runs
    # lying together. The window's own sort then merges runs of nearby rows instead of
    # comparing ~1,200 lines per customer that tie on its sort prefix, scattered in memory.
    rows = rows.sortWithinPartitions(_customer_then_time(F.col("customer_id"), F.col("_second")))

    def total_until(offset_seconds: int) -> Column:
        frame = by_time.rangeBetween(Window.unboundedPreceding, offset_seconds)
        return F.sum("_cents").over(frame)

    spend = rows.withColumns({
        f"customer_spend_{days}d": F.when(
            F.col("customer_id").isNotNull(),
            (total_until(0) - F.coalesce(total_until(-days * 86400), F.lit(0)))
            # Cents to units by multiplying: Spark divides decimals at scale 38 (2.6x slower).
            .cast("decimal(15,0)") * F.lit(Decimal("0.01")),
        ).cast("decimal(14,2)")
        for days in windows_days
    })
    return spend.filter("_current").drop("_current", "_anonymous", "_second", "_cents")


def _customer_then_time(customer: Column, second: Column) -> Column:
    """One long that orders lines by (the upper 32 bits of the customer's hash, second)."""
    customer_bits = F.xxhash64(customer).bitwiseAND(F.lit(-(1 << 32)))
    return customer_bits.bitwiseOR(second.bitwiseAND(F.lit(0xFFFFFFFF)))


def build_facts(
    staged: DataFrame,
    dim_store: DataFrame,
    dim_product: DataFrame,
    dim_customer: DataFrame,
    history: DataFrame | None,
    windows_days: Sequence[int],
) -> DataFrame:
    """FACT_SALES rows (the file still as :data:`SOURCE_CODE`): surrogate keys (unknown
    member -1 for misses) and derived measures.

    The rolling spend comes first: its window shuffles and sorts the lines by customer,
    and the keys and measures derived after it are columns those rows need not carry.
    """
    with_net = staged.withColumn("net_amount", F.col("total_amount").cast("decimal(14,2)"))
    with_spend = with_rolling_spend(with_net, history, windows_days)
    gross = F.col("quantity") * F.col("unit_price")
    measured = with_spend.withColumns({
        "date_key": date_key("sale_date"),
        "gross_amount": gross.cast("decimal(14,2)"),
        "discount_pct": F.when(
            gross > 0, F.round(F.col("discount_amount") / gross * 100, 2)
        ).otherwise(F.lit(0)).cast("decimal(7,2)"),
    })
    linked = lookup_key(measured, dim_store, "store_id", "store_key")
    linked = lookup_key(linked, dim_product, "product_id", "product_key")
    enriched = member_key_at(linked, dim_customer, "customer_id", "customer_key", "transaction_ts")
    return enriched.select(
        *LINE_KEY, "sale_date", "date_key", "transaction_ts", "store_key", "product_key",
        "customer_key", "store_id", "product_id", "customer_id", "quantity", "unit_price",
        "discount_amount", "gross_amount", "net_amount", "discount_pct", "payment_method",
        *[f"customer_spend_{days}d" for days in windows_days],
        SOURCE_CODE, "business_date",
    )


def transform(
    raw_sales: DataFrame,
    source_files: SourceFiles,
    dim_store: DataFrame,
    dim_product: DataFrame,
    dim_customer: DataFrame,
    history: DataFrame | None,
    business_date: date,
    windows_days: Sequence[int] = (7, 30),
) -> SalesOutputs:
    """The whole job's logic, without I/O: raw day of sales in, staged/rejected/fact rows out.

    Args:
        raw_sales: the day's landing lines as read by ``read_landing(..., "sales", ...)``.
        source_files: the files of ``raw_sales`` (``SourceFiles.of(raw_sales)``).
        dim_store, dim_product: current dimension rows (natural key + key).
        dim_customer: DIM_CUSTOMER's versions (SCD2: the version valid at the sale is
            linked), or one row per customer.
        history: fact lines of the days before (for rolling spend), or None on the first day.
    """
    batch = stage(raw_sales, source_files, business_date)
    facts = build_facts(batch.valid, dim_store, dim_product, dim_customer, history, windows_days)
    return SalesOutputs(
        staged=_with_source_path(batch.valid, source_files),
        rejected=batch.rejected,
        facts=_with_source_path(facts, source_files),
        checked=batch.checked,
    )


def _with_source_path(lines: DataFrame, source_files: SourceFiles) -> DataFrame:
    """``lines`` with :data:`SOURCE_CODE` turned back into ``source_file`` (in its place)."""
    return lines.select(*[
        source_files.path(F.col(c)).alias("source_file") if c == SOURCE_CODE else F.col(c)
        for c in lines.columns
    ])


def repair_unknown_members(
    facts: DataFrame, dim_store: DataFrame, dim_product: DataFrame, dim_customer: DataFrame
) -> DataFrame:
    """Fact lines linked to an unknown member (-1) whose member has arrived, with the link repaired.

    Only the -1 keys are re-linked (with the same lookups as new lines); keys already set
    never change. Only repaired lines are returned, with ``facts``' columns, so merging them
    by line key is idempotent: a second run finds nothing left to repair.
    """
    unknown = reduce(lambda a, b: a | b, [F.col(k) == UNKNOWN_KEY for k in MEMBER_KEYS])
    candidates = facts.filter(unknown).withColumnsRenamed({k: f"_was_{k}" for k in MEMBER_KEYS})
    relinked = lookup_key(candidates, dim_store, "store_id", "store_key")
    relinked = lookup_key(relinked, dim_product, "product_id", "product_key")
    relinked = member_key_at(relinked, dim_customer, "customer_id", "customer_key",
                             "transaction_ts")
    was_unknown = {k: F.col(f"_was_{k}") == UNKNOWN_KEY for k in MEMBER_KEYS}
    repaired = reduce(
        lambda a, b: a | b, [was_unknown[k] & (F.col(k) != UNKNOWN_KEY) for k in MEMBER_KEYS]
    )
    return relinked.filter(repaired).withColumns({
        k: F.when(was_unknown[k], F.col(k)).otherwise(F.col(f"_was_{k}")) for k in MEMBER_KEYS
    }).select(*facts.columns)


def daily_summary(facts: DataFrame, dim_store: DataFrame, dim_product: DataFrame) -> DataFrame:
    """DAILY_SALES_SUMMARY rows: (date, region, category) -> total_sales, quantity, lines."""
    stores = F.broadcast(dim_store.select("store_key", "region"))
    products = F.broadcast(dim_product.select("product_key", "category"))
    return (
        facts.join(stores, "store_key", "left")
        .join(products, "product_key", "left")
        .groupBy(
            F.col("sale_date").alias("date"),
            F.coalesce("region", F.lit("Unknown")).alias("region"),
            F.coalesce("category", F.lit("Unknown")).alias("category"),
        )
        .agg(
            F.sum("net_amount").cast("decimal(18,2)").alias("total_sales"),
            F.sum("quantity").cast("long").alias("quantity"),
            F.count(F.lit(1)).alias("lines"),
        )
    )


def run(ctx: JobContext) -> RunStats:
    """Read the day's sales and the dimensions, transform, write four tables."""
    params = ctx.config.job_params(JOB_NAME, Params)
    wh, stats, day = ctx.warehouse, RunStats(), ctx.run_date
    windows = params.rolling_windows_days
    raw = read_landing(
        ctx.spark, ctx.config.landing.root, "sales", day, ctx.config.landing.sales_multiline
    )
    fact_table = ctx.table("fact_sales")
    history = None
    if wh.exists(fact_table):
        history = wh.read(fact_table).filter(
            F.col("sale_date").between(day - timedelta(days=max(windows)), day - timedelta(days=1))
        )
    dims = {name: wh.read(ctx.table(name)) for name in ("dim_store", "dim_product", "dim_customer")}
    out = transform(
        raw, SourceFiles.of(raw), dims["dim_store"], dims["dim_product"],
        dims["dim_customer"], history, day, windows,
    )
    # Read, check and deduplicate once, enrich once: each frame feeds a quality gate and
    # writes. The checked lines are cached after the dedupe, already narrowed to the
    # staged columns (caching the wide typed lines costs more than it saves).
    cached = [ctx.cache(out.checked), ctx.cache(out.facts)]
    stats.rows_in = raw.count()
    ctx.log.info("read %d landing sales lines for %s", stats.rows_in, day)
    ctx.quality_gate(stg_sales=out.staged, rejected_sales=out.rejected)

    stats.wrote(wh.overwrite_partitions(
        out.rejected, ctx.table("rejected_sales"), "business_date", [day],
        partition_by=["business_date"],
    ), counts_as="rejected")
    staged = stats.wrote(wh.merge(
        out.staged, ctx.table("stg_sales"), keys=LINE_KEY, newer_by=LATEST_FIRST,
        partition_by=["business_date"],
    ), counts_as="other")
    ctx.log.info("staged %d lines, rejected %d", staged.rows_written, stats.rows_rejected)
    ctx.reconcile_landing("stg_sales", raw)
    ctx.quality_gate(fact_sales=out.facts)
    stats.wrote(wh.merge(
        out.facts, fact_table, keys=LINE_KEY, newer_by=LATEST_FIRST, partition_by=["sale_date"],
    ))
    # Late-arriving members: re-link older lines still pointing at an unknown member.
    repaired = repair_unknown_members(
        wh.read(fact_table), dims["dim_store"], dims["dim_product"], dims["dim_customer"]
    ).cache()
    repaired_dates = [r[0] for r in repaired.select("sale_date").distinct().collect()]
    if repaired_dates:
        fixed = stats.wrote(wh.merge(repaired, fact_table, keys=LINE_KEY))
        ctx.log.info("re-linked %d fact lines to members that arrived late", fixed.rows_updated)
    repaired.unpersist()
    sale_dates = sorted(
        {r[0] for r in out.staged.select("sale_date").distinct().collect()} | set(repaired_dates)
    )
    facts_of_days = wh.read(fact_table).filter(F.col("sale_date").isin(sale_dates))
    summary = daily_summary(facts_of_days, dims["dim_store"], dims["dim_product"])
    ctx.quality_gate(daily_sales_summary=summary)
    stats.wrote(wh.overwrite_partitions(
        summary, ctx.table("daily_sales_summary"), "date", sale_dates, partition_by=["date"],
    ), counts_as="other")
    for frame in cached:
        frame.unpersist()
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB_NAME, run, argv)


if __name__ == "__main__":
    sys.exit(main())
