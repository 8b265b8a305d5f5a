"""compact: the small-file maintenance job, one run per business day, targets from conf.

Each entry of ``jobs.compact.targets`` is a plain folder glob (Parquet or JSON Lines,
compacted folder by folder with an atomic swap) or a Delta table (OPTIMIZE, optionally
Z-ordered, then VACUUM when ``vacuum_retention_hours`` is set). Paths and ``where`` may
use ``{landing_root}``, ``{warehouse_root}``, ``{yyyy}``, ``{mm}``, ``{dd}``, ``{iso}``
(the run date), so one conf entry compacts the day being closed::

    jobs:
      compact:
        targets:
          - {path: "{landing_root}/clickstream/{yyyy}/{mm}/{dd}/*", format: json}
          - {table: fact_sales, where: "sale_date = '{iso}'", zorder_by: [product_key],
             vacuum_retention_hours: 168}

Run alone: ``spark-submit jobs/compact.py --env local --run-date 2024-01-15``.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from etl_lib.compaction import (
    MIN_RETENTION_HOURS,
    CompactionResult,
    compact_directories,
    optimize_delta,
    vacuum_delta,
)
from etl_lib.config import ConfigError
from etl_lib.job import JobContext, RunStats, run_job

JOB_NAME = "compact"


class Target(BaseModel):
    """One thing to compact: a folder glob (``path``) or a logical table name (``table``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = None
    table: str | None = None
    format: Literal["json", "parquet", "delta"] = "delta"
    target_file_mb: float = Field(128, gt=0)
    zorder_by: list[str] = Field(default_factory=list)
    #: Delta only: a partition predicate limiting OPTIMIZE (``sale_date = '{iso}'``).
    where: str | None = None
    #: Delta only: VACUUM after OPTIMIZE, keeping removed files this long (None: no VACUUM).
    vacuum_retention_hours: float | None = Field(None, ge=0)
    force_retention: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Target:
        if (self.path is None) == (self.table is None):
            raise ValueError("give exactly one of path (a folder glob) or table (a logical name)")
        if self.table is not None and self.format != "delta":
            raise ValueError("a table target is a Delta table: leave format as delta")
        delta_only = self.zorder_by or self.where or self.vacuum_retention_hours is not None
        if self.format != "delta" and delta_only:
            raise ValueError("zorder_by, where and vacuum_retention_hours apply to Delta targets only")
        retention = self.vacuum_retention_hours
        if retention is not None and retention < MIN_RETENTION_HOURS and not self.force_retention:
            raise ValueError(
                f"vacuum_retention_hours {retention:g} is under {MIN_RETENTION_HOURS:g}; "
                "set force_retention: true only if no reader or time travel needs those files"
            )
        return self


class Params(BaseModel):
    """``jobs.compact`` in conf."""

    model_config = ConfigDict(extra="forbid")
    targets: list[Target] = Field(default_factory=list)


def expand(template: str, ctx_values: dict[str, str], key: str) -> str:
    """Fill ``{placeholders}`` of a conf string; an unknown one is a conf error naming it."""
    try:
        return template.format(**ctx_values)
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"conf error: jobs.compact.targets.{key}: {template!r} uses an unknown placeholder "
            f"({exc}); known: {', '.join('{' + k + '}' for k in ctx_values)}"
        ) from None


def placeholders(landing_root: str, warehouse_root: str, day: date) -> dict[str, str]:
    """Values of the placeholders conf strings may use."""
    return {
        "landing_root": landing_root.rstrip("/"), "warehouse_root": warehouse_root.rstrip("/"),
        "yyyy": f"{day:%Y}", "mm": f"{day:%m}", "dd": f"{day:%d}", "iso": day.isoformat(),
    }


def compact_target(ctx: JobContext, index: int, target: Target) -> list[CompactionResult]:
    """Compact one conf target; returns one result per folder or table touched."""
    values = placeholders(ctx.config.landing.root, ctx.config.warehouse.root, ctx.run_date)
    if target.path is not None and target.format != "delta":
        pattern = expand(target.path, values, f"{index}.path")
        return compact_directories(ctx.spark, pattern, target.format, target.target_file_mb)
    if target.table is not None:
        if ctx.config.warehouse.kind != "delta":
            ctx.log.info("%s: skipped, the %s warehouse manages its own files",
                         target.table, ctx.config.warehouse.kind)
            return []
        location = ctx.warehouse.location(ctx.table(target.table))
    else:
        location = expand(str(target.path), values, f"{index}.path")
    where = expand(target.where, values, f"{index}.where") if target.where else None
    result = optimize_delta(ctx.spark, location, target.zorder_by, where, target.target_file_mb)
    if target.vacuum_retention_hours is not None:
        deleted = vacuum_delta(
            ctx.spark, location, target.vacuum_retention_hours, target.force_retention
        )
        ctx.log.info("%s: VACUUM deleted %d files", location, deleted)
    return [result]


def run(ctx: JobContext) -> RunStats:
    """Compact every configured target, logging files before and after."""
    params = ctx.config.job_params(JOB_NAME, Params)
    stats = RunStats()
    if not params.targets:
        ctx.log.info("no jobs.compact.targets configured: nothing to do")
    for index, target in enumerate(params.targets):
        for result in compact_target(ctx, index, target):
            ctx.log.info(
                "%s: %d -> %d files (%.1f MB)%s", result.target, result.files_before,
                result.files_after, result.bytes_before / 2**20,
                "" if result.rewritten else ", left as is",
            )
            if result.rows is not None and result.rewritten:
                stats.rows_in += result.rows
                stats.rows_out += result.rows
                stats.tables[result.target] = result.rows
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB_NAME, run, argv)


if __name__ == "__main__":
    sys.exit(main())
