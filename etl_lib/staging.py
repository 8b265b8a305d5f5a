"""The landing -> STAGING hop every dataset shares: reasons, REJECTED rows, atomic writes.

REJECTED tables have one shape for every dataset, so one query can read them all:
``business_date, source_file, reject_reasons, raw_record, record (JSON of the row)``.
Which run wrote a day is in RUN_LOG; rows carry no run id, so a rerun rewrites the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from etl_lib.io.files import RAW_RECORD, SOURCE_FILE
from etl_lib.io.warehouse import Warehouse
from etl_lib.job import RunStats
from etl_lib.landing import empty_landing, read_landing
from etl_lib.validation import REASONS, Rule, split_valid, with_reasons

__all__ = ["REJECTED_COLUMNS", "StagedBatch", "stage_rows", "read_optional_landing",
           "unparseable", "write_staged"]

REJECTED_COLUMNS = ("business_date", "source_file", REASONS, "raw_record", "record")


def unparseable() -> Rule:
    """The reader could not parse the record into the contract's columns."""
    return Rule("unparseable_record", F.col(RAW_RECORD).isNotNull())


@dataclass(frozen=True)
class StagedBatch:
    """The two outcomes of staging: typed valid rows, and rejected rows with reasons."""

    valid: DataFrame
    rejected: DataFrame


def stage_rows(
    typed: DataFrame,
    rules: Sequence[Rule],
    record: Column,
    business_date: date,
) -> StagedBatch:
    """Apply ``rules`` to ``typed`` and shape both outcomes.

    ``typed`` holds the parsed columns next to the raw ones plus ``_raw_record`` and
    ``_source_file`` (see :mod:`etl_lib.io.files`). Valid rows keep every column but the
    raw-record column; rejected rows keep ``record`` (a struct of the row as it
    arrived) as JSON text.
    """
    checked = with_reasons(typed, [unparseable(), *rules])
    valid, rejected = split_valid(checked)
    rejected_shaped = rejected.select(
        F.lit(business_date).alias("business_date"),
        F.col(SOURCE_FILE).alias("source_file"),
        F.col(REASONS),
        F.col(RAW_RECORD).alias("raw_record"),
        F.to_json(record).alias("record"),
    )
    return StagedBatch(valid=valid.drop(RAW_RECORD), rejected=rejected_shaped)


def write_staged(
    warehouse: Warehouse,
    batch: StagedBatch,
    staged_table: str,
    rejected_table: str,
    business_date: date,
    stats: RunStats,
) -> None:
    """Replace the day's partition of the STAGING table and of its REJECTED table.

    Both writes count towards ``stats.rows_in`` (staging does not drop or merge rows).
    """
    rejected = stats.wrote(
        warehouse.overwrite_partitions(
            batch.rejected, rejected_table, "business_date", [business_date],
            partition_by=["business_date"],
        ),
        counts_as="rejected",
    )
    staged = stats.wrote(
        warehouse.overwrite_partitions(
            batch.valid, staged_table, "business_date", [business_date],
            partition_by=["business_date"],
        ),
        counts_as="other",
    )
    stats.rows_in += rejected.rows_written + staged.rows_written


def read_optional_landing(
    spark: SparkSession, warehouse: Warehouse, landing_root: str, dataset: str, day: date,
    target_table: str,
) -> DataFrame | None:
    """The day's files of a dataset that arrives "any day".

    Without files: None when ``target_table`` exists (nothing to do today), else an empty
    frame, so the first run still creates the tables (with their unknown member).
    """
    raw = read_landing(spark, landing_root, dataset, day)
    if raw is not None or warehouse.exists(target_table):
        return raw
    return empty_landing(spark, dataset)
