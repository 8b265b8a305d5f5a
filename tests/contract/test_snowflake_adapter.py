"""What only the Snowflake adapter promises, on fakesnow: staging tables never linger, a
failed write changes nothing, bad names and shapes are refused before any load, values
survive the round trip exactly, and the surrogate-key UDF equals Spark's xxhash64."""

from __future__ import annotations

import contextlib
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from etl_lib.changes import ChangeSpec
from etl_lib.io.snowflake import PartitionMismatchError, SchemaMismatchError, SnowflakeWarehouse
from etl_lib.io.snowflake_changes import TargetMismatchError
from etl_lib.io.snowflake_sql import IdentifierError
from etl_lib.scd import ChangesInputError
from tests.contract.emulator import DATABASE, table_names, udf_handler

pytestmark = pytest.mark.snowflake

ROWS = "k string, n long, day date"


def test_a_failed_write_changes_nothing_and_leaves_no_staging_table(
    spark, snowflake_warehouse, fakesnow_connect
):
    wh = snowflake_warehouse
    with contextlib.closing(fakesnow_connect()) as connection:  # as DDL in deploy/ would
        connection.cursor().execute(
            f"CREATE TABLE {DATABASE}.S.T (K VARCHAR, N NUMBER(3,0), DAY DATE)")
    wh.overwrite_partitions(spark.createDataFrame([("a", 1, date(2024, 1, 1))], ROWS), "S.T", "day",
                            [date(2024, 1, 1)])
    assert table_names(fakesnow_connect, "S") == ["T"]

    too_large = spark.createDataFrame([("b", 5000, date(2024, 1, 1))], ROWS)
    # The INSERT fails after the DELETE ran: the transaction must undo both.
    with pytest.raises(Exception, match="(?i)conver|cast|range"):
        wh.overwrite_partitions(too_large, "S.T", "day", [date(2024, 1, 1)])
    stray = spark.createDataFrame([("c", 3, date(2024, 1, 9))], ROWS)
    with pytest.raises(PartitionMismatchError, match=r"1 row\(s\) of the batch for S.T have day"):
        wh.overwrite_partitions(stray, "S.T", "day", [date(2024, 1, 1)])
    with pytest.raises(TargetMismatchError, match="missing .*VALID_FROM"):
        wh.apply_changes(spark.createDataFrame([("a", 2, date(2024, 1, 2))], ROWS), "S.T",
                         ChangeSpec(keys=("k",), sequence_by="n", stored_as_scd_type=2))

    assert [tuple(r) for r in wh.read("S.T").collect()] == [("a", Decimal(1), date(2024, 1, 1))]
    assert table_names(fakesnow_connect, "S") == ["T"]  # no __STG_ / __CDC_ table left behind


def test_bad_names_and_shapes_are_refused_before_anything_is_loaded(
    spark, snowflake_warehouse, fakesnow_connect
):
    wh = snowflake_warehouse
    wh.merge(spark.createDataFrame([("a", 1, date(2024, 1, 1))], ROWS), "S.M", ["k"])
    extra = spark.createDataFrame([("a", 1, date(2024, 1, 1), "x")], ROWS + ", note string")
    with pytest.raises(SchemaMismatchError, match="RETAIL.S.M has no column.*note.*DDL"):
        wh.merge(extra, "S.M", ["k"])
    # Snowflake would store the number as text, or numeric-looking text as a number.
    as_text = spark.createDataFrame([("a", "1", date(2024, 1, 1))], "k string, n string, day date")
    with pytest.raises(SchemaMismatchError, match=r"S.M: column\(s\) n \(VARCHAR into NUMBER\)"):
        wh.merge(as_text, "S.M", ["k"])
    as_timestamp = spark.createDataFrame([("a", 1, datetime(2024, 1, 1))],
                                         "k string, n long, day timestamp")
    with pytest.raises(SchemaMismatchError, match=r"day \(TIMESTAMP_NTZ into DATE\)"):
        wh.overwrite(as_timestamp, "S.M")
    other_number = spark.createDataFrame([("a", 7.0, date(2024, 1, 1))],
                                         "k string, n double, day date")
    wh.merge(other_number, "S.M", ["k"])  # FLOAT into NUMBER(38,0): one kind, Snowflake converts
    with pytest.raises(SchemaMismatchError, match=r"n \(VARCHAR into NUMBER\)"):
        wh.apply_changes(as_text, "S.M", ChangeSpec(keys=("k",), sequence_by="day"))
    with pytest.raises(IdentifierError, match="'sale day' is not a plain identifier"):
        wh.overwrite(spark.createDataFrame([(1,)], "`sale day` int"), "S.NEW")
    with pytest.raises(ValueError, match="not SCHEMA.NAME"):
        wh.read("S.M; DROP TABLE S.M")
    with pytest.raises(ChangesInputError, match="1 change row.*null key or n"):
        wh.apply_changes(spark.createDataFrame([(None, 1, date(2024, 1, 1))], ROWS), "S.C",
                         ChangeSpec(keys=("k",), sequence_by="n"))
    assert table_names(fakesnow_connect, "S") == ["M"]  # the refused first write left no table


def test_values_round_trip_exactly_through_the_python_transport(
    spark, monkeypatch, fakesnow_connect
):
    from etl_lib.config import load_config
    from etl_lib.job import open_warehouse

    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "emulator")
    config = load_config("local", [
        "warehouse.kind=snowflake",
        f"snowflake={{account: emulated, user: ETL, warehouse: WH, database: {DATABASE}, "
        "auth: password, transport: python_connector}"])
    wh = open_warehouse(spark, config)  # the jobs' own path to the adapter
    assert isinstance(wh, SnowflakeWarehouse)
    at = datetime(2024, 1, 15, 23, 59, 59, 123456)
    rows = [("x", 9_223_372_036_854_775_807, Decimal("12345678.90"), at, ["a", "b"], True),
            (None, -2, None, None, None, None)]
    schema = ("k string, big long, amount decimal(12,2), at timestamp, tags array<string>, "
              "ok boolean")
    wh.overwrite(spark.createDataFrame(rows, schema), "S.R")
    back = wh.read("S.R").orderBy(F.col("k").asc_nulls_last())
    assert back.schema.simpleString() == (  # the Spark types written, not Snowflake's
        "struct<k:string,big:bigint,amount:decimal(12,2),at:timestamp,tags:array<string>,"
        "ok:boolean>")
    assert [tuple(r) for r in back.collect()] == [
        ("x", 9_223_372_036_854_775_807, Decimal("12345678.90"), at, ["a", "b"], True),
        (None, -2, None, None, None, None)]
    epoch = back.select(F.unix_timestamp("at")).first()[0]
    assert epoch == int(at.replace(tzinfo=timezone.utc).timestamp())  # UTC, not the driver's zone

    with contextlib.closing(fakesnow_connect()) as connection:  # a column only the DDL knows
        connection.cursor().execute(f"ALTER TABLE {DATABASE}.S.R ADD COLUMN NOTE VARCHAR")
    wh.overwrite(spark.createDataFrame(rows[:1], schema), "S.R")
    kept = wh.query(f"SELECT COUNT(*) AS N, COUNT(NOTE) AS NOTES FROM {DATABASE}.S.R").first()
    assert (kept.n, kept.notes) == (1, 0)  # rows replaced, the table itself kept (not recreated)


@pytest.mark.parametrize("text", ["", "C1\x1f2024-01-15", "C1\x1f7\x1f2024-01-15T10:22:03.000500",
                                  "x" * 31, "y" * 32, "z" * 67, "Zoë ✓ 客户\x1f2024-01-01"])
def test_the_version_key_udf_is_sparks_xxhash64(spark, text):
    assert udf_handler()(text) == spark.range(1).select(F.xxhash64(F.lit(text))).first()[0]
