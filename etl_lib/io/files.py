"""Read landing files with an explicit schema, keeping rows that cannot be parsed.

Every reader returns the schema's columns plus:

* ``_raw_record``: the raw line when Spark could not parse the record into the schema
  (wrong field count, malformed JSON, a value of the wrong JSON type), else null;
* ``_source_file``: the file the row came from (for lineage and "later file wins" rules).

So nothing becomes a silent null: callers route rows with ``_raw_record`` to a REJECTED
table with the raw text.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import ClassVar

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

__all__ = [
    "RAW_RECORD",
    "SOURCE_FILE",
    "LandingFilesNotFound",
    "SourceFiles",
    "glob_files",
    "read_csv",
    "read_json_lines",
    "read_parquet",
]

RAW_RECORD = "_raw_record"
SOURCE_FILE = "_source_file"


class LandingFilesNotFound(FileNotFoundError):
    """No landing file matches what a run expects."""


def glob_files(spark: SparkSession, patterns: Sequence[str]) -> list[str]:
    """Expand Hadoop glob ``patterns`` (local, s3a://, gs://) to the sorted file paths found."""
    jvm = spark.sparkContext._jvm
    hadoop_conf = spark.sparkContext._jsc.hadoopConfiguration()
    found: list[str] = []
    for pattern in patterns:
        path = jvm.org.apache.hadoop.fs.Path(pattern)
        statuses = path.getFileSystem(hadoop_conf).globStatus(path)
        for status in statuses or []:
            if status.isFile():
                found.append(status.getPath().toString())
    return sorted(set(found))


def _with_raw(schema: StructType) -> StructType:
    return StructType([*schema.fields, StructField(RAW_RECORD, StringType(), True)])


def _finish(df: DataFrame) -> DataFrame:
    return df.withColumn(SOURCE_FILE, F.col("_metadata.file_path"))


def read_csv(
    spark: SparkSession,
    paths: Sequence[str],
    schema: StructType,
    multiline: bool = False,
) -> DataFrame:
    """Read headed, comma-separated, RFC 4180 CSV files (UTF-8, optional BOM, LF or CRLF).

    A line whose field count differs from ``schema`` keeps its text in ``_raw_record``.
    Give an all-string ``schema`` to type values yourself and report why one fails.
    """
    return _finish(
        spark.read.schema(_with_raw(schema))
        .option("header", "true")
        .option("enforceSchema", "true")
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", RAW_RECORD)
        .option("encoding", "UTF-8")
        .option("quote", '"')
        .option("escape", '"')
        .option("multiLine", str(multiline).lower())
        .option("ignoreLeadingWhiteSpace", "false")
        .option("ignoreTrailingWhiteSpace", "false")
        .csv(list(paths))
    )


def read_json_lines(spark: SparkSession, paths: Sequence[str], schema: StructType) -> DataFrame:
    """Read JSON Lines files; unknown fields are ignored, malformed lines kept raw.

    Give timestamps as ``StringType`` in ``schema`` and type them with
    ``etl_lib.cleansing.parse_timestamp``, which accepts every form the contract allows.
    """
    return _finish(
        spark.read.schema(_with_raw(schema))
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", RAW_RECORD)
        .json(list(paths))
    )


def read_parquet(spark: SparkSession, paths: Sequence[str], schema: StructType) -> DataFrame:
    """Read Parquet files with ``schema`` (extra columns in the files are ignored)."""
    return _finish(spark.read.schema(schema).parquet(*paths)).withColumn(
        RAW_RECORD, F.lit(None).cast(StringType())
    )


@dataclass(frozen=True)
class SourceFiles:
    """The files of one read, so that wide stages can carry a small code instead of a path.

    A ``_source_file`` path is some 80 bytes, a third of a sales line, copied by every
    shuffle, sort and cache the line goes through. :meth:`code` stands for it with an int
    that orders as the paths do (so "the later file wins" compares codes), and
    :meth:`path` gives the exact text back before rows are written.

    The lookup scans the list for every line, so a read of more than
    :attr:`MAX_CODED_FILES` files keeps its paths: :meth:`code` and :meth:`path` then
    return their argument (at 64 files the lookup already costs about as much CPU as the
    smaller rows save; docs/performance.md, session 23).

    ``paths`` are the values ``_source_file`` takes, sorted.
    """

    paths: tuple[str, ...]

    MAX_CODED_FILES: ClassVar[int] = 32

    def __post_init__(self) -> None:
        if list(self.paths) != sorted(set(self.paths)):
            raise ValueError("SourceFiles.paths must be sorted and distinct")

    @classmethod
    def from_paths(cls, paths: Iterable[str]) -> SourceFiles:
        """SourceFiles of the given ``_source_file`` values (any order, repeats allowed)."""
        return cls(tuple(sorted(set(paths))))

    @classmethod
    def of(cls, frame: DataFrame) -> SourceFiles:
        """The files a landing read scans, spelled exactly as its ``_source_file`` values.

        One small job with a row per file: Spark's binary-file source lists the same files
        and gives each one's ``_metadata.file_path``, the scan's own spelling (URL-encoding
        included), without reading any content.
        """
        uris = frame.inputFiles()
        if not uris:
            return cls(())
        spark = frame.sparkSession
        jvm = spark.sparkContext._jvm
        # inputFiles() are URIs ("a%20b"); readers take Hadoop path strings ("a b").
        paths = [jvm.org.apache.hadoop.fs.Path(jvm.java.net.URI(uri)).toString() for uri in uris]
        listed = spark.read.format("binaryFile").load(paths).select("_metadata.file_path")
        return cls.from_paths(row[0] for row in listed.collect())

    @property
    def coded(self) -> bool:
        """Whether :meth:`code` gives ints (at most :attr:`MAX_CODED_FILES` files)."""
        return len(self.paths) <= self.MAX_CODED_FILES

    def code(self, path: Column) -> Column:
        """``path``'s index in :attr:`paths` (an int; null for null), or ``path`` itself
        when not :attr:`coded`.

        A path that is not one of :attr:`paths` fails the task: a code never names the
        wrong file.
        """
        if not self.coded:
            return path
        position = F.call_function("array_position", self._array(), path)  # 0: not found
        unknown = F.concat(F.lit(f"not one of the {len(self.paths)} files of this read: "), path)
        return F.when(position > 0, (position - 1).cast("int")).when(
            path.isNotNull(), F.raise_error(unknown)
        )

    def path(self, code: Column) -> Column:
        """The path :meth:`code` gave ``code`` for (null for null)."""
        if not self.coded:
            return code
        return F.element_at(self._array(), code + 1)

    def _array(self) -> Column:
        return F.array(*[F.lit(p) for p in self.paths]).cast("array<string>")
