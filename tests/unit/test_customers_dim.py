"""customers_dim: masked snapshots -> DIM_CUSTOMER as SCD2 (history, deletes, unknown member)."""

from datetime import date, datetime

from pyspark.sql.types import StringType, StructField, StructType

from etl_lib.landing import CUSTOMERS_SCHEMA
from jobs import customers_dim

KEY = b"test-only-pii-key"
POLICIES = {"first_name": "hash", "last_name": "hash", "email": "email", "phone": "phone_last4"}
DIM = "CURATED.DIM_CUSTOMER"
DAY1, DAY2 = date(2024, 1, 15), date(2024, 1, 16)


def customer(cid, segment="Consumer", city="Boston", email=None, updated=datetime(2024, 1, 1, 9)):
    return (cid, "Emma", "Smith", email or f"emma.smith{cid}@example.com", "+1-555-123-4567",
            segment, city, "MA", "US", date(2023, 5, 1), updated)


def snapshot(spark, customers, day):
    schema = StructType([*CUSTOMERS_SCHEMA.fields, StructField("_source_file", StringType()),
                         StructField("_raw_record", StringType())])
    source = f"file:/landing/customers/snapshot_date={day}/part-0.parquet"
    return spark.createDataFrame([(*c, source, None) for c in customers], schema)


def load(spark, warehouse, customers, day):
    _, members = customers_dim.transform(snapshot(spark, customers, day), day, POLICIES, KEY)
    return customers_dim.load_dimension(warehouse, members, DIM, day)


def test_pii_is_masked_before_anything_is_staged(spark):
    raw = snapshot(spark, [customer("C1"), customer(" ", email="x@example.com")], DAY1)
    batch, members = customers_dim.transform(raw, DAY1, POLICIES, KEY)
    text = " ".join(str(r) for df in (batch.valid, batch.rejected, members) for r in df.collect())
    for secret in ("Emma", "Smith", "emma.smith", "555-123", "x@example.com"):
        assert secret not in text
    assert members.first().phone == "***-***-4567"
    again = customers_dim.transform(raw, DAY1, POLICIES, KEY)[1].first()
    assert again.email == members.first().email  # deterministic: SCD2 still sees real changes


def test_snapshots_build_history_deletes_close_and_a_rerun_changes_nothing(spark, warehouse):
    load(spark, warehouse, [customer("C1"), customer("C2"), customer("C3")], DAY1)
    day2 = [customer("C1", segment="VIP"), customer("C3", updated=datetime(2024, 1, 16, 8)),
            customer("C4")]
    load(spark, warehouse, day2, DAY2)
    dim = warehouse.read(DIM)
    versions = sorted(
        (r.customer_id, r.segment, r.valid_from, r.valid_to, r.is_current)
        for r in dim.filter("customer_id IS NOT NULL").collect()
    )
    assert versions == [
        ("C1", "Consumer", DAY1, DAY2, False), ("C1", "Vip", DAY2, None, True),
        ("C2", "Consumer", DAY1, DAY2, False),            # missing from day 2: deleted
        ("C3", "Consumer", DAY1, None, True),             # updated_at only: in place
        ("C4", "Consumer", DAY2, None, True),
    ]
    c3 = dim.filter("customer_id = 'C3'").first()
    assert (c3.updated_at, c3._sequence) == (datetime(2024, 1, 16, 8), DAY2)
    unknown = dim.filter("customer_key = -1").collect()
    assert len(unknown) == 1 and unknown[0].is_current and unknown[0].segment == "Unknown"
    assert dim.select("customer_key").distinct().count() == dim.count()

    rerun = load(spark, warehouse, day2, DAY2)
    assert (rerun.rows_written, rerun.rows_deleted) == (0, 0)
    assert sorted(warehouse.read(DIM).collect()) == sorted(dim.collect())
