#!/usr/bin/env python3
"""Benchmark worker: a join where one key holds half the rows, three ways.

``lines`` (``--rows`` rows: key 0 on every other row, the rest spread over ``--keys`` keys)
LEFT JOIN ``members`` (one row per key, key 0 included), both read from Parquet written
before the clock starts, the result written to Spark's ``noop`` sink:

* plain  — sort-merge join, AQE off (the join stage has ``--partitions`` tasks);
* aqe    — AQE on with its skew-join split (threshold lowered to ``--aqe-skew-mb`` so the
           hot partition qualifies at this size) and partition coalescing;
* salted — ``etl_lib.skew.salted_join`` (hot keys found by its own sample, inside the
           timed part), AQE off, the whole members side never broadcast
           (``broadcast_mb=0``), so salted_join's hot-key path is what runs: here the
           hot key's one member row is broadcast to the hot lines where they are read,
           and the other keys are sort-merge joined (the join stage: the one reading
           the most shuffle records).

Each variant runs once on a tenth of the lines first (warm-up, untimed), then the three
run in turn ``--rounds`` times. For the join stage (the stage reading the most shuffle
records) the figures come from the driver's REST API: max / median shuffle records read
per task and the longest task. Each figure is the median over the rounds (a single wall
time varies by ±0.5 s here), and every round's figures are kept. Prints one
``BENCH_RESULT`` line.
"""

from __future__ import annotations

import argparse
import statistics
import urllib.error
from pathlib import Path
from typing import Any

from bench_common import emit, log, parse_lines, rest, spark_session, timed

VARIANTS = ("plain", "aqe", "salted")


def make_data(spark: Any, work: Path, rows: int, keys: int) -> tuple[str, str]:
    """Write the skewed ``lines`` and the ``members`` table as Parquet (untimed)."""
    from pyspark.sql import functions as F

    lines_path, members_path = str(work / "lines"), str(work / "members")
    lines = spark.range(rows).select(
        F.when(F.col("id") % 2 == 0, F.lit(0)).otherwise(F.col("id") % keys + 1).alias("k"),
        F.col("id").alias("line_id"),
        (F.col("id") * 7 % 10_000 / 100).alias("amount"),
        F.concat(F.lit("note-"), (F.col("id") % 1000).cast("string")).alias("note"),
    )
    members = spark.range(keys + 1).select(
        F.col("id").alias("k"),
        F.concat(F.lit("member-"), F.col("id").cast("string")).alias("label"),
        (F.col("id") % 7).alias("segment"),
    )
    lines.repartition(8).write.mode("overwrite").parquet(lines_path)
    members.repartition(4).write.mode("overwrite").parquet(members_path)
    return lines_path, members_path


def variant_conf(variant: str, partitions: int, aqe_skew_mb: int) -> dict[str, str]:
    conf = {
        "spark.sql.shuffle.partitions": str(partitions),
        "spark.sql.autoBroadcastJoinThreshold": "-1",
        "spark.sql.adaptive.enabled": "true" if variant == "aqe" else "false",
    }
    if variant == "aqe":
        conf.update({
            "spark.sql.adaptive.skewJoin.enabled": "true",
            "spark.sql.adaptive.skewJoin.skewedPartitionThresholdInBytes": f"{aqe_skew_mb}m",
            "spark.sql.adaptive.advisoryPartitionSizeInBytes": f"{aqe_skew_mb}m",
        })
    return conf


def join(spark: Any, variant: str, lines_path: str, members_path: str,
         sample: bool = False) -> None:
    """The variant's join of ``lines`` (a tenth of them with ``sample``) and ``members``."""
    from etl_lib.skew import SkewSettings, salted_join

    lines = spark.read.parquet(lines_path)
    if sample:
        lines = lines.filter("line_id % 10 = 0")
    members = spark.read.parquet(members_path)
    if variant == "salted":
        joined = salted_join(lines, members, ["k"], "left", settings=SkewSettings(broadcast_mb=0))
    else:
        joined = lines.join(members, ["k"], "left")
    joined.write.format("noop").mode("overwrite").save()


def use_variant(spark: Any, variant: str, partitions: int, aqe_skew_mb: int) -> None:
    for key, value in variant_conf(variant, partitions, aqe_skew_mb).items():
        spark.conf.set(key, value)


def run_variant(spark: Any, variant: str, lines_path: str, members_path: str,
                partitions: int, aqe_skew_mb: int, round_number: int = 0) -> dict[str, Any]:
    use_variant(spark, variant, partitions, aqe_skew_mb)
    group = f"skew-{variant}-{round_number}"
    spark.sparkContext.setJobGroup(group, f"skew benchmark: {variant}")
    wall, _ = timed(lambda: join(spark, variant, lines_path, members_path))
    spark.sparkContext.setJobGroup("idle", "")
    stage = join_stage(spark, group)
    records = [t["taskMetrics"]["shuffleReadMetrics"]["recordsRead"] for t in stage["tasks"]]
    durations = [t["duration"] / 1000 for t in stage["tasks"]]
    result = {
        "wall_s": round(wall, 2),
        "max_task_s": round(max(durations), 2),
        "max_median_records": round(max(records) / statistics.median(records), 2),
    }
    log(f"skew {variant} round {round_number + 1}: {result} (stage {stage['id']}, "
        f"{len(records)} tasks)")
    return {**result, "tasks": len(records), "max_records": max(records),
            "median_records": statistics.median(records),
            "median_task_s": round(statistics.median(durations), 2)}


def warm_up(spark: Any, lines_path: str, members_path: str, partitions: int,
            aqe_skew_mb: int) -> None:
    """Run each variant once on a tenth of the lines, so none pays for a cold JVM or for
    compiling its plan's code (warmed by the plain join only, the salted join's longest
    task took 1.13 s instead of 0.56 s)."""
    for variant in VARIANTS:
        use_variant(spark, variant, partitions, aqe_skew_mb)
        join(spark, variant, lines_path, members_path, sample=True)


def join_stage(spark: Any, group: str) -> dict[str, Any]:
    """The completed stage of ``group``'s jobs that read the most shuffle records, with tasks."""
    tracker = spark.sparkContext.statusTracker()
    best: dict[str, Any] | None = None
    for job_id in tracker.getJobIdsForGroup(group):
        job = tracker.getJobInfo(job_id)
        for stage_id in job.stageIds if job else []:
            try:
                attempts = rest(spark, f"stages/{stage_id}")
            except urllib.error.HTTPError:  # a stage AQE planned but never ran
                continue
            for attempt in attempts:
                if attempt["status"] != "COMPLETE":
                    continue
                if best is None or attempt["shuffleReadRecords"] > best["records"]:
                    best = {"id": stage_id, "attempt": attempt["attemptId"],
                            "records": attempt["shuffleReadRecords"]}
    if best is None:
        raise RuntimeError(f"no completed stage found for job group {group}")
    tasks = rest(spark, f"stages/{best['id']}/{best['attempt']}/taskList?length=1000000")
    return {**best, "tasks": [t for t in tasks if t["status"] == "SUCCESS"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--rows", type=parse_lines, default=parse_lines("10M"))
    parser.add_argument("--keys", type=parse_lines, default=parse_lines("1M"))
    parser.add_argument("--partitions", type=int, default=32)
    parser.add_argument("--aqe-skew-mb", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=3, help="timed rounds of each variant")
    args = parser.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    spark, _, start_s = spark_session("bench-skew", [
        "spark.driver_memory=4g", "spark.ui_enabled=true",
    ])
    lines_path, members_path = make_data(spark, args.work.resolve(), args.rows, args.keys)
    log(f"skew: {args.rows:,} lines over {args.keys:,} keys written; running the variants")
    warm_up(spark, lines_path, members_path, args.partitions, args.aqe_skew_mb)
    rounds: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for round_number in range(args.rounds):
        for variant in VARIANTS:
            rounds[variant].append(run_variant(spark, variant, lines_path, members_path,
                                               args.partitions, args.aqe_skew_mb, round_number))
    emit({"rows": args.rows, "keys": args.keys, "partitions": args.partitions,
          "session_start_s": start_s, "rounds": args.rounds,
          "variants": {v: medians(runs) for v, runs in rounds.items()}})


def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's median over the rounds, and every round's figures under ``rounds``."""
    figures = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    return {**figures, "tasks": runs[0]["tasks"], "rounds": runs}


if __name__ == "__main__":
    main()
