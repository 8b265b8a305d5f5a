"""The JVM side against fakesnow's server mode (Snowflake's REST protocol over HTTP).

* ``JdbcSession`` (how production runs the adapter's SQL) through py4j and snowflake-jdbc:
  bound values of every type, MERGE counts, rollback.
* The spark-snowflake connector itself, configured by ``SnowflakeWarehouse.from_config``
  with a key from AWS Secrets Manager (moto): it logs in, then stops at a session
  statement fakesnow does not implement; nothing secret shows in logs, output or errors.
"""

from __future__ import annotations

import logging
from datetime import date, datetime
from decimal import Decimal

import pytest

from etl_lib.io import snowflake_sql as sql
from etl_lib.io.snowflake_session import JdbcSession, transaction
from etl_lib.io.snowflake_sql import Statement, Table

pytestmark = pytest.mark.snowflake


@pytest.fixture(scope="module")
def fakesnow_server():
    fakesnow = pytest.importorskip("fakesnow")
    with fakesnow.server() as connection_kwargs:
        yield connection_kwargs


@pytest.fixture
def jdbc_session(spark, fakesnow_server):
    jvm = spark._jvm
    props = jvm.java.util.Properties()
    for key, value in {"user": "etl", "password": "emulator", "db": "RETAIL", "schema": "PUBLIC",
                       "ssl": "off"}.items():
        props.setProperty(key, value)
    url = f"jdbc:snowflake://127.0.0.1:{fakesnow_server['port']}"
    session = JdbcSession(jvm, jvm.net.snowflake.client.jdbc.SnowflakeDriver().connect(url, props))
    session.run(Statement("CREATE SCHEMA IF NOT EXISTS RETAIL.JDBC"))
    yield session
    session.run(Statement("DROP SCHEMA IF EXISTS RETAIL.JDBC CASCADE"))
    session.close()


def test_jdbc_session_binds_values_merges_and_rolls_back(jdbc_session):
    target, batch = Table("RETAIL", "JDBC", "T"), Table("RETAIL", "JDBC", "B")
    columns = [("K", "VARCHAR"), ("N", "NUMBER(38,0)"), ("D", "DATE"), ("TS", "TIMESTAMP_NTZ"),
               ("OK", "BOOLEAN"), ("X", "FLOAT")]
    for table in (target, batch):
        jdbc_session.run(sql.create_table(table, columns))
    insert = f"INSERT INTO {batch.sql} VALUES (?, ?, ?, ?, ?, ?)"
    tricky = "it's'); DROP TABLE RETAIL.JDBC.T; --"
    rows = [(tricky, 1, date(2024, 1, 15), datetime(2024, 1, 15, 10, 30, 0, 250000), True, 1.5),
            ("b", None, None, None, None, None)]
    for row in rows:
        assert jdbc_session.run(Statement(insert, row)).dml_counts() == {"inserted": 1}

    names = [c for c, _ in columns]
    merged = jdbc_session.run(sql.merge_upsert(target, batch, names, ["K"], ["N"]))
    assert merged.dml_counts() == {"inserted": 2, "updated": 0}
    found = jdbc_session.run(Statement(
        f"SELECT K, N, D, TS, OK, X FROM {target.sql} WHERE K = ? AND D = ? AND TS = ?",
        (tricky, date(2024, 1, 15), datetime(2024, 1, 15, 10, 30, 0, 250000))))
    assert found.rows == [(tricky, 1, "2024-01-15", "2024-01-15 10:30:00.25", True, 1.5)]

    with pytest.raises(RuntimeError, match="boom"), transaction(jdbc_session):
        jdbc_session.run(sql.delete_where_in(target, "K", [tricky, "b"]))
        raise RuntimeError("boom")
    assert jdbc_session.run(Statement(f"SELECT COUNT(*) FROM {target.sql}")).scalar() == 2
    with pytest.raises(TypeError, match="cannot bind a dict"):
        jdbc_session.run(Statement(insert, ({}, 1, None, None, None, None)))
    assert Decimal("1.5") == Decimal(str(found.rows[0][5]))


def test_connector_reaches_fakesnow_but_not_past_its_session_setup_and_leaks_no_secret(
    spark, fakesnow_server, monkeypatch, caplog, capsys
):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from moto import mock_aws
    import boto3

    from etl_lib.config import load_config
    from etl_lib.io.snowflake import SnowflakeWarehouse

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    der_b64 = "".join(pem.splitlines()[1:-1])
    for name, value in {"AWS_DEFAULT_REGION": "eu-west-1", "AWS_ACCESS_KEY_ID": "testing",
                        "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "pw-never-to-be-seen")  # present, must stay unused
    config = load_config("local", [
        "warehouse.kind=snowflake",
        "snowflake={account: fakesnow, user: ETL_SERVICE, warehouse: TRANSFORM_WH, "
        f"database: RETAIL, schema: PUBLIC, url: 'http://127.0.0.1:{fakesnow_server['port']}', "
        "private_key_secret_id: etl/snowflake/key}",
    ])
    with mock_aws():
        boto3.client("secretsmanager").create_secret(Name="etl/snowflake/key", SecretString=pem)
        caplog.set_level(logging.DEBUG)  # everything, botocore's and py4j's chatter included
        warehouse = SnowflakeWarehouse.from_config(spark, config)
    with pytest.raises(Exception) as failure:
        warehouse.exists("CURATED.FACT_SALES")

    assert "ABORT_DETACHED_QUERY" in str(failure.value)  # the session set-up fakesnow lacks
    seen = "\n".join([caplog.text, *capsys.readouterr(), str(failure.value), repr(warehouse)])
    assert "key_pair auth from AWS Secrets Manager etl/snowflake/key" in caplog.text
    for secret in (der_b64, der_b64[10:74], "pw-never-to-be-seen", "PRIVATE KEY"):
        assert secret not in seen
