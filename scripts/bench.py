#!/usr/bin/env python3
"""The performance harness (``make bench``): four benchmarks, a markdown table, JSON results.

1. sales_enrich on Spark local[2] vs the same logic in DuckDB (threads=2) on the same
   landing files, at ``--scales`` lines (default 2.5M and 20M); Spark session start apart.
2. A left join where one key holds half the rows: plain sort-merge (AQE off), AQE skew
   join, ``salted_join``; join-stage max/median task records and longest task.
3. A day of clickstream as ~20,000 small JSON files vs the same day after ``compact``.
4. Scaling of sales_enrich on Spark at ``--scaling`` lines: seconds per million lines and
   driver peak memory.

Data comes from ``scripts/generate_data.py`` (kept under ``--work`` and reused when the
same size is asked again). Every measurement runs in its own process. Results:
``bench/results/latest.json`` (the figures the issue lists, nothing else),
``latest_details.json`` (every raw figure) and ``latest.md`` (the tables below).
``--quick`` runs small sizes for a smoke test and writes ``quick*`` files instead.

    python scripts/bench.py                       # the full run (about half an hour on 2 cores)
    python scripts/bench.py --quick               # a few minutes
    python scripts/bench.py --only enrich --scales 2.5M
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from datetime import date
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench_common import REPO, RESULT_PREFIX, lines_label, log, machine, parse_lines

DAY = date(2024, 1, 15)
BENCHMARKS = ("enrich", "skew", "compaction", "scaling")
TARGETS = {
    "enrich_ratio": 3.0,          # Spark within 3x of DuckDB
    "skew_max_median": 2.0,       # salted join-stage max/median task records
    "skew_task_gain": 3.0,        # plain longest task / salted longest task
    "skew_wall_ratio": 1.2,       # salted wall time vs plain
    "compaction_speedup": 20.0,
    "scaling_ratio": 1.2,         # s per million at the largest size vs the middle one
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few minutes")
    parser.add_argument("--scales", default=None, help="enrich sizes (default 2.5M,20M)")
    parser.add_argument("--scaling", default=None, help="scaling sizes (default 1M,5M,20M)")
    parser.add_argument("--skew-rows", default=None, help="skew join rows (default 10M)")
    parser.add_argument("--click-files", type=int, default=None, help="default 20000")
    parser.add_argument("--repeats", type=int, default=None,
                        help="rounds at the smallest enrich size (a fresh process per engine in "
                             "turn) and of the skew variants; medians are reported (default 5)")
    parser.add_argument("--only", default=",".join(BENCHMARKS), help="comma-separated subset")
    parser.add_argument("--work", type=Path, default=REPO / "bench" / "work")
    parser.add_argument("--out", type=Path, default=None,
                        help="results JSON (default bench/results/latest.json, quick.json)")
    args = parser.parse_args(argv)
    quick = args.quick
    args.scales = [parse_lines(s) for s in (args.scales or ("0.1M,0.2M" if quick else "2.5M,20M")).split(",")]
    args.scaling = [parse_lines(s) for s in (args.scaling or ("0.1M,0.2M,0.4M" if quick else "1M,5M,20M")).split(",")]
    args.skew_rows = parse_lines(args.skew_rows or ("1M" if quick else "10M"))
    args.click_files = args.click_files or (2_000 if quick else 20_000)
    args.repeats = args.repeats or (1 if quick else 5)
    if args.repeats < 1:
        parser.error("--repeats must be at least 1")
    args.only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"--only: unknown benchmark(s) {sorted(unknown)}; choose from {BENCHMARKS}")
    args.out = args.out or REPO / "bench" / "results" / ("quick.json" if quick else "latest.json")
    return args


def landing_for(work: Path, lines: int) -> Path:
    """The landing zone with one day of ``lines`` sales lines (generated once, then reused)."""
    from scripts.generate_data import generate

    landing = work / f"landing-{lines_label(lines)}"
    manifest = landing / "_manifest.json"
    if manifest.exists():
        params = json.loads(manifest.read_text())["params"]
        if params.get("sales_lines_per_day") == lines and params.get("start_date") == DAY.isoformat():
            return landing
    log(f"generating {lines:,} sales lines into {landing}")
    began = time.perf_counter()
    generate(landing, DAY, days=1, scale=1.0, seed=42,
             datasets=["stores", "products", "customers", "sales"], sales_lines_per_day=lines)
    log(f"generated in {time.perf_counter() - began:.0f}s")
    return landing


def worker(script: str, *args: str) -> dict[str, Any]:
    """Run ``scripts/<script>`` in its own process; its stderr streams through."""
    command = [sys.executable, str(REPO / "scripts" / script), *args]
    log(" ".join(command[1:]))
    done = subprocess.run(command, cwd=REPO, stdout=subprocess.PIPE, text=True)
    results = [line for line in done.stdout.splitlines() if line.startswith(RESULT_PREFIX)]
    if done.returncode != 0 or not results:
        raise SystemExit(f"{script} failed (exit {done.returncode}); see its output above")
    return json.loads(results[-1][len(RESULT_PREFIX):])


def enrich_runs(args: argparse.Namespace, lines: int, engines: Sequence[str],
                cache: dict) -> dict[str, dict[str, Any]]:
    """Each engine's run(s) at ``lines``, by engine name.

    At the smallest enrich size ``--repeats`` rounds, each round one fresh process per
    engine in turn (a first run in a JVM varies by ±20% on a shared 2-core VM, and the
    machine's speed drifts over minutes: alternating gives both engines the same drift);
    ``seconds`` is the median and ``samples_s`` every run. One run at the larger sizes.
    """
    todo = [engine for engine in engines if (engine, lines) not in cache]
    smallest = lines == min(args.scales)
    landing = landing_for(args.work, lines) if todo else None
    runs: dict[str, list[dict[str, Any]]] = {engine: [] for engine in todo}
    for attempt in range(args.repeats if smallest else 1):
        for engine in todo:
            # The whole job (Delta, quality gates) and a warm rerun: once, at the smallest size.
            job = ["--with-job"] if engine == "spark" and smallest and attempt == 0 else []
            runs[engine].append(worker(
                "bench_enrich.py", "--engine", engine, "--landing", str(landing),
                "--work", str(args.work / f"run-{engine}-{lines_label(lines)}"), *job))
    for engine, engine_runs in runs.items():
        samples = [run["seconds"] for run in engine_runs]
        median_run = next(run for run in engine_runs
                          if run["seconds"] == statistics.median_low(samples))
        cache[(engine, lines)] = {**engine_runs[0], "seconds": statistics.median(samples),
                                  "samples_s": samples, "cpu_s": median_run.get("cpu_s")}
    return {engine: cache[(engine, lines)] for engine in engines}


def check_same_rows(spark: dict[str, Any], duck: dict[str, Any], lines: int) -> None:
    if spark["rows"] != duck["rows"]:
        raise SystemExit(f"Spark and DuckDB disagree at {lines:,} lines: "
                         f"{spark['rows']} vs {duck['rows']}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    import pyspark

    details: dict[str, Any] = {"machine": machine(), "spark": f"{pyspark.__version__} local[2]",
                               "date": time.strftime("%Y-%m-%d %H:%M"), "quick": args.quick}
    runs: dict = {}
    if "enrich" in args.only:
        details["enrich"] = {}
        for lines in args.scales:
            both = enrich_runs(args, lines, ("duckdb", "spark"), runs)
            duck, spark = both["duckdb"], both["spark"]
            check_same_rows(spark, duck, lines)
            details["enrich"][lines_label(lines)] = {
                "spark_s": round(spark["seconds"], 2), "duckdb_s": round(duck["seconds"], 2),
                "ratio": round(spark["seconds"] / duck["seconds"], 2),
                "spark_samples_s": [round(x, 2) for x in spark["samples_s"]],
                "duckdb_samples_s": [round(x, 2) for x in duck["samples_s"]],
                "spark_session_start_s": round(spark["session_start_s"], 2), "rows": spark["rows"],
                "spark_cpu_s": spark.get("cpu_s"),
                "spark_whole_job_s": round(spark["job_seconds"], 2) if "job_seconds" in spark else None,
                "spark_warm_s": round(spark["warm_seconds"], 2) if "warm_seconds" in spark else None,
            }
    if "skew" in args.only:
        details["skew"] = worker("bench_skew.py", "--work", str(args.work / "skew"),
                                 "--rows", str(args.skew_rows),
                                 "--partitions", "8" if args.quick else "32",
                                 "--rounds", str(args.repeats))
    if "compaction" in args.only:
        details["compaction"] = worker(
            "bench_compaction.py", "--work", str(args.work / "compaction"),
            "--files", str(args.click_files), "--repeats", "2" if args.quick else "3")
    if "scaling" in args.only:
        details["scaling"] = {}
        for lines in args.scaling:
            run = enrich_runs(args, lines, ("spark",), runs)["spark"]
            details["scaling"][f"{lines / 1e6:g}"] = {
                "lines": lines, "spark_s": round(run["seconds"], 2),
                "s_per_million": round(run["seconds"] / (lines / 1e6), 2),
                "jvm_peak_rss_mb": round(run["jvm_peak_rss_mb"]),
                "jvm_heap_peak_mb": round(run["jvm_heap_peak_mb"] or 0),
                "python_peak_rss_mb": round(run["python_peak_rss_mb"]),
            }
    from bench_report import headline, markdown

    details_path = args.out.with_name(args.out.stem + "_details.json")
    details["measured_at"] = {name: details["date"] for name in args.only}
    if set(args.only) != set(BENCHMARKS) and details_path.exists():
        previous = json.loads(details_path.read_text())  # keep the benchmarks not re-run
        details = {**previous, **details,
                   "measured_at": {**previous.get("measured_at", {}), **details["measured_at"]}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(headline(details), indent=2) + "\n")
    details_path.write_text(json.dumps(details, indent=2, default=str) + "\n")
    report = markdown(details, TARGETS)
    args.out.with_suffix(".md").write_text(report)
    print(report)
    log(f"results: {args.out}, {args.out.stem}_details.json, {args.out.stem}.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
