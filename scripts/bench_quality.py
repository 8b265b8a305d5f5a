#!/usr/bin/env python3
"""Measure what a quality gate costs on one day of STG_SALES: uncached, cached, one pass.

Generates one day of sales, stages it with jobs/sales_enrich.py's own ``stage`` (CSV parse,
typing, rejection rules, dedupe shuffle), then runs conf ``quality.tables.stg_sales``'s
row-level rules in Great Expectations on the frame as it is (every GX Spark job recomputes
it from the CSV) and on a cached copy, and for reference computes the same rule counts in
one aggregation. Prints wall time and Spark jobs per variant (docs/quality.md quotes it)::

    python scripts/bench_quality.py --lines 100000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from pyspark.sql import functions as F  # noqa: E402

from etl_lib.config import load_config  # noqa: E402
from etl_lib.io.files import SourceFiles  # noqa: E402
from etl_lib.landing import read_landing  # noqa: E402
from etl_lib.quality.gx_runner import run_row_checks  # noqa: E402
from etl_lib.quality.rules import ROW_CHECKS  # noqa: E402
from etl_lib.session import build_session  # noqa: E402
from jobs import sales_enrich  # noqa: E402
from scripts.generate_data import generate  # noqa: E402

DAY = date(2024, 1, 15)


def one_pass_counts(df, rules):
    """The row-level rules' error counts in one aggregation (unique needs its own groupBy)."""
    flags = []
    for rule in rules:
        if rule.check == "not_null":
            bad = F.col(rule.columns[0]).isNull()
        elif rule.check == "accepted_values":
            bad = ~F.col(rule.column).isin(list(rule.values))
        elif rule.check == "regex":
            bad = ~F.col(rule.column).rlike(rule.pattern)
        elif rule.check == "range":
            low = F.col(rule.column) < rule.min if rule.min is not None else F.lit(False)
            high = F.col(rule.column) > rule.max if rule.max is not None else F.lit(False)
            bad = low | high
        else:
            continue
        flags.append(F.sum(F.coalesce(bad, F.lit(False)).cast("int")).alias(rule.check_name))
    row = df.agg(F.count(F.lit(1)).alias("rows"), *flags).first().asDict()
    for rule in (r for r in rules if r.check == "unique"):
        row[rule.check_name] = (
            df.groupBy(*rule.columns).count().where("count > 1").agg(F.sum("count")).first()[0] or 0
        )
    return row


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000, help="sales lines in the day")
    parser.add_argument("--repeat", type=int, default=3, help="runs per variant (median shown)")
    parser.add_argument("--out", type=Path, default=None, help="work folder (default: a temp dir)")
    args = parser.parse_args()
    args.out = args.out or Path(tempfile.mkdtemp(prefix="bench-quality-"))

    landing = args.out / "landing"
    generate(landing, DAY, 1, 1.0, 42, datasets="stores,products,customers,sales",
             sales_lines_per_day=args.lines)
    config = load_config("local", [f"landing.root={landing}", f"warehouse.root={args.out / 'wh'}"])
    spark = build_session(config, "bench-quality")
    spark.sparkContext.setLogLevel("ERROR")
    sc = spark.sparkContext
    rules = [r for r in config.quality.tables["stg_sales"].rules if r.check in ROW_CHECKS]

    def measured(label, action, repeat=args.repeat):
        seconds = []
        for attempt in range(repeat):
            group = f"{label} #{attempt}"
            sc.setJobGroup(group, group)
            began = time.perf_counter()
            action()
            seconds.append(time.perf_counter() - began)
        jobs = len(sc.statusTracker().getJobIdsForGroup(group))
        print(f"{label:<44}{statistics.median(seconds):>8.2f} s (median of {repeat})"
              f"{jobs:>6} Spark jobs", flush=True)

    def fresh():
        """A new staged frame: nothing of it has been computed or cached yet."""
        raw = read_landing(spark, str(landing), "sales", DAY)
        return sales_enrich.stage(raw, SourceFiles.of(raw), DAY).valid

    table = "STAGING.STG_SALES"
    print(f"{len(rules)} row-level rules on STG_SALES, {args.lines:,} landing lines")
    measured("warm-up (GX import, context, suite)", lambda: run_row_checks(table, rules, fresh()), 1)
    measured("GX on the uncached frame", lambda: run_row_checks(table, rules, fresh()))

    def cached_then(check):
        frame = fresh().cache()
        frame.count()
        check(frame)
        frame.unpersist()

    measured("cache + GX on the cached frame", lambda: cached_then(
        lambda frame: run_row_checks(table, rules, frame)))
    measured("cache + one aggregation pass", lambda: cached_then(
        lambda frame: one_pass_counts(frame, rules)))
    measured("one aggregation pass, uncached", lambda: one_pass_counts(fresh(), rules))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
