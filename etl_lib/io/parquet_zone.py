"""A plain Parquet zone (the "processed" layer an external table reads), replaced per partition.

Layout: ``<root>/<dataset>/<column>=<value>/part-*.parquet`` (Hive-style), one file per
partition, timestamps as TIMESTAMP_MICROS in UTC (the session's setting for every Parquet
write, see ``etl_lib.session``). Scratch space lives beside the datasets,
never inside one, so an external table on ``<root>/<dataset>/`` never lists it:
``<root>/_staging/<dataset>/<run_id>/`` (the new partitions) and
``<root>/_trash/<dataset>/<run_id>/`` (the partitions being replaced).

:func:`replace_partitions` writes every new partition to staging first (a failed write
leaves the zone untouched), then swaps each partition with two renames through the Hadoop
FileSystem API: old -> trash, staged -> place (undone if the second rename fails), and
finally deletes trash and staging. Where a directory rename is atomic (local disks, HDFS,
ABFS with a hierarchical namespace) a reader sees the old partition, or for an instant
none, then the new one, never a mix. On object stores (s3a://, gs://) a directory rename
is a copy of each file then a delete, so the swap is short but not atomic; the staged
write still guarantees that a failed run never leaves a half-written partition.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

__all__ = ["PartitionSwapError", "dataset_path", "replace_partitions"]

PartitionValue = date | str | int


class PartitionSwapError(RuntimeError):
    """A partition could not be moved into place; the message names it and where the old one is."""


def dataset_path(root: str, dataset: str) -> str:
    """``<root>/<dataset>``; a local root is made absolute."""
    base = root if "://" in root else str(Path(root).resolve())
    return f"{base.rstrip('/')}/{dataset}"


def replace_partitions(
    df: DataFrame,
    root: str,
    dataset: str,
    column: str,
    values: Sequence[PartitionValue],
    run_id: str,
) -> dict[str, int]:
    """Make partitions ``values`` of ``<root>/<dataset>`` hold exactly the rows of ``df``.

    Every row of ``df`` must have ``column`` in ``values``; a value without rows has its
    partition removed. Repeating the call with the same rows leaves the same content.

    Returns:
        Rows written per partition directory name (``review_date=2024-01-15``).

    Raises:
        ValueError: ``df`` has rows outside ``values``.
        PartitionSwapError: a rename failed (the message says what is where).
    """
    spark = df.sparkSession
    names = {_partition_dir(column, v) for v in values}
    target = dataset_path(root, dataset)
    base = target[: -len(dataset)].rstrip("/")
    staging, trash = f"{base}/_staging/{dataset}/{run_id}", f"{base}/_trash/{dataset}/{run_id}"
    fs = _FileSystem(spark, target)
    fs.delete(staging)
    try:
        df.repartition(column).write.mode("overwrite").partitionBy(column).parquet(staging)
        written = _rows_per_partition(spark, staging, column)
        unexpected = sorted(set(written) - names)
        if unexpected:
            raise ValueError(
                f"replace_partitions({dataset}): rows for {', '.join(unexpected)} but only "
                f"{', '.join(sorted(names)) or 'no partition'} may be replaced"
            )
        fs.mkdirs(target)
        fs.mkdirs(trash)
        for name in sorted(names):
            _swap(fs, f"{staging}/{name}", f"{target}/{name}", f"{trash}/{name}")
        fs.delete(trash)
    finally:
        fs.delete(staging)
    return {name: written.get(name, 0) for name in sorted(names)}


def _partition_dir(column: str, value: PartitionValue) -> str:
    text = value.isoformat() if isinstance(value, date) else str(value)
    if not text or any(ch in text for ch in "/\\=%:#?*\"'\n"):
        raise ValueError(f"partition value {text!r} of {column} needs path escaping: not supported")
    return f"{column}={text}"


def _swap(fs: _FileSystem, staged: str, place: str, old: str) -> None:
    had_old = fs.exists(place)
    if had_old and not fs.rename(place, old):
        raise PartitionSwapError(f"could not move {place} aside to {old}; nothing was changed")
    if fs.exists(staged) and not fs.rename(staged, place):
        if had_old and fs.rename(old, place):
            raise PartitionSwapError(
                f"could not move {staged} to {place}; the old partition is back")
        raise PartitionSwapError(
            f"could not move {staged} to {place}; the old partition is at {old}")


def _rows_per_partition(spark: SparkSession, path: str, column: str) -> dict[str, int]:
    """Rows per partition directory of what was just written (Parquet footers only)."""
    if not _FileSystem(spark, path).child_dirs(path):
        return {}  # an empty frame writes no partition
    counts = (
        spark.read.option("basePath", path).parquet(path)
        .groupBy(F.col(column).cast("string").alias("value"))
        .count()
        .collect()
    )
    return {f"{column}={row.value}": int(row["count"]) for row in counts}


class _FileSystem:
    """The few Hadoop FileSystem calls the swap needs (local, hdfs://, s3a://, gs://)."""

    def __init__(self, spark: SparkSession, path: str) -> None:
        jvm = spark.sparkContext._jvm
        self._path = jvm.org.apache.hadoop.fs.Path
        self._fs = self._path(path).getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())

    def exists(self, path: str) -> bool:
        return bool(self._fs.exists(self._path(path)))

    def mkdirs(self, path: str) -> None:
        self._fs.mkdirs(self._path(path))

    def rename(self, source: str, destination: str) -> bool:
        return bool(self._fs.rename(self._path(source), self._path(destination)))

    def child_dirs(self, path: str) -> list[str]:
        if not self.exists(path):
            return []
        statuses = self._fs.listStatus(self._path(path))
        return [s.getPath().getName() for s in statuses if s.isDirectory()]

    def delete(self, path: str) -> None:
        if self.exists(path):
            self._fs.delete(self._path(path), True)
