"""Incremental extraction from a JDBC source (an OLTP database) by a watermark column.

A run reads only the rows whose watermark column is past the high-water mark of the last
successful run, and only up to the maximum it saw when it started (rows committed during
the read wait for the next run). The read is split into parallel ranges of a numeric
partition column between the increment's min and max. The mark is kept in the warehouse
(``METADATA.WATERMARKS``) through the Warehouse port, and a job commits it only after the
rows are written, so a failed run is simply run again.

Example::

    options = jdbc_options(spark, config.sources["oltp"])
    since = read_watermark(wh, "METADATA.WATERMARKS", "oltp", "public.customers", "updated_at")
    inc = extract_increment(spark, options, "public.customers", "updated_at", since,
                            partition_column="id", num_partitions=4)
    ...write inc.frame...
    commit_watermark(spark, wh, "METADATA.WATERMARKS", "oltp", "public.customers",
                     "updated_at", inc, run_id, run_date)

Watermark columns may be integers, dates or timestamps. Timestamps are read as wall-clock
values (Spark's ``preferTimestampNTZ``) and compared as such, so the mark round-trips
exactly; they land as UTC timestamps. ``timestamp with time zone`` columns come back in
the JVM's zone: run the JVMs in UTC (the managed platforms do; elsewhere
``-Duser.timezone=UTC``). Credentials come from AWS Secrets Manager or the environment
(see :class:`etl_lib.connections.JdbcSourceSettings`), never from conf.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.connections import JdbcSourceSettings
from etl_lib.io.warehouse import Warehouse, WriteResult

__all__ = [
    "Increment",
    "JdbcCredentialsMissing",
    "JdbcDriverMissing",
    "JdbcExtractError",
    "WATERMARKS_SCHEMA",
    "Watermark",
    "commit_watermark",
    "extract_increment",
    "jdbc_options",
    "read_watermark",
    "resolve_credentials",
]

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
WatermarkKind = Literal["long", "date", "timestamp_ntz"]

WATERMARKS_SCHEMA = T.StructType([
    T.StructField("source", T.StringType(), False),
    T.StructField("object", T.StringType(), False),
    T.StructField("watermark_column", T.StringType(), False),
    T.StructField("value", T.StringType(), False),
    T.StructField("kind", T.StringType(), False),
    T.StructField("rows", T.LongType(), False),
    T.StructField("run_id", T.StringType(), False),
    T.StructField("run_date", T.DateType(), False),
])


class JdbcExtractError(RuntimeError):
    """An extraction cannot run as configured; the message says what to change."""


class JdbcCredentialsMissing(JdbcExtractError):
    """Neither the secret manager nor the environment holds the source's credentials."""


class JdbcDriverMissing(JdbcExtractError):
    """The JDBC driver class is not on Spark's classpath."""


@dataclass(frozen=True)
class Watermark:
    """A high-water mark: its text (ISO date/time or an integer) and its SQL type."""

    value: str
    kind: WatermarkKind

    def sql(self) -> str:
        """The mark as a SQL literal the source database compares the column with."""
        if self.kind == "long":
            return str(int(self.value))
        if self.kind == "date":
            return f"DATE '{date.fromisoformat(self.value).isoformat()}'"
        if not re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}$", self.value):
            raise JdbcExtractError(f"stored watermark {self.value!r} is not a timestamp")
        return f"CAST('{self.value}' AS TIMESTAMP)"


@dataclass(frozen=True)
class Increment:
    """The rows past ``since`` up to ``until`` (inclusive), and how many there are."""

    frame: DataFrame
    rows: int
    since: Watermark | None
    until: Watermark | None


def resolve_credentials(
    source: JdbcSourceSettings, environ: Mapping[str, str] | None = None, client: Any = None
) -> tuple[str, str]:
    """(user, password) from AWS Secrets Manager (``secret_id``) or the environment.

    Raises:
        JdbcCredentialsMissing: naming the secret or the variables to set.
    """
    if source.secret_id:
        if client is None:
            import boto3

            client = boto3.client("secretsmanager", region_name=source.secret_region)
        try:
            text = client.get_secret_value(SecretId=source.secret_id).get("SecretString") or ""
            document = json.loads(text)
            return str(document["username"]), str(document["password"])
        except Exception as exc:  # not found, no permission, not JSON, fields missing
            raise JdbcCredentialsMissing(
                f"secret {source.secret_id!r} did not give credentials ({type(exc).__name__}): it "
                'must be a JSON object with "username" and "password", readable by this role'
            ) from None
    env = os.environ if environ is None else environ
    user, password = env.get(source.user_env), env.get(source.password_env)
    missing = [n for n, v in ((source.user_env, user), (source.password_env, password)) if not v]
    if missing:
        raise JdbcCredentialsMissing(
            f"JDBC credentials for {source.url}: set {' and '.join(missing)} in the "
            "environment, or the source's secret_id (AWS Secrets Manager)"
        )
    return str(user), str(password)


def jdbc_options(
    spark: SparkSession, source: JdbcSourceSettings, environ: Mapping[str, str] | None = None,
    client: Any = None,
) -> dict[str, str]:
    """Spark JDBC reader options for ``source``, credentials included (never log them).

    Raises:
        JdbcDriverMissing: the driver class cannot be loaded.
        JdbcCredentialsMissing: see :func:`resolve_credentials`.
    """
    _check_driver(spark, source.driver)
    user, password = resolve_credentials(source, environ, client)
    return {
        "url": source.url,
        "driver": source.driver,
        "user": user,
        "password": password,
        "fetchsize": str(source.fetch_size),
        # `timestamp without time zone` keeps its wall-clock value, whatever the JVM zone.
        "preferTimestampNTZ": "true",
    }


def _check_driver(spark: SparkSession, driver: str) -> None:
    try:
        spark.sparkContext._jvm.org.apache.spark.util.Utils.classForName(driver, True, False)
    except Exception:
        raise JdbcDriverMissing(
            f"JDBC driver {driver} is not on the classpath: add 'postgres' to "
            "spark.capabilities (or spark-submit --packages org.postgresql:postgresql:<version>)"
        ) from None


def _identifier(name: str, what: str) -> str:
    if not _IDENTIFIER.match(name):
        raise JdbcExtractError(f"{what} {name!r} is not a plain identifier ([schema.]name)")
    return name


def extract_increment(
    spark: SparkSession,
    options: Mapping[str, str],
    table: str,
    watermark_column: str,
    since: Watermark | None,
    partition_column: str | None = None,
    num_partitions: int = 4,
) -> Increment:
    """The rows of ``table`` with ``watermark_column`` past ``since`` (all rows when None).

    One small query finds the increment's row count, its maximum watermark and the range of
    ``partition_column`` (numeric); the rows are then read in up to ``num_partitions``
    parallel ranges. NULL watermarks are never extracted. Timestamps without time zone come
    back as Spark timestamps of the same wall-clock time in UTC.
    """
    table = _identifier(table, "table")
    wm = _identifier(watermark_column, "watermark column")
    if num_partitions < 1:
        raise JdbcExtractError("num_partitions must be at least 1")
    where = f"{wm} > {since.sql()}" if since else f"{wm} IS NOT NULL"
    pc = _identifier(partition_column, "partition column") if partition_column else None
    bounds = _bounds(spark, options, table, wm, where, pc)
    if bounds["rows"] == 0:
        frame = _read(spark, options, f"SELECT * FROM {table} WHERE 1 = 0")
        return Increment(_as_utc(frame), 0, since, None)
    until: Watermark = bounds["until"]
    query = f"SELECT * FROM {table} WHERE {where} AND {wm} <= {until.sql()}"
    ranges: dict[str, str] = {}
    if pc and bounds["rows"] > 1 and bounds["low"] != bounds["high"]:
        ranges = {"partitionColumn": pc, "lowerBound": str(bounds["low"]),
                  "upperBound": str(bounds["high"]),
                  "numPartitions": str(min(num_partitions, bounds["rows"]))}
    frame = _read(spark, options, query, ranges)
    return Increment(_as_utc(frame), int(bounds["rows"]), since, until)


def _read(spark: SparkSession, options: Mapping[str, str], query: str,
          ranges: Mapping[str, str] | None = None) -> DataFrame:
    return (spark.read.format("jdbc").options(**options)
            .option("dbtable", f"({query}) increment").options(**(ranges or {})).load())


def _bounds(spark: SparkSession, options: Mapping[str, str], table: str, wm: str, where: str,
            pc: str | None) -> dict[str, Any]:
    partition = f", MIN({pc}) AS p_low, MAX({pc}) AS p_high" if pc else ""
    raw = _read(spark, options,
                f"SELECT COUNT(*) AS n, MAX({wm}) AS w_high{partition} FROM {table} WHERE {where}")
    kind = _kind(raw.schema["w_high"].dataType, wm)
    text = {
        "long": F.col("w_high").cast("decimal(38,0)").cast("string"),
        "date": F.date_format("w_high", "yyyy-MM-dd"),
        "timestamp_ntz": F.date_format("w_high", "yyyy-MM-dd HH:mm:ss.SSSSSS"),
    }[kind]
    columns = [F.col("n").cast("long").alias("n"), text.alias("w_high")]
    if pc:
        for bound in ("p_low", "p_high"):
            if not isinstance(raw.schema[bound].dataType, T.NumericType):
                raise JdbcExtractError(f"partition column {pc} must be numeric, not "
                                       f"{raw.schema[bound].dataType.simpleString()}")
            columns.append(F.col(bound).cast("decimal(38,0)").cast("string").alias(bound))
    row = raw.select(*columns).first()
    return {
        "rows": int(row["n"]),
        "until": Watermark(row["w_high"], kind) if row["w_high"] is not None else None,
        "low": int(row["p_low"]) if pc and row["p_low"] is not None else None,
        "high": int(row["p_high"]) if pc and row["p_high"] is not None else None,
    }


def _kind(data_type: T.DataType, column: str) -> WatermarkKind:
    if isinstance(data_type, T.TimestampNTZType):
        return "timestamp_ntz"
    if isinstance(data_type, T.DateType):
        return "date"
    if isinstance(data_type, T.IntegralType) or (
        isinstance(data_type, T.DecimalType) and data_type.scale == 0
    ):
        return "long"
    raise JdbcExtractError(
        f"watermark column {column} is {data_type.simpleString()}: use an integer, date or "
        "timestamp column that grows with every change (e.g. updated_at)"
    )


def _as_utc(frame: DataFrame) -> DataFrame:
    """Wall-clock timestamps (no time zone) become timestamps in the session zone (UTC)."""
    ntz = [f.name for f in frame.schema.fields if isinstance(f.dataType, T.TimestampNTZType)]
    if not ntz:
        return frame
    return frame.withColumns({name: F.col(name).cast("timestamp") for name in ntz})


def read_watermark(
    warehouse: Warehouse, table: str, source: str, object_name: str, watermark_column: str
) -> Watermark | None:
    """The mark the last successful run committed for ``source``/``object_name``, or None.

    Raises:
        JdbcExtractError: the stored mark belongs to another watermark column.
    """
    stored = warehouse.read_or_none(table)
    if stored is None:
        return None
    row = stored.where((F.col("source") == source) & (F.col("object") == object_name)).first()
    if row is None:
        return None
    if row["watermark_column"] != watermark_column:
        raise JdbcExtractError(
            f"{table} holds a mark of {source}/{object_name} for column "
            f"{row['watermark_column']}, not {watermark_column}: delete that row to start over"
        )
    return Watermark(row["value"], row["kind"])


def commit_watermark(
    spark: SparkSession, warehouse: Warehouse, table: str, source: str, object_name: str,
    watermark_column: str, increment: Increment, run_id: str, run_date: date,
) -> WriteResult | None:
    """Record ``increment.until`` as the new mark (nothing to do for an empty increment)."""
    if increment.until is None:
        return None
    row = (source, object_name, watermark_column, increment.until.value, increment.until.kind,
           increment.rows, run_id, run_date)
    frame = spark.createDataFrame([row], WATERMARKS_SCHEMA)
    return warehouse.merge(frame, table, keys=["source", "object"])
