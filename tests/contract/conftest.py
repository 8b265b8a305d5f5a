"""Warehouse fixtures for the contract suite: real Delta tables, and Snowflake SQL on fakesnow."""

from __future__ import annotations

import pytest

from tests.contract.emulator import DATABASE, fakesnow_account


@pytest.fixture
def fakesnow_connect():
    """``connect()`` to an emulated account (fresh per test, schemas and UDF provisioned)."""
    with fakesnow_account() as connect:
        yield connect


@pytest.fixture
def snowflake_warehouse(spark, fakesnow_connect):
    """The Snowflake adapter over fakesnow: the generated SQL runs on the emulator."""
    from etl_lib.io.snowflake import SnowflakeWarehouse
    from etl_lib.io.snowflake_transport import PythonConnectorTransport

    return SnowflakeWarehouse(spark, PythonConnectorTransport(spark, fakesnow_connect), DATABASE)


@pytest.fixture(params=["delta", pytest.param("snowflake", marks=pytest.mark.snowflake)])
def any_warehouse(request, spark, tmp_path):
    """Each contract case runs once per adapter; results must equal the same expected table."""
    if request.param == "delta":
        from etl_lib.io.delta import DeltaWarehouse

        return DeltaWarehouse(spark, str(tmp_path / "warehouse"))
    return request.getfixturevalue("snowflake_warehouse")
