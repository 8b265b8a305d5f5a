"""reviews_flatten (seed 004, Glue Job 2): STG_REVIEWS -> processed Parquet zone, by review date.

Reads the reviews reviews_clean staged for the run day, flattens them into two normalized
datasets (layout and columns in docs/semistructured.md) and replaces their review-date
partitions in the processed zone (``jobs.reviews_flatten.processed_root``, default
``<warehouse.root>/processed``), where a Snowflake external table reads them:

* ``reviews/review_date=YYYY-MM-DD/``: one row per review, ``metadata`` promoted to
  ``metadata__source`` / ``metadata__language`` and kept whole as JSON text;
* ``review_images/review_date=YYYY-MM-DD/``: one row per image (``images__pos``, ...).

A partition is rebuilt from every staged day, not only the run day: a review that lands
late (another day's review_date) joins its partition instead of replacing it, and the
latest version of each review wins (review_ts, then landing day, then file). So a rerun
writes the same content, and a day processed out of order never drops another's reviews.

Run alone: ``spark-submit jobs/reviews_flatten.py --env local --run-date 2024-01-15``
(after reviews_clean for that day).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date

from pydantic import BaseModel, ConfigDict
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl_lib.dedupe import dedupe_latest
from etl_lib.io.parquet_zone import dataset_path, replace_partitions
from etl_lib.io.warehouse import TableNotFoundError
from etl_lib.job import JobContext, RunStats, run_job
from etl_lib.semistructured import FlattenSpec, flatten

JOB_NAME = "reviews_flatten"
REVIEWS_DATASET, IMAGES_DATASET = "reviews", "review_images"
PARTITION = "review_date"
#: Metadata keys every source sends, promoted to their own columns.
PROMOTED_METADATA = ("source", "language")
REVIEW_COLUMNS = (
    "review_id", "product_id", "customer_id", "rating", "title", "body", "review_ts",
    "verified", "helpful_votes", "image_count", "metadata__source", "metadata__language",
    "metadata", "source_business_date", PARTITION,
)
IMAGE_COLUMNS = ("review_id", "images__pos", "images__url", "images__caption", PARTITION)


class Params(BaseModel):
    """``jobs.reviews_flatten`` in conf."""

    model_config = ConfigDict(extra="forbid")
    #: Root of the processed zone (local path, s3a:// or gs://); None: <warehouse.root>/processed.
    processed_root: str | None = None


def processed_root(ctx: JobContext) -> str:
    """The processed zone root: conf, or ``<warehouse.root>/processed`` of this run's conf."""
    configured = ctx.config.job_params(JOB_NAME, Params).processed_root
    return configured or f"{ctx.config.warehouse.root.rstrip('/')}/processed"


def touched_dates(staged: DataFrame, business_date: date) -> DataFrame:
    """Review dates the run day changes: every date any version of the day's reviews has."""
    today = staged.filter(F.col("business_date") == F.lit(business_date)).select("review_id")
    return (
        staged.join(today.distinct(), "review_id", "left_semi")
        .select(PARTITION).distinct()
    )


def current_reviews(staged: DataFrame, dates: Sequence[date]) -> DataFrame:
    """The latest version of every staged review whose review date is in ``dates``."""
    latest = dedupe_latest(
        staged, ["review_id"], ["review_ts", "business_date", "source_file"]
    )
    return latest.filter(F.col(PARTITION).isin(list(dates)))


def normalize(reviews: DataFrame) -> tuple[DataFrame, DataFrame]:
    """STG_REVIEWS rows -> (review rows, image rows) in the processed zone's columns."""
    base = reviews.withColumns({
        "image_count": F.size("images"),
        "source_business_date": F.col("business_date"),
    })
    review_rows = flatten(
        base.drop("images"),
        FlattenSpec(modes={"metadata": "json"}, map_keys={"metadata": PROMOTED_METADATA}),
    ).select(*REVIEW_COLUMNS)
    image_rows = (
        flatten(reviews.select("review_id", "images", PARTITION),
                FlattenSpec(modes={"images": "explode"}))
        .filter(F.col("images__pos").isNotNull())
        .select(*IMAGE_COLUMNS)
    )
    return review_rows, image_rows


def run(ctx: JobContext) -> RunStats:
    """Rebuild the review-date partitions the run day touches, in both datasets."""
    stats, day = RunStats(), ctx.run_date
    staged_table = ctx.table("stg_reviews")
    try:
        staged = ctx.warehouse.read(staged_table)
    except TableNotFoundError as exc:
        raise TableNotFoundError(f"{exc}: run reviews_clean for {day} first") from None
    dates = sorted(row[0] for row in touched_dates(staged, day).collect())  # a few dates
    if not dates:
        ctx.log.info("no staged reviews for %s: processed zone unchanged", day)
        return stats
    reviews = current_reviews(staged, dates).cache()
    review_rows, image_rows = normalize(reviews)
    root = processed_root(ctx)
    written = replace_partitions(review_rows, root, REVIEWS_DATASET, PARTITION, dates, ctx.run_id)
    images = replace_partitions(image_rows, root, IMAGES_DATASET, PARTITION, dates, ctx.run_id)
    reviews.unpersist()
    stats.rows_in = stats.rows_out = sum(written.values())
    ctx.log.info(
        "processed zone: %d reviews and %d images in %s at %s and %s",
        sum(written.values()), sum(images.values()), ", ".join(written),
        dataset_path(root, REVIEWS_DATASET), dataset_path(root, IMAGES_DATASET),
    )
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB_NAME, run, argv)


if __name__ == "__main__":
    sys.exit(main())
