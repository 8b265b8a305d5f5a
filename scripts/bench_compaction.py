#!/usr/bin/env python3
"""Benchmark worker: read a day of clickstream as many small JSON files, then compacted.

The project's generator writes the day (``clickstream/YYYY/MM/DD/HH/*.json``, ~15 events
per file) at the scale that gives about ``--files`` files; a copy is compacted with
``etl_lib.compaction.compact_directories`` (each hour folder, 128 MB target). The read
is what the clickstream job does: ``read_landing(..., "clickstream", day)`` (glob, schema,
JSON parse) and an aggregate over every event; the time is the median of ``--repeats``
runs after one warm-up. Prints one ``BENCH_RESULT`` line.
"""

from __future__ import annotations

import argparse
import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

from bench_common import emit, log, median_time, spark_session, timed

DAY = date(2024, 1, 15)
#: Files the generator writes per 1.0 of scale for one day of clickstream (measured: 3,000
#: events at ~15 events per file, spread over the day's hours).
FILES_PER_SCALE = 200


def generate_day(landing: Path, files: int) -> dict[str, Any]:
    """Write one day of clickstream with about ``files`` files (reused when already there)."""
    from scripts.generate_data import generate

    manifest = landing / "_manifest.json"
    if manifest.exists():
        entry = json.loads(manifest.read_text())["days"][DAY.isoformat()]["clickstream"]
        if abs(entry["files"] - files) <= files * 0.1:
            return entry
    shutil.rmtree(landing, ignore_errors=True)
    scale = files / FILES_PER_SCALE
    done = generate(landing, DAY, days=1, scale=scale, seed=42, datasets=["clickstream"])
    return done["days"][DAY.isoformat()]["clickstream"]


def read_day(spark: Any, root: Path) -> int:
    from pyspark.sql import functions as F

    from etl_lib.landing import read_landing

    events = read_landing(spark, str(root), "clickstream", DAY)
    return sum(r["n"] for r in events.groupBy("event_type").agg(F.count("*").alias("n")).collect())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    work = args.work.resolve()
    small, compacted = work / "landing-small-files", work / "landing-compacted"
    generated = generate_day(small, args.files)
    log(f"compaction: {generated['files']:,} files, {generated['events']:,} events")
    shutil.rmtree(compacted, ignore_errors=True)
    shutil.copytree(small, compacted)
    spark, _, start_s = spark_session("bench-compaction", ["spark.driver_memory=4g"])
    from etl_lib.compaction import compact_directories

    day_glob = str(compacted / f"clickstream/{DAY:%Y/%m/%d}/*")
    compact_s, results = timed(lambda: compact_directories(spark, day_glob, "json", 128))
    files_after = sum(r.files_after for r in results)
    rows = {"small": read_day(spark, small), "compacted": read_day(spark, compacted)}
    if rows["small"] != rows["compacted"]:
        raise SystemExit(f"compaction changed the day's events: {rows}")
    small_s = median_time(lambda: read_day(spark, small), args.repeats)
    compacted_s = median_time(lambda: read_day(spark, compacted), args.repeats)
    log(f"compaction: read {small_s:.2f}s -> {compacted_s:.2f}s ({files_after} files)")
    emit({
        "files_before": generated["files"], "files_after": files_after,
        "events": rows["small"], "compact_s": round(compact_s, 2),
        "read_small_files_s": round(small_s, 3), "read_compacted_s": round(compacted_s, 3),
        "speedup": round(small_s / compacted_s, 1), "session_start_s": start_s,
    })


if __name__ == "__main__":
    main()
