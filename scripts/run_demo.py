"""``make demo``: generate a landing zone, run the pipeline for consecutive days, summarize.

One SparkSession serves every day (as one spark-submit per day would, minus the JVM
start). Each day is a separate pipeline run with its own run_id and RUN_LOG rows.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import secrets
import sys
import time
import uuid
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from etl_lib.config import ConfigError, load_config  # noqa: E402
from etl_lib.job import JobArgs, JobFailed, RunStats, create_context  # noqa: E402
from jobs import pipeline  # noqa: E402
from scripts.generate_data import generate  # noqa: E402

KEY_ENV = "ETL_PII_KEY"


def ensure_demo_key(data_dir: Path) -> None:
    """Use $ETL_PII_KEY, or a random key kept in data/.demo_pii_key (never in git)."""
    if os.environ.get(KEY_ENV):
        return
    key_file = data_dir / ".demo_pii_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
        print(f"created a random demo masking key in {key_file}")
    os.environ[KEY_ENV] = key_file.read_text().strip()


def summarize(days: list[date], results: dict[date, dict[str, RunStats]], locations: dict[str, str]) -> str:
    lines = ["", "=" * 78, f"Demo: {len(days)} business days, {days[0]} .. {days[-1]}", ""]
    lines.append(f"{'day':<12}{'job':<16}{'read':>12}{'loaded':>12}{'rejected':>12}")
    for day in days:
        for job, stats in results[day].items():
            lines.append(f"{day!s:<12}{job:<16}{stats.rows_in:>12,}{stats.rows_out:>12,}"
                         f"{stats.rows_rejected:>12,}")
    totals: dict[str, int] = {}
    for day in days:
        for stats in results[day].values():
            for table, rows in stats.tables.items():
                totals[table] = totals.get(table, 0) + rows
    lines += ["", f"{'table':<34}{'rows written':>14}  location"]
    for table in sorted(totals):
        lines.append(f"{table:<34}{totals[table]:>14,}  {locations[table]}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start-date", type=date.fromisoformat, default=date(2024, 1, 15))
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--landing", type=Path, default=Path("data/landing"))
    parser.add_argument("--warehouse", type=Path, default=Path("warehouse"))
    args = parser.parse_args()

    print(f">> generating {args.days} days of landing data at scale {args.scale} into {args.landing}")
    generate(args.landing, args.start_date, args.days, args.scale, args.seed, verbose=True)
    ensure_demo_key(args.landing.parent)

    days = [args.start_date + timedelta(days=i) for i in range(args.days)]
    overrides = [f"landing.root={args.landing.resolve()}", f"warehouse.root={args.warehouse.resolve()}"]
    try:
        config = load_config("local", overrides)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    first = JobArgs(env="local", run_date=days[0], overrides=tuple(overrides), run_id=uuid.uuid4().hex)
    ctx = create_context("demo", first, config=config)
    results: dict[date, dict[str, RunStats]] = {}
    started = time.monotonic()
    for index, day in enumerate(days, start=1):
        print(f"\n>> day {index}/{len(days)}: pipeline for {day}", flush=True)
        day_ctx = dataclasses.replace(ctx, run_date=day, run_id=uuid.uuid4().hex)
        steps = config.job_params(pipeline.JOB_NAME, pipeline.Params).steps
        try:
            results[day] = pipeline.run_steps(day_ctx, steps)
        except JobFailed as exc:
            print(f"ERROR {exc}", file=sys.stderr)
            return 1
    tables = {t for day_results in results.values() for s in day_results.values() for t in s.tables}
    locations = {table: ctx.warehouse.location(table) for table in tables}
    print(summarize(days, results, locations))
    print(f"\ndone in {time.monotonic() - started:.0f}s; RUN_LOG: {ctx.warehouse.location(config.table('run_log'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
