"""stores_dim's pure transform on tiny inline frames: typing, rejections, one member per store."""

from datetime import date

from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from etl_lib.landing import STORES_SCHEMA
from jobs import stores_dim

DAY = date(2024, 1, 15)
SOURCE = "file:/landing/stores/stores_20240115.csv"


def raw_stores(spark, rows):
    """Raw landing rows (all strings) as read_landing returns them."""
    schema = StructType([*STORES_SCHEMA.fields, StructField("_raw_record", StringType()),
                         StructField("_source_file", StringType())])
    return spark.createDataFrame([(*row, None, SOURCE) for row in rows], schema)


def test_stores_are_typed_and_broken_lines_rejected_with_their_reasons(spark):
    batch, members = stores_dim.transform(raw_stores(spark, [
        (" S1 ", "Main St", "Boston", "  north   EAST ", "US", "2019-03-01"),
        ("", "No Id", "Austin", "South", "US", "2020-01-01"),
        ("S3", "Bad Date", "Denver", "West", "US", "2020-02-30"),
    ]), DAY)

    staged = batch.valid.collect()
    assert [(r.store_id, r.region, r.opened_date, r.business_date) for r in staged] == [
        ("S1", "North East", date(2019, 3, 1), DAY)
    ]
    rejected = {r.store_name: sorted(r.reject_reasons) for r in batch.rejected.select(
        F.get_json_object("record", "$.store_name").alias("store_name"), "reject_reasons"
    ).collect()}
    assert rejected == {"No Id": ["store_id_missing"], "Bad Date": ["opened_date_invalid"]}
    assert [(m.store_id, m.region, m.source_date) for m in members.collect()] == [
        ("S1", "North East", DAY)
    ]


def test_a_store_listed_twice_in_one_file_gets_the_same_member_in_any_line_order(spark):
    copies = [
        ("S1", "Main St", "Boston", "East", "US", "2019-03-01"),
        ("S1", "Main Street", "Boston", "East", "US", "2019-03-01"),
    ]
    chosen = set()
    for rows in (copies, copies[::-1]):
        batch, members = stores_dim.transform(raw_stores(spark, rows), DAY)
        assert batch.valid.count() == 2  # both lines are staged
        chosen.add(tuple(members.select("store_id", "store_name").collect()))
    assert chosen == {(("S1", "Main Street"),)}
