"""The session the builder starts carries the product's settings, static ones included."""

from __future__ import annotations

from etl_lib.session import session_conf


def test_the_running_session_has_the_static_settings_of_session_conf(spark, test_config):
    expected = session_conf(test_config, "local")
    running = spark.sparkContext.getConf()
    for key in ("spark.sql.codegen.cache.maxEntries", "spark.sql.extensions",
                "spark.databricks.delta.snapshotPartitions", "spark.driver.extraJavaOptions"):
        assert expected[key] in running.get(key), key  # Spark may prepend JVM options
    # A static SQL setting cannot be changed once the session exists: it had to be applied.
    assert spark.conf.get("spark.sql.codegen.cache.maxEntries") == "2000"
