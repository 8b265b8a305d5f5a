"""One SparkSession for the whole suite (local[2], Delta on, UI off), plus small helpers."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
#: Test-only PII key; real runs take it from the environment or AWS Secrets Manager.
TEST_PII_KEY = "test-only-pii-key"
os.environ.setdefault("ETL_PII_KEY", TEST_PII_KEY)


@pytest.fixture(scope="session")
def test_config(tmp_path_factory):
    """The local config, pointed at a per-session warehouse and landing zone."""
    from etl_lib.config import load_config

    base = tmp_path_factory.mktemp("session")
    return load_config(
        "local",
        [f"warehouse.root={base / 'warehouse'}", f"landing.root={base / 'landing'}",
         "spark.shuffle_partitions=2", "spark.driver_memory=4g",
         # Thousands of tiny queries: the tiered JIT's quick C1 code serves them better
         # than waiting for C2 (docs/performance.md, "Session 18").
         "spark.driver_java_options=-XX:+UseParallelGC",
         # One session serves every test, so it carries every connector a test uses.
         "spark.capabilities=[delta, s3a, postgres, snowflake]"],
    )


@pytest.fixture(scope="session")
def spark(test_config):
    from etl_lib.session import build_session

    session = build_session(test_config, "etl-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(autouse=True, scope="module")
def _release_cached_state():
    """After each module, drop what Spark and Delta cache (hundreds of small tables pass
    through one session; their cached state would otherwise crowd the driver)."""
    yield
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    if spark is not None:
        spark.catalog.clearCache()
        spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()


@pytest.fixture
def driver_in_new_york():
    """The Python driver's local time zone set to New York (the JVM's session stays UTC)."""
    import time

    old = os.environ.get("TZ")
    os.environ["TZ"] = "America/New_York"
    time.tzset()
    yield
    if old is None:
        del os.environ["TZ"]
    else:
        os.environ["TZ"] = old
    time.tzset()


@pytest.fixture
def warehouse(spark, tmp_path):
    """A Delta warehouse in a fresh directory for one test."""
    from etl_lib.io.delta import DeltaWarehouse

    return DeltaWarehouse(spark, str(tmp_path / "warehouse"))


@pytest.fixture(scope="session")
def three_days(spark, tmp_path_factory):
    """The shared integration run (tests/integration/pipeline_runs.py): every dataset
    generated for 3 days and the whole pipeline run for each, quality gates on.

    Read it; a test that writes works on ``three_days.copy(tmp_path)``.
    """
    from tests.integration.pipeline_runs import run_three_days

    return run_three_days(spark, tmp_path_factory.mktemp("three-days"))
