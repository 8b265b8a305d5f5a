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
from etl_lib.validation import REASONS, Rule, with_reasons

__all__ = ["REJECTED_COLUMNS", "REJECTION", "StagedBatch", "check_rows", "is_rejected",
           "read_optional_landing", "split_checked", "stage_rows", "unparseable", "write_staged"]

REJECTED_COLUMNS = ("business_date", "source_file", REASONS, "raw_record", "record")
#: The column :func:`check_rows` adds: null on a valid row, the REJECTED row on a rejected one.
REJECTION = "_rejection"


def unparseable() -> Rule:
    """The reader could not parse the record into the contract's columns."""
    return Rule("unparseable_record", F.col(RAW_RECORD).isNotNull())


@dataclass(frozen=True)
class StagedBatch:
    """The two outcomes of staging: typed valid rows, and rejected rows with reasons.

    ``checked``, when set, is the one frame both outcomes filter: cache it when both are
    written, and the input is read (and every rule evaluated) once for both.
    """

    valid: DataFrame
    rejected: DataFrame
    checked: DataFrame | None = None


def check_rows(
    typed: DataFrame,
    rules: Sequence[Rule],
    record: Column,
    business_date: date,
) -> DataFrame:
    """Apply ``rules`` to ``typed``: add :data:`REJECTION`, drop the raw-record column.

    ``typed`` holds the parsed columns next to the raw ones plus ``_raw_record`` and
    ``_source_file`` (see :mod:`etl_lib.io.files`). :data:`REJECTION` is null on a valid
    row; on a rejected row it is the row's REJECTED row (:data:`REJECTED_COLUMNS`), but
    with ``record`` still the struct of the row as it arrived: :func:`split_checked`
    renders it as JSON. One nullable column, so rejected rows can travel with the valid
    ones (through a dedupe, into one cache).
    """
    checked = with_reasons(typed, [unparseable(), *rules])
    rejection = F.struct(
        F.lit(business_date).alias("business_date"),
        F.col(SOURCE_FILE).alias("source_file"),
        F.col(REASONS),
        F.col(RAW_RECORD).alias("raw_record"),
        # Rendered by split_checked, after any shuffle: to_json has no generated code, so
        # here it would keep the whole parse-and-check stage out of Spark's code generation.
        record.alias("record"),
    )
    return checked.withColumn(
        REJECTION, F.when(F.size(F.col(REASONS)) > 0, rejection)
    ).drop(REASONS, RAW_RECORD)


def is_rejected() -> Column:
    """True on a row :func:`check_rows` rejected."""
    return F.col(REJECTION).isNotNull()


def split_checked(checked: DataFrame) -> StagedBatch:
    """Split :func:`check_rows`' output (or any frame still carrying :data:`REJECTION`)."""
    return StagedBatch(
        valid=checked.filter(~is_rejected()).drop(REJECTION),
        rejected=checked.filter(is_rejected()).select(
            *[F.col(f"{REJECTION}.{c}") for c in REJECTED_COLUMNS if c != "record"],
            F.to_json(f"{REJECTION}.record").alias("record"),
        ),
        checked=checked,
    )


def stage_rows(
    typed: DataFrame,
    rules: Sequence[Rule],
    record: Column,
    business_date: date,
) -> StagedBatch:
    """Apply ``rules`` to ``typed`` and split the outcomes (:func:`check_rows`).

    Valid rows keep every column of ``typed`` but the raw-record column.
    """
    return split_checked(check_rows(typed, rules, record, business_date))


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
