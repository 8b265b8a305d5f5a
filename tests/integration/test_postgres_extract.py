"""JDBC incremental extraction against a real PostgreSQL server started by the tests."""

from __future__ import annotations

import json
from datetime import date

import boto3
import pytest
from pyspark.sql import functions as F

from etl_lib.config import load_config
from etl_lib.connections import JdbcSourceSettings
from etl_lib.io.delta import DeltaWarehouse
from etl_lib.io.jdbc import (
    JdbcCredentialsMissing,
    JdbcDriverMissing,
    JdbcExtractError,
    Watermark,
    extract_increment,
    jdbc_options,
    read_watermark,
)
from etl_lib.job import JobArgs, create_context, execute_step
from jobs import customers_oltp_extract
from tests.servers import PostgresServer, moto_server

pytestmark = [pytest.mark.postgres, pytest.mark.integration]

CUSTOMERS = """
CREATE TABLE public.customers (
    id bigserial PRIMARY KEY,
    customer_id text NOT NULL UNIQUE,
    first_name text, last_name text, email text, phone text, segment text,
    city text, state text, country text, signup_date date,
    updated_at timestamp NOT NULL
);
INSERT INTO public.customers (customer_id, first_name, last_name, email, phone, segment,
                              city, state, country, signup_date, updated_at)
SELECT 'C' || lpad(g::text, 6, '0'), ' First' || g, 'Last' || g, 'User' || g || '@Example.org',
       '555-010-' || lpad(g::text, 4, '0'), 'Consumer', 'Austin', 'TX', 'US',
       DATE '2023-01-01' + g, TIMESTAMP '2024-01-15 08:00:00.123456' + g * INTERVAL '1 minute'
FROM generate_series(1, 40) AS g;
"""
CHANGES = """
UPDATE public.customers SET segment = 'VIP', updated_at = TIMESTAMP '2024-01-16 09:00:00'
WHERE customer_id IN ('C000003', 'C000017', 'C000040');
INSERT INTO public.customers (customer_id, first_name, last_name, email, phone, segment,
                              city, state, country, signup_date, updated_at)
VALUES ('C000041', 'Ada', 'New', 'ada@example.net', '555-020-0041', 'Corporate', 'Boston',
        'MA', 'US', DATE '2024-01-16', TIMESTAMP '2024-01-16 09:05:00'),
       ('C000042', 'Bo', 'New', 'bo@example.net', '555-020-0042', 'Consumer', 'Boston',
        'MA', 'US', DATE '2024-01-16', TIMESTAMP '2024-01-16 09:06:00');
"""


@pytest.fixture(scope="module")
def pg():
    with PostgresServer() as server:
        server.sql(CUSTOMERS)
        yield server


@pytest.fixture
def pg_env(pg, monkeypatch):
    monkeypatch.setenv("OLTP_USER", pg.user)
    monkeypatch.setenv("OLTP_PASSWORD", pg.password)
    monkeypatch.setenv("ETL_PII_KEY", "postgres-test-masking-key")
    return {"OLTP_USER": pg.user, "OLTP_PASSWORD": pg.password}


def _run_job(spark, config, day):
    args = JobArgs(env="local", run_date=day, overrides=(), run_id=f"run-{day}")
    ctx = create_context(customers_oltp_extract.JOB_NAME, args, config=config, spark=spark)
    return execute_step(ctx, customers_oltp_extract.JOB_NAME, customers_oltp_extract.run)


def test_second_run_extracts_only_changed_rows(spark, pg, pg_env, tmp_path):
    config = load_config("local", [f"warehouse.root={tmp_path / 'wh'}",
                                   f"sources.oltp.url={pg.jdbc_url}"])
    wh = DeltaWarehouse(spark, config.warehouse.root)
    first = _run_job(spark, config, date(2024, 1, 15))
    assert (first.rows_in, first.rows_out, first.rows_rejected) == (40, 40, 0)
    mark = read_watermark(wh, "METADATA.WATERMARKS", "oltp", "public.customers", "updated_at")
    assert mark == Watermark("2024-01-15 08:40:00.123456", "timestamp_ntz")

    pg.sql(CHANGES)
    second = _run_job(spark, config, date(2024, 1, 16))
    assert (second.rows_in, second.rows_out) == (5, 5)
    staged = wh.read("STAGING.STG_CUSTOMERS_OLTP")
    assert staged.count() == 42
    changed = {r.customer_id for r in staged.where(F.col("run_id") == "run-2024-01-16").collect()}
    assert changed == {"C000003", "C000017", "C000040", "C000041", "C000042"}
    assert staged.where("segment = 'VIP'").count() == 3
    ts = F.date_format("updated_at", "yyyy-MM-dd HH:mm:ss.SSSSSS").alias("ts")
    row = staged.where("customer_id = 'C000001'").select("first_name", "email", ts).first()
    assert row.ts == "2024-01-15 08:01:00.123456"  # wall clock kept, read as UTC
    assert row.email.endswith("@example.org") and "user1" not in row.email  # masked
    assert row.first_name != "First1" and len(row.first_name) == 64

    third = _run_job(spark, config, date(2024, 1, 16))
    assert third.rows_in == 0 and third.tables == {}
    assert read_watermark(wh, "METADATA.WATERMARKS", "oltp", "public.customers", "updated_at") \
        == Watermark("2024-01-16 09:06:00.000000", "timestamp_ntz")


def test_partitioned_reads_and_integer_and_timestamptz_watermarks(spark, pg, pg_env):
    pg.sql("""
        CREATE TABLE public.orders (order_id bigint PRIMARY KEY, version bigint NOT NULL,
                                    changed_at timestamptz NOT NULL, amount numeric(10, 2));
        INSERT INTO public.orders
        SELECT g, g, TIMESTAMPTZ '2024-01-15 10:00:00+02' + g * INTERVAL '1 second', g * 1.5
        FROM generate_series(1, 100) AS g;
    """)
    source = JdbcSourceSettings(url=pg.jdbc_url, user_env="OLTP_USER", password_env="OLTP_PASSWORD")
    options = jdbc_options(spark, source)
    full = extract_increment(spark, options, "public.orders", "version", None, "order_id", 4)
    assert (full.rows, full.until) == (100, Watermark("100", "long"))
    assert full.frame.rdd.getNumPartitions() == 4
    assert full.frame.count() == 100
    empty = extract_increment(spark, options, "public.orders", "version", full.until, "order_id")
    assert (empty.rows, empty.until, empty.frame.count()) == (0, None, 0)

    by_time = extract_increment(spark, options, "public.orders", "changed_at", None)
    assert (by_time.rows, by_time.until.kind) == (100, "timestamp_ntz")
    pg.sql("UPDATE public.orders SET changed_at = changed_at + INTERVAL '1 hour' "
           "WHERE order_id = 7")
    later = extract_increment(spark, options, "public.orders", "changed_at", by_time.until)
    assert later.rows == 1 and [r.order_id for r in later.frame.collect()] == [7]

    with pytest.raises(JdbcExtractError, match="not a plain identifier"):
        extract_increment(spark, options, "orders; DROP TABLE orders", "version", None)
    with pytest.raises(JdbcExtractError, match="must be numeric"):
        extract_increment(spark, options, "public.orders", "version", None, "changed_at")


def test_credentials_from_secrets_manager_or_env_only(spark, pg, tmp_path):
    with moto_server(tmp_path) as endpoint:
        client = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1",
                              aws_access_key_id="it", aws_secret_access_key="it")
        client.create_secret(Name="etl/oltp", SecretString=json.dumps(
            {"username": pg.user, "password": pg.password}))
        source = JdbcSourceSettings(url=pg.jdbc_url, secret_id="etl/oltp")
        options = jdbc_options(spark, source, environ={}, client=client)
        assert extract_increment(spark, options, "public.customers", "id", None).rows >= 40
        missing = JdbcSourceSettings(url=pg.jdbc_url, secret_id="etl/none")
        with pytest.raises(JdbcCredentialsMissing, match="etl/none"):
            jdbc_options(spark, missing, environ={}, client=client)
    env_source = JdbcSourceSettings(url=pg.jdbc_url, user_env="IT_PG_USER", password_env="IT_PG_PW")
    with pytest.raises(JdbcCredentialsMissing, match="IT_PG_USER and IT_PG_PW"):
        jdbc_options(spark, env_source, environ={})
    with pytest.raises(JdbcDriverMissing, match="spark.capabilities"):
        jdbc_options(spark, JdbcSourceSettings(url=pg.jdbc_url, driver="org.example.NoDriver"),
                     environ={"JDBC_USER": "u", "JDBC_PASSWORD": "p"})
