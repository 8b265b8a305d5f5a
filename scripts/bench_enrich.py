#!/usr/bin/env python3
"""Benchmark worker: one day of sales_enrich on Spark (the product's job) or DuckDB (the same
logic in SQL), on the landing files of ``--landing``. Prints one ``BENCH_RESULT`` line.

Both sides start from the same landing CSV files and the same dimensions (built before
the clock starts: Spark by the dimension jobs into Delta, DuckDB from the same landing
files), and both do, inside the timed part:

* parse every line as text, type it with the contract's rules (trimmed, whole numbers,
  plain decimals, ISO-8601 timestamps with or without a zone, blank discount = 0) and
  give every broken rule as a reason; lines with the wrong field count are rejected raw;
* keep the latest version of each (transaction_id, line_number): latest timestamp,
  ties to the later file;
* link store, product and customer keys (unknown member -1), derive gross/net/discount %,
  add the customer's rolling 7- and 30-day spend (a RANGE window per customer);
* summarise by (date, region, category); write staged, rejected, fact and summary rows.

Spark runs the job's own code: ``jobs.sales_enrich.transform`` (staged, rejected, fact
rows; the checked lines cached because they feed all three, as the job does) and
``daily_summary`` over the facts read back, on local[2] with the project's session.
Both sides write the four results as Parquet partitioned the same way (by business date,
sale date, date); DuckDB runs with threads=2 and the same 4 GB of memory as Spark's
driver. The Spark result also says where the JVM's CPU went during the timed transform
(task threads, JIT compilers, garbage collection, the rest: ``cpu_s``). ``--with-job``
also times the whole job as run_job runs it (Delta MERGEs, quality gates and their
metrics, RUN_LOG, unknown-member repair) for the record, then the transform once more in
the same JVM: the share of the first run that is JIT warm-up.

    python scripts/bench_enrich.py --engine spark --landing bench/work/landing-2.5M
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
from datetime import date
from pathlib import Path

from bench_common import (
    JvmCpuMeter,
    emit,
    jvm_pid,
    log,
    peak_rss_mb,
    driver_heap_peak_mb,
    spark_session,
    timed,
)

COLUMNS = ("transaction_id", "line_number", "transaction_ts", "customer_id", "product_id",
           "store_id", "quantity", "unit_price", "discount_amount", "total_amount",
           "payment_method")
INTEGER = r"[+-]?[0-9]+"
# etl_lib.cleansing.decimal_pattern(2): no non-zero digit past the cents (no rounding).
DECIMAL = r"[+-]?([0-9]+\.?|[0-9]*\.[0-9]{1,2}0*)"
# The contract's timestamps: etl_lib.cleansing.TIMESTAMP_PATTERN.
TIMESTAMP = (r"[0-9]{4}-[0-9]{2}-[0-9]{2}([T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?"
             r"|T[0-9]{2}:[0-9]{2})(Z|[+-][0-9]{2}:[0-9]{2})?")


def run_spark(landing: Path, work: Path, day: date, overrides: list[str], with_job: bool) -> dict:
    """Dimensions first (untimed); then the timed transform writing Parquet like DuckDB does;
    with ``with_job`` also the whole job (Delta MERGEs, gates and metrics, RUN_LOG)."""
    from etl_lib.job import JobArgs, create_context, execute_step
    from jobs import customers_dim, dim_date, products_dim, stores_dim

    warehouse = work / "spark-warehouse"
    shutil.rmtree(warehouse, ignore_errors=True)
    # customers_dim masks PII with a keyed hash; a throw-away key for a throw-away warehouse.
    os.environ.setdefault("ETL_PII_KEY", secrets.token_hex(32))
    spark, config, start_s = spark_session("bench-enrich", [
        f"landing.root={landing}", f"warehouse.root={warehouse}", "spark.driver_memory=4g",
        "spark.ui_enabled=true", *overrides,
    ])
    ctx = create_context("sales_enrich", JobArgs("local", day, (), "bench"), config, spark)
    for job in (dim_date, stores_dim, products_dim, customers_dim):
        execute_step(ctx, job.JOB_NAME, job.run)
    log("spark: dimensions ready, running the sales_enrich transform")
    out = work / "spark-out"
    shutil.rmtree(out, ignore_errors=True)
    pid = jvm_pid(spark)
    with JvmCpuMeter(pid) as cpu:
        seconds, _ = timed(lambda: _spark_transform(ctx, out))
    result = {
        "engine": "spark", "seconds": seconds, "session_start_s": start_s,
        "cpu_s": cpu.by_role(),
        "shuffle_partitions": spark.conf.get("spark.sql.shuffle.partitions"),
        "rows": _spark_rows(spark, out),
        "jvm_peak_rss_mb": peak_rss_mb(pid),
        "jvm_heap_peak_mb": driver_heap_peak_mb(spark),
        "python_peak_rss_mb": peak_rss_mb(),
    }
    if with_job:
        from jobs import sales_enrich

        log("spark: running the whole sales_enrich job")
        result["job_seconds"], _ = timed(
            lambda: execute_step(ctx, sales_enrich.JOB_NAME, sales_enrich.run))
        # The timed transform above ran on a cold JVM (its first run of this code, JIT
        # compilation included, as a job's first day does). Again, on warm code:
        log("spark: running the transform again in the same JVM (warm)")
        shutil.rmtree(out, ignore_errors=True)
        result["warm_seconds"], _ = timed(lambda: _spark_transform(ctx, out))
    return result


def _spark_transform(ctx, out: Path) -> None:
    """sales_enrich.transform + daily_summary, each result written as partitioned Parquet."""
    from etl_lib.io.files import SourceFiles
    from etl_lib.landing import read_landing
    from jobs import sales_enrich

    wh, day = ctx.warehouse, ctx.run_date
    raw = read_landing(ctx.spark, ctx.config.landing.root, "sales", day)
    dims = {name: wh.read(ctx.table(name)) for name in ("dim_store", "dim_product", "dim_customer")}
    result = sales_enrich.transform(raw, SourceFiles.of(raw), dims["dim_store"],
                                    dims["dim_product"], dims["dim_customer"], None, day)
    checked = ctx.cache(result.checked)  # feeds staged, rejected and fact rows, as in the job
    for frame, name, column in ((result.rejected, "rejected", "business_date"),
                                (result.staged, "staged", "business_date"),
                                (result.facts, "facts", "sale_date")):
        frame.write.partitionBy(column).parquet(str(out / name))
    facts = ctx.spark.read.parquet(str(out / "facts"))
    summary = sales_enrich.daily_summary(facts, dims["dim_store"], dims["dim_product"])
    summary.write.partitionBy("date").parquet(str(out / "summary"))
    checked.unpersist()


def _spark_rows(spark, out: Path) -> dict:
    from pyspark.sql import functions as F

    counts = {name: spark.read.parquet(str(out / name)).count()
              for name in ("staged", "rejected", "facts")}
    summary = spark.read.parquet(str(out / "summary")).agg(F.sum("lines"), F.sum("total_sales")).first()
    return {**counts, "summary_lines": int(summary[0]), "summary_total": str(summary[1])}


def run_duckdb(landing: Path, work: Path, day: date, threads: int, memory: str) -> dict:
    """The same logic as DuckDB SQL; dimensions untimed, the sales day timed."""
    import duckdb

    out = work / "duckdb-out"
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    con = duckdb.connect()
    con.execute(f"SET threads={threads}; SET memory_limit='{memory}'; SET TimeZone='UTC'; "
                f"SET temp_directory='{work / 'duckdb-tmp'}'; SET preserve_insertion_order=false")
    _duckdb_dimensions(con, landing, day)
    files = sorted(str(p) for p in (landing / f"sales/{day:%Y}/{day:%m}").glob(
        f"sales_{day:%Y%m%d}*.csv"))
    seconds, _ = timed(lambda: _duckdb_sales(con, files, out, day))
    rows = {
        "staged": con.execute("SELECT count(*) FROM staged").fetchone()[0],
        "rejected": con.execute("SELECT count(*) FROM rejected").fetchone()[0],
        "facts": con.execute("SELECT count(*) FROM facts").fetchone()[0],
    }
    lines, total = con.execute(
        f"SELECT sum(lines), sum(total_sales) FROM read_parquet('{out}/summary/*/*.parquet')"
    ).fetchone()
    rows.update(summary_lines=int(lines), summary_total=str(total))
    return {"engine": "duckdb", "seconds": seconds, "threads": threads, "memory_limit": memory,
            "rows": rows, "python_peak_rss_mb": peak_rss_mb()}


def _duckdb_dimensions(con, landing: Path, day: date) -> None:
    stores = landing / f"stores/stores_{day:%Y%m%d}.csv"
    products = landing / f"products/products_{day:%Y%m%d}.json"
    customers = landing / f"customers/snapshot_date={day.isoformat()}/*.parquet"
    con.execute(f"""
        CREATE TABLE dim_store AS
        SELECT hash(store_id) AS store_key, store_id, trim(region) AS region
        FROM read_csv('{stores}', header=true, all_varchar=true)
        QUALIFY row_number() OVER (PARTITION BY store_id) = 1""")
    con.execute(f"""
        CREATE TABLE dim_product AS
        SELECT hash(product_id) AS product_key, product_id, category.name AS category
        FROM read_json('{products}', format='newline_delimited')
        QUALIFY row_number() OVER (PARTITION BY product_id ORDER BY updated_at DESC) = 1""")
    con.execute(f"""
        CREATE TABLE dim_customer AS
        SELECT hash(customer_id) AS customer_key, customer_id
        FROM read_parquet('{customers}')
        QUALIFY row_number() OVER (PARTITION BY customer_id ORDER BY updated_at DESC) = 1""")


def _parse_sql(files: list[str], day: date) -> str:
    columns = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in COLUMNS) + "}"
    file_list = "[" + ", ".join(f"'{f}'" for f in files) + "]"
    trimmed = ",\n".join(f"nullif(trim({c}), '') AS raw_{c}" for c in COLUMNS)

    def integer(c: str) -> str:
        return (f"CASE WHEN regexp_full_match(raw_{c}, '{INTEGER}') "
                f"THEN TRY_CAST(TRY_CAST(raw_{c} AS HUGEINT) AS INTEGER) END")

    def decimal(c: str) -> str:
        return f"CASE WHEN regexp_full_match(raw_{c}, '{DECIMAL}') THEN TRY_CAST(raw_{c} AS DECIMAL(12,2)) END"

    missing = ["transaction_id", "line_number", "product_id", "store_id", "transaction_ts",
               "quantity", "unit_price", "total_amount"]
    parsed = ["line_number", "transaction_ts", "quantity", "unit_price", "discount_amount",
              "total_amount"]
    reasons = [f"CASE WHEN raw_{c} IS NULL THEN '{c}_missing' END" for c in missing]
    reasons += [f"CASE WHEN raw_{c} IS NOT NULL AND {c} IS NULL THEN '{c}_invalid' END" for c in parsed]
    reasons += [
        "CASE WHEN quantity <= 0 THEN 'quantity_not_positive' END",
        "CASE WHEN unit_price < 0 THEN 'unit_price_negative' END",
        "CASE WHEN discount_amount < 0 THEN 'discount_amount_negative' END",
        "CASE WHEN total_amount < 0 THEN 'total_amount_negative' END",
    ]
    return f"""
        CREATE OR REPLACE TABLE typed AS
        WITH raw AS (
            SELECT {trimmed}, filename AS source_file
            FROM read_csv({file_list}, header=true, columns={columns}, filename=true,
                          delim=',', quote='"', escape='"', auto_detect=false,
                          store_rejects=true)
        ), parsed AS (
            SELECT *,
                raw_transaction_id AS transaction_id,
                {integer('line_number')} AS line_number,
                CASE WHEN regexp_full_match(raw_transaction_ts, '{TIMESTAMP}')
                     THEN TRY_CAST(raw_transaction_ts AS TIMESTAMPTZ)::TIMESTAMP END AS transaction_ts,
                raw_customer_id AS customer_id, raw_product_id AS product_id,
                raw_store_id AS store_id,
                {integer('quantity')} AS quantity,
                {decimal('unit_price')} AS unit_price,
                coalesce({decimal('discount_amount')},
                         CASE WHEN raw_discount_amount IS NULL THEN 0::DECIMAL(12,2) END) AS discount_amount,
                {decimal('total_amount')} AS total_amount,
                nullif(lower(regexp_replace(trim(raw_payment_method), '\\s+', ' ', 'g')), '') AS payment_method
            FROM raw
        )
        SELECT *, list_filter([{", ".join(reasons)}], lambda r: r IS NOT NULL) AS reject_reasons
        FROM parsed"""


def _duckdb_sales(con, files: list[str], out: Path, day: date) -> None:
    con.execute(_parse_sql(files, day))
    record = ", ".join(f"'{c}': raw_{c}" for c in COLUMNS)
    con.execute(f"""
        CREATE OR REPLACE TABLE rejected AS
        SELECT DATE '{day}' AS business_date, source_file, reject_reasons,
               NULL::VARCHAR AS raw_record, to_json({{{record}}}) AS record, 'bench' AS run_id
        FROM typed WHERE len(reject_reasons) > 0
        UNION ALL
        SELECT DISTINCT DATE '{day}', s.file_path, ['unparseable_record'], e.csv_line, NULL, 'bench'
        FROM reject_errors e JOIN reject_scans s USING (scan_id, file_id)""")
    con.execute(f"""
        CREATE OR REPLACE TABLE staged AS
        SELECT transaction_id, line_number, transaction_ts, customer_id, product_id, store_id,
               quantity, unit_price, discount_amount, total_amount, payment_method, source_file,
               transaction_ts::DATE AS sale_date, DATE '{day}' AS business_date, 'bench' AS run_id
        FROM typed WHERE len(reject_reasons) = 0
        QUALIFY row_number() OVER (PARTITION BY transaction_id, line_number
                                   ORDER BY transaction_ts DESC, source_file DESC) = 1""")
    spend = ",\n".join(
        f"""CASE WHEN customer_id IS NOT NULL THEN sum(net_amount) OVER (
                PARTITION BY customer_id ORDER BY epoch(transaction_ts)
                RANGE BETWEEN {days * 86400 - 1} PRECEDING AND CURRENT ROW) END::DECIMAL(14,2)
            AS customer_spend_{days}d""" for days in (7, 30))
    con.execute(f"""
        CREATE OR REPLACE TABLE facts AS
        WITH measured AS (
            SELECT s.*,
                strftime(sale_date, '%Y%m%d')::INTEGER AS date_key,
                (quantity * unit_price)::DECIMAL(14,2) AS gross_amount,
                total_amount::DECIMAL(14,2) AS net_amount,
                CASE WHEN quantity * unit_price > 0
                     THEN round(discount_amount / (quantity * unit_price) * 100, 2)
                     ELSE 0 END::DECIMAL(7,2) AS discount_pct,
                coalesce(ds.store_key, -1) AS store_key,
                coalesce(dp.product_key, -1) AS product_key,
                coalesce(dc.customer_key, -1) AS customer_key
            FROM staged s
            LEFT JOIN dim_store ds ON s.store_id = ds.store_id
            LEFT JOIN dim_product dp ON s.product_id = dp.product_id
            LEFT JOIN dim_customer dc ON s.customer_id = dc.customer_id
        )
        SELECT transaction_id, line_number, sale_date, date_key, transaction_ts, store_key,
               product_key, customer_key, store_id, product_id, customer_id, quantity,
               unit_price, discount_amount, gross_amount, net_amount, discount_pct,
               payment_method, {spend}, source_file, business_date, run_id
        FROM measured""")
    con.execute("""
        CREATE OR REPLACE TABLE summary AS
        SELECT f.sale_date AS date, coalesce(ds.region, 'Unknown') AS region,
               coalesce(dp.category, 'Unknown') AS category,
               sum(net_amount)::DECIMAL(18,2) AS total_sales, sum(quantity)::BIGINT AS quantity,
               count(*) AS lines
        FROM facts f
        LEFT JOIN dim_store ds ON f.store_key = ds.store_key
        LEFT JOIN dim_product dp ON f.product_key = dp.product_key
        GROUP BY ALL""")
    for table, column in (("rejected", "business_date"), ("staged", "business_date"),
                          ("facts", "sale_date"), ("summary", "date")):
        con.execute(f"COPY {table} TO '{out / table}' (FORMAT parquet, PARTITION_BY ({column}))")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("spark", "duckdb"), required=True)
    parser.add_argument("--landing", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--day", type=date.fromisoformat, default=date(2024, 1, 15))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--memory", default="4GB", help="DuckDB memory_limit (Spark: driver 4g)")
    parser.add_argument("--conf", action="append", default=[], help="Spark conf override")
    parser.add_argument("--with-job", action="store_true",
                        help="Spark: also time the whole job (Delta MERGE, quality gates) "
                             "and the transform again on the warm JVM")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    if args.engine == "spark":
        emit(run_spark(args.landing.resolve(), args.work.resolve(), args.day, args.conf,
                       args.with_job))
    else:
        emit(run_duckdb(args.landing.resolve(), args.work.resolve(), args.day, args.threads, args.memory))


if __name__ == "__main__":
    main()
