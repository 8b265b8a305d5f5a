"""Small-file compaction: plain Parquet / JSON Lines folders, and Delta OPTIMIZE + VACUUM.

A plain folder is rewritten into files of about ``target_file_mb`` and swapped in by
renames, through the Hadoop FileSystem API (local paths, hdfs://, s3a://, gs://)::

    1. list the folder's data files (the sources) and write them, compacted, to a hidden
       sibling ``.<name>.compacting-<id>`` together with the list of sources;
    2. check the rows written equal the rows read, else delete the sibling and stop;
    3. rename the folder to ``.<name>.replaced-<id>`` and the sibling to the folder;
    4. move back any file that landed in the folder after step 1, then delete the old files.

Readers see the old files or the new ones, never a mix: on file systems whose directory
rename is atomic (local, HDFS, GCS/ADLS with a hierarchical namespace) the folder is
only missing for the instant between the two renames of step 3. On S3 a rename is a
copy, so run compaction when nothing reads the folder. A run that dies half-way is
repaired by the next run on that folder (:func:`recover_directory`). JSON Lines are
copied line by line (not re-serialised), so even malformed lines survive byte for byte.

Delta tables are compacted by Delta itself: :func:`optimize_delta` (optionally Z-ordered)
and :func:`vacuum_delta`, which refuses a retention under 168 hours unless forced.

Example:
    >>> compact_directory(spark, "s3a://landing/clickstream/2024/01/15/13", "json", 128)
    CompactionResult(target='s3a://.../13', files_before=412, files_after=1, rows=6180, ...)
    >>> optimize_delta(spark, "/wh/curated/fact_sales", zorder_by=["product_key"])
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from delta.tables import DeltaTable
from pyspark.sql import Observation, SparkSession
from pyspark.sql import functions as F

from etl_lib.session import temporary_conf

__all__ = [
    "MIN_RETENTION_HOURS",
    "CompactionError",
    "CompactionResult",
    "RetentionTooShortError",
    "compact_directories",
    "compact_directory",
    "optimize_delta",
    "recover_directory",
    "vacuum_delta",
]

FileFormat = Literal["parquet", "json"]

#: Delta's default ``delta.deletedFileRetentionDuration``: time travel and running readers
#: rely on removed files staying this long.
MIN_RETENTION_HOURS = 168.0
_MANIFEST = "_compacted_sources.txt"


class CompactionError(RuntimeError):
    """A folder could not be compacted; it has been left as it was."""


class RetentionTooShortError(ValueError):
    """VACUUM was asked to keep removed files for less than the safe minimum."""


@dataclass(frozen=True)
class CompactionResult:
    """What compaction did to one folder or table (``rows`` is None for Delta tables)."""

    target: str
    files_before: int
    files_after: int
    bytes_before: int
    rows: int | None
    rewritten: bool


# ----------------------------------------------------------------------------- plain folders


def compact_directories(
    spark: SparkSession, pattern: str, fmt: FileFormat, target_file_mb: float = 128
) -> list[CompactionResult]:
    """Compact every folder matching the Hadoop glob ``pattern`` (e.g. ``.../2024/01/15/*``)."""
    fs = _FileSystem(spark, pattern)
    folders = [s.getPath() for s in fs.glob(pattern) if s.isDirectory() and not _hidden(s)]
    return [compact_directory(spark, p.toString(), fmt, target_file_mb) for p in sorted(
        folders, key=lambda p: p.toString())]


def compact_directory(
    spark: SparkSession, directory: str, fmt: FileFormat, target_file_mb: float = 128
) -> CompactionResult:
    """Rewrite the data files directly in ``directory`` into ~``target_file_mb`` files.

    ``fmt`` is ``parquet`` (rows re-encoded, schemas merged) or ``json`` (JSON Lines,
    copied line by line, written back with a ``.json`` extension). Hidden files (``_*``,
    ``.*``) are not data. Nothing is rewritten when it would not reduce the file count.

    Raises:
        CompactionError: the folder holds sub-folders or a Delta log, or the rewrite
            failed or lost rows; the folder is unchanged.
    """
    if fmt not in ("parquet", "json"):
        raise CompactionError(f"compact_directory: format {fmt!r} is not parquet or json")
    if target_file_mb <= 0:
        raise CompactionError(f"compact_directory: target_file_mb must be > 0, not {target_file_mb}")
    fs = _FileSystem(spark, directory)
    folder = fs.qualify(directory)
    recover_directory(spark, folder.toString())
    sources = _data_files(fs, folder)
    total = sum(s.getLen() for s in sources)
    wanted = max(1, math.ceil(total / (target_file_mb * 2**20)))
    if len(sources) <= wanted:
        return CompactionResult(folder.toString(), len(sources), len(sources), total, None, False)
    run_id = uuid.uuid4().hex[:12]
    staging = fs.sibling(folder, f"compacting-{run_id}")
    try:
        rows = _rewrite(spark, fs, [s.getPath().toString() for s in sources], fmt, wanted, staging)
        fs.write_text(fs.child(staging, _MANIFEST), "\n".join(s.getPath().getName() for s in sources))
        files_after = len(_data_files(fs, staging))
    except Exception as exc:
        fs.delete(staging)
        if isinstance(exc, CompactionError):
            raise
        raise CompactionError(f"compaction of {folder} failed, folder unchanged: {exc}") from exc
    _swap(fs, folder, staging, fs.sibling(folder, f"replaced-{run_id}"))
    return CompactionResult(folder.toString(), len(sources), files_after, total, rows, True)


def recover_directory(spark: SparkSession, directory: str) -> None:
    """Finish or undo a compaction of ``directory`` that stopped half-way.

    A missing folder with a ``replaced`` sibling gets its old files back; a completed swap
    gets its late files moved in and the old files deleted; stale staging is deleted.
    """
    fs = _FileSystem(spark, directory)
    folder = fs.qualify(directory)
    # Exactly this folder's leftovers: ".13.5.replaced-<id>" belongs to "13.5", not "13".
    ours = re.compile(rf"\.{re.escape(folder.getName())}\.(compacting|replaced)-\w+")
    for status in fs.list(folder.getParent()):
        name = status.getPath().getName()
        if not ours.fullmatch(name):
            continue
        if ".compacting-" in name:
            fs.delete(status.getPath())
        elif ".replaced-" in name:
            if not fs.exists(folder):
                fs.rename(status.getPath(), folder)
            else:
                _finish_swap(fs, folder, status.getPath())


def _rewrite(
    spark: SparkSession, fs: _FileSystem, sources: list[str], fmt: FileFormat, files: int,
    staging: Any,
) -> int:
    """Write ``sources`` as ``files`` files into ``staging``; returns the row count (checked)."""
    if fmt == "json":
        frame = spark.read.text(sources)
    else:
        frame = spark.read.option("mergeSchema", "true").parquet(*sources)
    partitions = frame.rdd.getNumPartitions()
    observed = Observation("compaction")
    counted = frame.observe(observed, F.count(F.lit(1)).alias("rows"))
    shaped = counted.coalesce(files) if files <= partitions else counted.repartition(files)
    writer = shaped.write.mode("errorifexists")
    if fmt == "json":
        writer.option("compression", "none").text(staging.toString())
        for status in _data_files(fs, staging):
            path = status.getPath()
            fs.rename(path, fs.child(staging, path.getName().removesuffix(".txt") + ".json"))
        written = spark.read.text(staging.toString()).count()
    else:
        writer.parquet(staging.toString())
        written = spark.read.parquet(staging.toString()).count()
    read = int(observed.get["rows"])
    if written != read:
        raise CompactionError(f"compaction read {read} rows but wrote {written}; folder unchanged")
    fs.delete(fs.child(staging, "_SUCCESS"))
    return read


def _swap(fs: _FileSystem, folder: Any, staging: Any, replaced: Any) -> None:
    """Put ``staging`` in place of ``folder``, then drop the old files (keeping late ones)."""
    if not fs.rename(folder, replaced):
        fs.delete(staging)
        raise CompactionError(f"could not rename {folder} aside; folder unchanged")
    if not fs.rename(staging, folder) and not fs.exists(folder):
        fs.rename(replaced, folder)
        fs.delete(staging)
        raise CompactionError(f"could not move compacted files into {folder}; folder unchanged")
    # A writer that re-created the folder between the renames: put our files beside its.
    for leftover in (staging, fs.child(folder, staging.getName())):
        if fs.exists(leftover):
            for status in fs.list(leftover):
                fs.rename(status.getPath(), fs.child(folder, status.getPath().getName()))
            fs.delete(leftover)
    _finish_swap(fs, folder, replaced)


def _finish_swap(fs: _FileSystem, folder: Any, replaced: Any) -> None:
    """Move files that are not compaction sources from ``replaced`` into ``folder``; delete it."""
    manifest = fs.child(folder, _MANIFEST)
    if not fs.exists(manifest):  # the swap never happened: old files are the only copy
        raise CompactionError(
            f"{replaced} holds files but {folder} has no {_MANIFEST}; move them back by hand"
        )
    compacted = set(fs.read_text(manifest).splitlines())
    for status in fs.list(replaced):
        path = status.getPath()
        if path.getName() not in compacted and not _hidden(status):
            fs.rename(path, fs.child(folder, path.getName()))
    fs.delete(replaced)
    fs.delete(manifest)


def _data_files(fs: _FileSystem, folder: Any) -> list[Any]:
    statuses = fs.list(folder)
    names = {s.getPath().getName() for s in statuses}
    if "_delta_log" in names:
        raise CompactionError(f"{folder} is a Delta table: compact it with optimize_delta")
    folders = [s.getPath().getName() for s in statuses if s.isDirectory() and not _hidden(s)]
    if folders:
        raise CompactionError(
            f"{folder} holds sub-folders ({', '.join(sorted(folders)[:3])}...): compact each "
            "leaf folder, e.g. with compact_directories(spark, '<folder>/*', ...)"
        )
    return [s for s in statuses if s.isFile() and not _hidden(s)]


def _hidden(status: Any) -> bool:
    return status.getPath().getName().startswith(("_", "."))


class _FileSystem:
    """The few Hadoop FileSystem calls compaction needs, for the file system of ``path``."""

    def __init__(self, spark: SparkSession, path: str) -> None:
        self._jvm = spark.sparkContext._jvm
        self._conf = spark.sparkContext._jsc.hadoopConfiguration()
        self._fs = self._jvm.org.apache.hadoop.fs.Path(path).getFileSystem(self._conf)

    def qualify(self, path: str) -> Any:
        return self._fs.makeQualified(self._jvm.org.apache.hadoop.fs.Path(path))

    def child(self, parent: Any, name: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path(parent, name)

    def sibling(self, folder: Any, suffix: str) -> Any:
        return self.child(folder.getParent(), f".{folder.getName()}.{suffix}")

    def glob(self, pattern: str) -> list[Any]:
        return list(self._fs.globStatus(self._jvm.org.apache.hadoop.fs.Path(pattern)) or [])

    def list(self, folder: Any) -> list[Any]:
        if not self._fs.exists(folder):
            raise CompactionError(f"{folder} does not exist")
        return list(self._fs.listStatus(folder))

    def exists(self, path: Any) -> bool:
        return bool(self._fs.exists(path))

    def rename(self, source: Any, target: Any) -> bool:
        return bool(self._fs.rename(source, target))

    def delete(self, path: Any) -> None:
        if self._fs.exists(path):
            self._fs.delete(path, True)

    def write_text(self, path: Any, text: str) -> None:
        stream = self._fs.create(path, False)
        try:
            stream.write(bytearray(text.encode("utf-8")))
        finally:
            stream.close()

    def read_text(self, path: Any) -> str:
        stream = self._fs.open(path)
        try:
            data = self._jvm.org.apache.commons.io.IOUtils.toByteArray(stream)
        finally:
            stream.close()
        return bytes(data).decode("utf-8")


# ----------------------------------------------------------------------------- Delta tables


def optimize_delta(
    spark: SparkSession,
    path: str,
    zorder_by: Sequence[str] = (),
    where: str | None = None,
    target_file_mb: float | None = None,
) -> CompactionResult:
    """OPTIMIZE the Delta table at ``path`` (bin-packing, or Z-order by ``zorder_by``).

    ``where`` limits it to partitions (``"sale_date >= '2024-01-01'"``); ``target_file_mb``
    sets Delta's min/max file size for this run (default: Delta's 1 GB).
    """
    table = _delta_table(spark, path)
    before = table.detail().select("numFiles", "sizeInBytes").first()
    builder = table.optimize()
    if where:
        builder = builder.where(where)
    sizes = {}
    if target_file_mb is not None:
        size = str(int(target_file_mb * 2**20))
        sizes = {"spark.databricks.delta.optimize.maxFileSize": size,
                 "spark.databricks.delta.optimize.minFileSize": size}
    with temporary_conf(spark, sizes):
        metrics = (builder.executeZOrderBy(*zorder_by) if zorder_by else builder.executeCompaction())
        metrics.collect()
    after = table.detail().select("numFiles").first()
    changed = after.numFiles != before.numFiles
    return CompactionResult(path, before.numFiles, after.numFiles, before.sizeInBytes, None, changed)


def vacuum_delta(
    spark: SparkSession, path: str, retention_hours: float = MIN_RETENTION_HOURS, force: bool = False
) -> int:
    """VACUUM the Delta table at ``path``; returns the number of files deleted.

    Raises:
        RetentionTooShortError: ``retention_hours`` is under 168 and ``force`` is false
            (readers and time travel may still need those files).
    """
    if retention_hours < MIN_RETENTION_HOURS and not force:
        raise RetentionTooShortError(
            f"vacuum of {path}: retention {retention_hours}h is under {MIN_RETENTION_HOURS:g}h; "
            "running queries and time travel may still read those files. Pass force=True "
            "(conf: force_retention: true) only if no reader needs them."
        )
    table = _delta_table(spark, path)
    check = {}
    if retention_hours < MIN_RETENTION_HOURS:
        check = {"spark.databricks.delta.retentionDurationCheck.enabled": "false"}
    with temporary_conf(spark, check):
        table.vacuum(retention_hours)
    metrics = table.history(1).select("operation", "operationMetrics").first()
    if metrics.operation != "VACUUM END":
        return 0
    return int((metrics.operationMetrics or {}).get("numDeletedFiles", 0))


def _delta_table(spark: SparkSession, path: str) -> DeltaTable:
    if not DeltaTable.isDeltaTable(spark, path):
        raise CompactionError(f"{path} is not a Delta table")
    return DeltaTable.forPath(spark, path)
