"""The demo day through the real entry point with ``warehouse.kind: snowflake``.

The spark-snowflake connector cannot talk to fakesnow's server (docs/snowflake.md), so
the run uses the adapter's own SQL path end to end: conf ``snowflake.transport:
python_connector`` under fakesnow, the DDL of deploy/snowflake applied first (minus what
fakesnow cannot run), then the pipeline's steps up to sales_enrich. FACT_SALES (and the
dimensions it links to) must hold exactly the rows of the shared Delta run's first day
(tests/integration/pipeline_runs.py).
"""

from __future__ import annotations

import contextlib

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from etl_lib.io.delta import DeltaWarehouse
from etl_lib.io.snowflake import SnowflakeWarehouse
from scripts.apply_snowflake_ddl import apply, ddl_files, load_statements
from tests.contract.emulator import DATABASE, fakesnow_account
from tests.contract.test_snowflake_ddl import FAKESNOW_GAPS, VARIABLES
from tests.integration.pipeline_runs import START, local_config, run_pipeline

pytestmark = [pytest.mark.snowflake, pytest.mark.integration]

STEPS = ["jobs.pipeline.steps=[dim_date, stores_dim, products_dim, customers_dim, sales_enrich]",
         "jobs.dim_date.start=2024-01-01", "jobs.dim_date.end=2024-01-31"]
SNOWFLAKE = ["warehouse.kind=snowflake",
             "snowflake={account: emulated-account, user: ETL_SERVICE, role: ETL_ROLE, "
             f"warehouse: TRANSFORM_WH, database: {DATABASE}, schema: CURATED, auth: password, "
             "transport: python_connector}"]
COMPARED = ("CURATED.FACT_SALES", "CURATED.DIM_STORE", "CURATED.DIM_PRODUCT",
            "CURATED.DIM_CUSTOMER", "ANALYTICS.DAILY_SALES_SUMMARY", "STAGING.STG_SALES",
            "STAGING.REJECTED_SALES")


def same_rows(delta_df, snowflake_df):
    """Same columns, types and rows (nested values compared as JSON)."""
    assert snowflake_df.schema.simpleString() == delta_df.schema.simpleString()

    def comparable(df):
        return df.select(*[F.to_json(f.name).alias(f.name)
                           if f.dataType.typeName() in ("array", "map", "struct") else f.name
                           for f in df.schema])

    assert_df_equality(comparable(snowflake_df), comparable(delta_df), ignore_row_order=True,
                       ignore_nullable=True)


def test_demo_day_on_snowflake_loads_the_same_fact_sales_as_on_delta(
    spark, three_days, tmp_path, monkeypatch
):
    monkeypatch.setenv("SNOWFLAKE_PASSWORD", "emulator-password")
    landing = three_days.landing
    delta = DeltaWarehouse(spark, str(three_days.day_one))  # the Delta run of the same day

    with fakesnow_account() as connect:
        with contextlib.closing(connect()) as connection:
            apply(connection.cursor(), load_statements(ddl_files(), VARIABLES), FAKESNOW_GAPS)
        config = local_config(landing, tmp_path / "processed", *STEPS, *SNOWFLAKE)
        written = run_pipeline(spark, config, START)
        snowflake = SnowflakeWarehouse.from_config(spark, config)

        assert set(COMPARED) <= written
        for table in COMPARED:
            same_rows(delta.read(table), snowflake.read(table))
        log = snowflake.read("METADATA.RUN_LOG").select("job", "status").collect()
        assert sorted(tuple(r) for r in log) == sorted(
            (job, "SUCCEEDED") for job in
            ("dim_date", "stores_dim", "products_dim", "customers_dim", "sales_enrich"))
        assert snowflake.read("CURATED.FACT_SALES").count() > 100
