"""How rows and SQL travel between Spark and Snowflake: two transports, one interface.

* :class:`SparkConnectorTransport` (production): spark-snowflake reads (pushdown on) and
  bulk loads from the executors; SQL runs on the connector's JDBC connection
  (``net.snowflake.spark.snowflake.Utils.getJDBCConnection``).
* :class:`PythonConnectorTransport`: rows pass through the driver with
  snowflake-connector-python (``write_pandas`` / ``fetchall``). For small tables only:
  tests against fakesnow, scripts, a laptop.

The warehouse adapter above them generates the same SQL for both.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
from decimal import Decimal
from collections.abc import Callable, Iterator
from typing import Any, Protocol

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from etl_lib.io.secrets import quiet_loggers
from etl_lib.io.snowflake_auth import redacted
from etl_lib.io.snowflake_session import DbApiSession, JdbcSession, SqlSession
from etl_lib.io.snowflake_sql import Table

__all__ = ["PythonConnectorTransport", "SparkConnectorTransport", "Transport", "lower_columns"]

SNOWFLAKE_FORMAT = "net.snowflake.spark.snowflake"


class Transport(Protocol):
    """Move a DataFrame into an existing table, read tables and queries, open SQL sessions."""

    def session(self) -> contextlib.AbstractContextManager[SqlSession]: ...

    def load(self, df: DataFrame, table: Table) -> None: ...

    def read_table(self, table: Table) -> DataFrame: ...

    def read_query(self, sql: str) -> DataFrame: ...


def _gateway_quiet() -> contextlib.AbstractContextManager[None]:
    """py4j logs every command with its arguments at DEBUG, and connector options carry
    the credential: keep it above DEBUG while they cross the gateway."""
    return quiet_loggers("py4j")


def lower_columns(df: DataFrame) -> DataFrame:
    """Snowflake's upper-case column names as the lower-case names the jobs write."""
    return df.toDF(*[c.lower() for c in df.columns])


class SparkConnectorTransport:
    """spark-snowflake for rows, its JDBC connection for SQL.

    ``options`` are the connector options of :func:`snowflake_auth.connector_options`
    (they hold the credential: this object's repr shows them redacted).
    """

    def __init__(self, spark: SparkSession, options: dict[str, str]) -> None:
        self.spark = spark
        self._options = dict(options)

    def __repr__(self) -> str:
        return f"SparkConnectorTransport({redacted(self._options)})"

    @contextlib.contextmanager
    def session(self) -> Iterator[SqlSession]:
        jvm = self.spark._jvm
        with _gateway_quiet():
            options = jvm.java.util.HashMap()
            for key, value in self._options.items():
                options.put(key, value)
            connection = jvm.net.snowflake.spark.snowflake.Utils.getJDBCConnection(options)
        session = JdbcSession(jvm, connection)
        try:
            yield session
        finally:
            session.close()

    def load(self, df: DataFrame, table: Table) -> None:
        """Append ``df`` to the existing ``table``, columns matched by name (``column_mapping``)."""
        with _gateway_quiet():
            (
                df.write.format(SNOWFLAKE_FORMAT)
                .options(**self._options)
                .option("dbtable", str(table))
                .option("column_mapping", "name")
                .mode("append")
                .save()
            )

    def read_table(self, table: Table) -> DataFrame:
        return self._read("dbtable", str(table))

    def read_query(self, sql: str) -> DataFrame:
        return self._read("query", sql)

    def _read(self, option: str, value: str) -> DataFrame:
        with _gateway_quiet():
            reader = self.spark.read.format(SNOWFLAKE_FORMAT).options(**self._options)
            return lower_columns(reader.option(option, value).load())


class PythonConnectorTransport:
    """snowflake-connector-python through the driver (fakesnow emulates it in tests).

    ``connect`` returns a new DB-API connection opened with ``paramstyle="qmark"``.
    """

    def __init__(self, spark: SparkSession, connect: Callable[[], Any]) -> None:
        self.spark = spark
        self._connect = connect

    @contextlib.contextmanager
    def session(self) -> Iterator[SqlSession]:
        session = DbApiSession(self._connect())
        try:
            yield session
        finally:
            session.close()

    def load(self, df: DataFrame, table: Table) -> None:
        """Append ``df`` to the existing ``table`` with ``write_pandas`` (columns by name)."""
        # Looked up at call time: fakesnow patches the module attribute in tests.
        import snowflake.connector.pandas_tools as pandas_tools

        frame = _to_pandas(df)
        connection = self._connect()
        try:
            ok, _, rows, _ = pandas_tools.write_pandas(
                connection, frame, table.name, database=table.database, schema=table.schema,
                quote_identifiers=True, auto_create_table=False, use_logical_type=True,
            )
        finally:
            connection.close()
        if not ok or rows != len(frame):
            raise RuntimeError(f"write_pandas loaded {rows} of {len(frame)} rows into {table}")

    def read_table(self, table: Table) -> DataFrame:
        return self.read_query(f"SELECT * FROM {table.sql}")

    def read_query(self, sql: str) -> DataFrame:
        connection = self._connect()
        try:
            cursor = connection.cursor()
            cursor.execute(sql)
            schema = T.StructType([_spark_field(d) for d in cursor.description])
            kinds = [field.dataType for field in schema.fields]
            rows = [
                tuple(_spark_value(v, k) for v, k in zip(row, kinds)) for row in cursor.fetchall()
            ]
        finally:
            connection.close()
        return self.spark.createDataFrame(rows, schema)


# Snowflake result type codes (snowflake.connector.constants.FIELD_TYPES).
_FIXED, _REAL, _TEXT, _DATE, _TIMESTAMP, _VARIANT, _TS_LTZ, _TS_TZ, _TS_NTZ = range(9)
_OBJECT, _ARRAY, _BINARY, _TIME, _BOOLEAN = range(9, 14)


def _spark_field(description: Any) -> T.StructField:
    """The Spark field spark-snowflake would give a result column (NUMBER(38,0) is decimal)."""
    name, code = description[0].lower(), description[1]
    precision, scale = description[4], description[5]
    if code == _FIXED:
        if scale == 0 and precision is not None and precision <= 18:
            kind: T.DataType = T.LongType()
        else:
            kind = T.DecimalType(min(precision or 38, 38), scale or 0)
    elif code == _REAL:
        kind = T.DoubleType()
    elif code == _DATE:
        kind = T.DateType()
    elif code in (_TIMESTAMP, _TS_LTZ, _TS_TZ, _TS_NTZ):
        kind = T.TimestampType()
    elif code == _BOOLEAN:
        kind = T.BooleanType()
    elif code == _BINARY:
        kind = T.BinaryType()
    else:  # TEXT, VARIANT, OBJECT, ARRAY, TIME
        kind = T.StringType()
    return T.StructField(name, kind, True)


def _spark_value(value: Any, kind: T.DataType) -> Any:
    """``value`` as ``kind`` accepts it; naive timestamps are UTC wall-clock (the jobs' zone)."""
    if value is None:
        return None
    if isinstance(kind, T.DecimalType) and not isinstance(value, Decimal):
        return Decimal(value)
    if isinstance(kind, T.LongType):
        return int(value)
    if isinstance(value, dt.datetime) and value.tzinfo is None:
        return value.replace(tzinfo=dt.timezone.utc)
    if isinstance(kind, T.StringType) and not isinstance(value, str):
        return value.isoformat() if isinstance(value, dt.time) else json.dumps(value)
    return value


def _to_pandas(df: DataFrame) -> Any:
    """``df`` as pandas with exact types (no float ints, UTC timestamps, nested via JSON)."""
    import pandas as pd
    import pyarrow as pa

    fields = df.schema.fields
    shaped = df.select(*[_portable(f) for f in fields])
    rows = shaped.collect()
    data: dict[str, Any] = {}
    for index, field in enumerate(fields):
        values = [row[index] for row in rows]
        kind = field.dataType
        if isinstance(kind, (T.ByteType, T.ShortType, T.IntegerType, T.LongType)):
            series = pd.array(values, dtype="Int64")
        elif isinstance(kind, (T.TimestampType, T.TimestampNTZType)):
            # Microseconds, as Spark and Snowflake keep them: pandas' default nanoseconds end
            # in 2262, before 9999-12-31, the usual open end of a validity period.
            parsed = [None if v is None else dt.datetime.fromisoformat(v) for v in values]
            series = pd.Series(parsed, dtype="datetime64[us]")
        elif isinstance(kind, (T.FloatType, T.DoubleType)):
            # Arrow-backed, so NaN stays a number and only None is null.
            series = pd.Series(pa.array(values, pa.float64(), from_pandas=False),
                               dtype=pd.ArrowDtype(pa.float64()))
        elif isinstance(kind, (T.ArrayType, T.MapType, T.StructType)):
            parsed = [None if v is None else json.loads(v) for v in values]
            series = pd.Series(parsed, dtype="object")
        else:
            series = pd.Series(values, dtype="object")
        data[field.name.upper()] = series
    return pd.DataFrame(data)


def _portable(field: T.StructField) -> Any:
    column = F.col(f"`{field.name}`")
    if isinstance(field.dataType, T.TimestampType):
        # Text in the session time zone (UTC), so the driver's local zone never shifts it.
        return F.date_format(column, "yyyy-MM-dd HH:mm:ss.SSSSSS").alias(field.name)
    if isinstance(field.dataType, T.TimestampNTZType):
        return F.date_format(column, "yyyy-MM-dd HH:mm:ss.SSSSSS").alias(field.name)
    if isinstance(field.dataType, (T.ArrayType, T.MapType, T.StructType)):
        return F.to_json(column).alias(field.name)
    return column
