"""pipeline: a business day's jobs in dependency order (dimensions, facts, marts).

``spark-submit jobs/pipeline.py --env local --run-date 2024-01-15`` runs the steps listed
in conf ``jobs.pipeline.steps`` in one SparkSession, records each in RUN_LOG, stops at
the first failure (downstream steps do not run) and prints a summary of what it wrote.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from types import ModuleType

from pydantic import BaseModel, ConfigDict, Field

from etl_lib.config import ConfigError
from etl_lib.job import JobContext, RunStats, execute_step, run_job

JOB_NAME = "pipeline"
KNOWN_STEPS = (
    "dim_date", "stores_dim", "products_dim", "customers_dim", "inventory_cdc", "sales_enrich",
    "reviews_clean", "reviews_flatten", "clickstream", "marts",
)


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    steps: list[str] = Field(default=list(KNOWN_STEPS), min_length=1)


def load_step(name: str) -> ModuleType:
    """The job module ``name``: a sibling script (spark-submit, --py-files) or ``jobs.<name>``."""
    if name not in KNOWN_STEPS:
        raise ConfigError(
            f"conf error: jobs.pipeline.steps: unknown step {name!r} (known: {', '.join(KNOWN_STEPS)})"
        )
    try:
        return importlib.import_module(f"jobs.{name}")
    except ModuleNotFoundError:
        return importlib.import_module(name)


def run_steps(ctx: JobContext, steps: Sequence[str]) -> dict[str, RunStats]:
    """Run ``steps`` in order; raises JobFailed at the first failing step."""
    results: dict[str, RunStats] = {}
    modules = [load_step(name) for name in steps]  # fail on a bad name before any work
    for index, (name, module) in enumerate(zip(steps, modules), start=1):
        ctx.log.info("step %d/%d: %s", index, len(steps), name)
        results[name] = execute_step(ctx, name, module.run)
    return results


def format_summary(ctx: JobContext, results: dict[str, RunStats]) -> str:
    """A short human summary: rows per job, then rows written per table and where it is."""
    lines = [f"Run {ctx.run_date} (run_id {ctx.run_id}), env {ctx.config.env}", ""]
    lines.append(f"{'job':<16}{'read':>12}{'loaded':>12}{'rejected':>12}")
    for name, stats in results.items():
        lines.append(f"{name:<16}{stats.rows_in:>12,}{stats.rows_out:>12,}{stats.rows_rejected:>12,}")
    lines += ["", f"{'table':<34}{'rows written':>14}  location"]
    for stats in results.values():
        for table, rows in stats.tables.items():
            lines.append(f"{table:<34}{rows:>14,}  {ctx.warehouse.location(table)}")
    return "\n".join(lines)


def run(ctx: JobContext) -> RunStats:
    """Run the configured steps, print the summary, and return the steps' totals."""
    steps = ctx.config.job_params(JOB_NAME, Params).steps
    results = run_steps(ctx, steps)
    print(format_summary(ctx, results), flush=True)
    total = RunStats()
    for stats in results.values():
        total.rows_in += stats.rows_in
        total.rows_out += stats.rows_out
        total.rows_rejected += stats.rows_rejected
        total.tables.update(stats.tables)
    return total


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB_NAME, run, argv)


if __name__ == "__main__":
    sys.exit(main())
