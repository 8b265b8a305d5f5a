"""The contract cases against a real Snowflake account, through the spark-snowflake connector.

Skipped unless SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and a credential (SNOWFLAKE_PRIVATE_KEY,
or SNOWFLAKE_PASSWORD) are set. SNOWFLAKE_DATABASE names a scratch database (default
ETL_CI; its name must contain CI or TEST): each case drops and recreates its schemas S and
CURATED there, with the SCD_VERSION_KEY function of deploy/snowflake/25_functions.sql.
SNOWFLAKE_WAREHOUSE (default COMPUTE_WH) and SNOWFLAKE_ROLE are optional.
"""

from __future__ import annotations

import inspect
import os

import pytest

from tests.contract import test_warehouse_contract as contract

ACCOUNT = os.environ.get("SNOWFLAKE_ACCOUNT")
USER = os.environ.get("SNOWFLAKE_USER")
KEY, PASSWORD = os.environ.get("SNOWFLAKE_PRIVATE_KEY"), os.environ.get("SNOWFLAKE_PASSWORD")
DATABASE = os.environ.get("SNOWFLAKE_DATABASE", "ETL_CI").upper()

pytestmark = [
    pytest.mark.snowflake,
    pytest.mark.skipif(
        not (ACCOUNT and USER and (KEY or PASSWORD)),
        reason="needs SNOWFLAKE_ACCOUNT credentials (SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER and "
               "SNOWFLAKE_PRIVATE_KEY or SNOWFLAKE_PASSWORD)",
    ),
]

CASES = [
    contract.test_reading_a_missing_table_says_which,
    contract.test_overwrite_partitions_replaces_only_the_given_values,
    contract.test_overwrite_partitions_refuses_rows_outside_the_values,
    contract.test_overwrite_replaces_every_row,
    contract.test_merge_with_newer_by_never_lets_older_rows_win,
    contract.test_apply_changes_scd1_deletes_and_drops_late_updates,
    contract.test_apply_changes_scd2_places_late_events_in_history,
    contract.test_apply_changes_scd2_ignore_null_updates_and_tracked_columns,
    contract.test_snapshots_detect_deletes_and_reruns_change_nothing,
]


class _Cursor:
    """``execute(sql)`` over an adapter session, as scripts/apply_snowflake_ddl expects."""

    def __init__(self, session):
        self.session = session

    def execute(self, text):
        from etl_lib.io.snowflake_sql import Statement

        return self.session.run(Statement(text))


@pytest.fixture(scope="module")
def live_warehouse(spark):
    from etl_lib.config import load_config
    from etl_lib.io.snowflake import SnowflakeWarehouse

    if "CI" not in DATABASE and "TEST" not in DATABASE:
        pytest.fail(f"SNOWFLAKE_DATABASE={DATABASE} does not look like a scratch database "
                    "(its name must contain CI or TEST): the cases drop schemas in it")
    role = os.environ.get("SNOWFLAKE_ROLE")
    config = load_config("local", [
        "warehouse.kind=snowflake",
        f"snowflake={{account: {ACCOUNT}, user: {USER}, database: {DATABASE}, schema: PUBLIC, "
        f"warehouse: {os.environ.get('SNOWFLAKE_WAREHOUSE', 'COMPUTE_WH')}, "
        f"auth: {'key_pair' if KEY else 'password'}{', role: ' + role if role else ''}}}",
    ])
    return SnowflakeWarehouse.from_config(spark, config)


@pytest.fixture
def scratch_schemas(live_warehouse):
    """Fresh S and CURATED schemas in the scratch database, CURATED with the UDF."""
    from scripts.apply_snowflake_ddl import apply, ddl_files, load_statements

    functions = [f for f in ddl_files() if f.name == "25_functions.sql"]
    with live_warehouse.transport.session() as session:
        cursor = _Cursor(session)
        cursor.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        for schema in ("S", "CURATED"):
            cursor.execute(f"CREATE OR REPLACE SCHEMA {DATABASE}.{schema}")
        apply(cursor, load_statements(functions, {"DATABASE": DATABASE}))


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.__name__)
def test_contract_case_on_a_real_account(case, spark, live_warehouse, scratch_schemas):
    arguments = {"spark": spark, "any_warehouse": live_warehouse}
    case(**{name: arguments[name] for name in inspect.signature(case).parameters})
