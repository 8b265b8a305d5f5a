"""The session the builder starts carries the product's settings, static ones included."""

from __future__ import annotations

from etl_lib.session import session_conf


def test_the_running_session_has_the_static_settings_of_session_conf(spark, test_config):
    expected = session_conf(test_config, "local")
    running = spark.sparkContext.getConf()
    for key in ("spark.sql.codegen.cache.maxEntries", "spark.sql.extensions",
                "spark.databricks.delta.snapshotPartitions",
                "spark.sql.inMemoryColumnarStorage.compressed"):
        assert running.get(key) == expected[key], key
    # Spark puts its own JVM options first.
    assert running.get("spark.driver.extraJavaOptions").endswith(
        expected["spark.driver.extraJavaOptions"])
    # Static SQL settings only take effect when the session starts: this one did.
    assert spark.conf.get("spark.sql.codegen.cache.maxEntries") == "2000"
    # Cached frames are built uncompressed locally (a CPU-for-memory trade, see docs).
    assert spark.conf.get("spark.sql.inMemoryColumnarStorage.compressed") == "false"
