from datetime import date
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from delta.tables import DeltaTable

from etl_lib.io.warehouse import TableNotFoundError, WriteResult, newer_or_equal_condition

SCHEMA = "k string, ts int, v string, day date"


def test_location_maps_schema_and_name(warehouse):
    assert warehouse.location("CURATED.FACT_SALES").endswith("/curated/fact_sales")
    with pytest.raises(ValueError):
        warehouse.location("curated.fact; drop")


def test_read_missing_table_says_which(warehouse):
    with pytest.raises(TableNotFoundError, match="CURATED.NOPE"):
        warehouse.read("CURATED.NOPE")


def test_overwrite_partitions_replaces_only_those_values(spark, warehouse):
    d1, d2 = date(2024, 1, 1), date(2024, 1, 2)
    first = spark.createDataFrame([("a", 1, "x", d1), ("b", 1, "y", d2)], SCHEMA)
    warehouse.overwrite_partitions(first, "S.T", "day", [d1, d2], partition_by=["day"])
    again = spark.createDataFrame([("c", 2, "z", d1)], SCHEMA)
    result = warehouse.overwrite_partitions(again, "S.T", "day", [d1], partition_by=["day"])
    assert result == WriteResult("S.T", rows_inserted=1, rows_deleted=1)
    expected = spark.createDataFrame([("c", 2, "z", d1), ("b", 1, "y", d2)], SCHEMA)
    assert_df_equality(warehouse.read("S.T"), expected, ignore_row_order=True, ignore_nullable=True)
    assert DeltaTable.forPath(spark, warehouse.location("S.T")).detail().first().partitionColumns == ["day"]


def test_merge_never_lets_older_rows_win_and_is_idempotent(spark, warehouse):
    d = date(2024, 1, 1)
    warehouse.merge(spark.createDataFrame([("a", 5, "new", d)], SCHEMA), "S.M", ["k"], ["ts"])
    batch = spark.createDataFrame([("a", 3, "old", d), ("b", 1, "b1", d)], SCHEMA)
    result = warehouse.merge(batch, "S.M", ["k"], ["ts"])
    assert result.rows_inserted == 1 and result.rows_updated == 0
    before = warehouse.read("S.M").collect()
    warehouse.merge(batch, "S.M", ["k"], ["ts"])
    assert sorted(warehouse.read("S.M").collect()) == sorted(before)
    assert {r.k: r.v for r in before} == {"a": "new", "b": "b1"}


def test_newer_or_equal_condition_is_lexicographic():
    assert newer_or_equal_condition(["ts", "f"]) == (
        "(s.`ts` > t.`ts`) OR (s.`ts` = t.`ts` AND s.`f` >= t.`f`)"
    )


def test_overwrite_replaces_a_whole_partitioned_table_on_rerun(spark, warehouse):
    d1, d2 = date(2024, 1, 1), date(2024, 1, 2)
    first = spark.createDataFrame([("a", 1, "x", d1), ("b", 1, "y", d2)], SCHEMA)
    warehouse.overwrite(first, "S.W", partition_by=["day"])
    again = spark.createDataFrame([("c", 2, "z", d1)], SCHEMA)
    warehouse.overwrite(again, "S.W", partition_by=["day"])  # session default is dynamic mode
    assert_df_equality(warehouse.read("S.W"), again, ignore_row_order=True, ignore_nullable=True)


def test_tables_store_timestamps_as_int64_microseconds(spark, warehouse):
    batch = spark.range(1).selectExpr("'a' AS k", "timestamp'2024-01-01 10:11:12.345678' AS at")
    warehouse.merge(batch, "S.TS", ["k"], ["at"])
    data_file = next(Path(warehouse.location("S.TS").removeprefix("file:")).glob("*.parquet"))
    column = pq.ParquetFile(data_file).schema.column(1)
    assert column.physical_type == "INT64"  # not Spark's default, the deprecated INT96
    assert "timeUnit=microseconds" in str(column.logical_type)
    assert warehouse.read("S.TS").first().at.isoformat() == "2024-01-01T10:11:12.345678"
