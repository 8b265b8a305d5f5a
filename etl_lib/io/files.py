"""Read landing files with an explicit schema, keeping rows that cannot be parsed.

Every reader returns the schema's columns plus:

* ``_raw_record``: the raw line when Spark could not parse the record into the schema
  (wrong field count, malformed JSON, a value of the wrong JSON type), else null;
* ``_source_file``: the file the row came from (for lineage and "later file wins" rules).

So nothing becomes a silent null: callers route rows with ``_raw_record`` to a REJECTED
table with the raw text.
"""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

__all__ = [
    "RAW_RECORD",
    "SOURCE_FILE",
    "LandingFilesNotFound",
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
