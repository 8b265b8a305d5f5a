"""dim_date: the pre-populated calendar CURATED.DIM_DATE (date_key = yyyymmdd).

Rebuilt whole from ``jobs.dim_date.start``/``end`` in conf: same conf, same table.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict, model_validator
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl_lib.dimensions import date_key
from etl_lib.job import JobContext, RunStats, run_job

JOB_NAME = "dim_date"


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    start: date = date(2020, 1, 1)
    end: date = date(2030, 12, 31)

    @model_validator(mode="after")
    def _ordered(self) -> "Params":
        if self.end < self.start:
            raise ValueError(f"end {self.end} is before start {self.start}")
        return self


def transform(calendar: DataFrame) -> DataFrame:
    """Calendar attributes for each ``full_date`` of ``calendar``."""
    d = F.col("full_date")
    return calendar.select(
        date_key(d).alias("date_key"),
        d,
        F.year(d).alias("year"),
        F.quarter(d).alias("quarter"),
        F.month(d).alias("month"),
        F.date_format(d, "MMMM").alias("month_name"),
        F.weekofyear(d).alias("week_of_year"),
        F.dayofmonth(d).alias("day_of_month"),
        F.dayofweek(d).alias("day_of_week"),
        F.date_format(d, "EEEE").alias("day_name"),
        F.dayofweek(d).isin(1, 7).alias("is_weekend"),
        (d == F.last_day(d)).alias("is_month_end"),
    )


def _already_built(ctx: JobContext, params: Params) -> bool:
    table = ctx.warehouse.read_or_none(ctx.table("dim_date"))
    if table is None:
        return False
    bounds = table.agg(F.min("full_date"), F.max("full_date"), F.count(F.lit(1))).first()
    expected_days = (params.end - params.start).days + 1
    return tuple(bounds) == (params.start, params.end, expected_days)


def run(ctx: JobContext) -> RunStats:
    params = ctx.config.job_params(JOB_NAME, Params)
    if _already_built(ctx, params):
        ctx.log.info("DIM_DATE already covers %s .. %s", params.start, params.end)
        return RunStats()
    calendar = ctx.spark.sql(
        "SELECT explode(sequence(to_date(:start), to_date(:end), interval 1 day)) AS full_date",
        args={"start": params.start.isoformat(), "end": params.end.isoformat()},
    )
    stats = RunStats()
    stats.wrote(ctx.warehouse.overwrite(transform(calendar), ctx.table("dim_date")))
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB_NAME, run, argv)


if __name__ == "__main__":
    sys.exit(main())
