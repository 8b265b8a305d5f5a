"""One SparkSession builder for local, EMR, Glue and Dataproc.

Platform differences live here and in the conf overlays: the same job file runs on all.
Locally the session gets a master, the Delta extensions and its Maven packages; on a
managed platform it attaches to what the platform started and only adds settings.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from pyspark.sql import SparkSession

from etl_lib import versions
from etl_lib.config import AppConfig

__all__ = [
    "build_session", "detect_platform", "required_packages", "session_conf", "temporary_conf",
]

_DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}

_COMMON_CONF = {
    "spark.sql.adaptive.enabled": "true",
    "spark.sql.adaptive.coalescePartitions.enabled": "true",
    "spark.sql.adaptive.skewJoin.enabled": "true",
    "spark.sql.session.timeZone": "UTC",
    # Never fall back to the lenient pre-3.0 parser: "2024-13-45" must be null, not March.
    "spark.sql.legacy.timeParserPolicy": "CORRECTED",
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    # Timestamps are read and written as instants in UTC on every platform.
    "spark.sql.parquet.datetimeRebaseModeInWrite": "CORRECTED",
    # Parquet's INT64 microseconds, not the deprecated INT96 (Spark's default): every
    # reader of the tables takes them, and they are cheaper to write (no Julian-day
    # conversion and range check per value, a long dictionary instead of a 12-byte one):
    # 2.5M staged sales lines 7.1-7.8 s of CPU instead of 8.1-9.0 s.
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
    # Spark keeps 100 compiled query classes; a pipeline runs far more distinct queries in
    # one session (Delta's merges and log reads, gates, writes), and every miss is compiled
    # again by Janino on the driver. A test-scale pipeline day: 86-94 s instead of 102-111 s.
    "spark.sql.codegen.cache.maxEntries": "2000",
}


def detect_platform() -> str:
    """Best guess of the platform this process runs on: glue, emr, dataproc or local."""
    if os.environ.get("GLUE_VERSION") or os.environ.get("GLUE_PYTHON_VERSION"):
        return "glue"
    if Path("/emr/instance-controller").exists() or Path("/mnt/var/lib/info/job-flow.json").exists():
        return "emr"
    if os.environ.get("DATAPROC_IMAGE_VERSION") or Path("/usr/local/share/google/dataproc").exists():
        return "dataproc"
    return "local"


def required_packages(config: AppConfig) -> list[str]:
    """Maven coordinates this run needs: its capabilities plus any extra packages in conf."""
    capabilities = list(config.spark.capabilities)
    if config.warehouse.kind == "snowflake" and "snowflake" not in capabilities:
        capabilities.append("snowflake")
    if _uses_s3a(config) and "s3a" not in capabilities:
        capabilities.append("s3a")
    coordinates = [coord for cap in capabilities for coord in versions.PACKAGES[cap]]
    return list(dict.fromkeys([*coordinates, *config.spark.packages]))


def session_conf(config: AppConfig, platform: str) -> dict[str, str]:
    """Every Spark setting the builder applies, for inspection and tests."""
    conf = dict(_COMMON_CONF)
    conf.update(_DELTA_CONF)
    conf["spark.sql.shuffle.partitions"] = str(config.spark.shuffle_partitions)
    packages = required_packages(config)
    if packages:
        conf["spark.jars.packages"] = ",".join(packages)
    if platform == "local":
        conf.update(
            {
                "spark.master": config.spark.master,
                "spark.driver.memory": config.spark.driver_memory,
                "spark.ui.enabled": str(config.spark.ui_enabled).lower(),
                "spark.ui.showConsoleProgress": "false",
                "spark.sql.files.maxPartitionBytes": str(64 * 1024 * 1024),
                "spark.default.parallelism": str(config.spark.shuffle_partitions),
                # Delta rebuilds a table's state from its log in 50 tasks by default: on a
                # laptop that fixed cost dominates every small read, merge and write (a
                # pipeline day takes half the time with this).
                "spark.databricks.delta.snapshotPartitions": str(config.spark.shuffle_partitions),
                # Cached frames are stored uncompressed: choosing and applying a column
                # encoding for every value costs CPU that two cores miss more than memory
                # (2.5M sales lines: 35 s instead of 37 s; 20M: 219 s instead of 234 s,
                # what does not fit in memory goes to local disk).
                "spark.sql.inMemoryColumnarStorage.compressed": "false",
                # By default the throughput collector (on local[2], G1's concurrent threads
                # take CPU from the two task threads: 2.5M sales lines 37.4 s instead of
                # 40.0 s) and C2 only (hot code compiled once, not by C1 then C2: a cold
                # 2.5M transform about 8% faster).
                "spark.driver.extraJavaOptions": "-Dderby.system.home=/tmp/derby "
                + config.spark.driver_java_options,
            }
        )
    conf.update(config.spark.conf)
    return conf


def build_session(config: AppConfig, app_name: str) -> SparkSession:
    """Create (or attach to) the SparkSession for ``config`` on the detected platform."""
    platform = detect_platform() if config.platform == "auto" else config.platform
    if platform == "local":
        # pandas UDFs and workers must run on the driver's interpreter (see docs).
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    conf = session_conf(config, platform)
    submitted = _spark_submit_master()
    if submitted and not submitted.startswith("local") and "spark.master" not in config.spark.conf:
        # `spark-submit --master spark://...|yarn|k8s://...` decides where a local-conf run goes.
        conf.pop("spark.master", None)
    builder = SparkSession.builder.appName(app_name)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    if config.s3.configured:
        from etl_lib.io.s3 import apply_s3_settings

        apply_s3_settings(spark, config.s3)
    return spark


def _spark_submit_master() -> str | None:
    """The --master given to spark-submit when this process was started by it, else None."""
    if not os.environ.get("PYSPARK_GATEWAY_PORT"):
        return None  # no JVM yet: the builder will launch one with our settings
    from pyspark import SparkContext

    SparkContext._ensure_initialized()
    return SparkContext._jvm.java.lang.System.getProperty("spark.master")


def _uses_s3a(config: AppConfig) -> bool:
    return any(root.startswith("s3a://") for root in (config.landing.root, config.warehouse.root))


@contextmanager
def temporary_conf(spark: SparkSession, values: dict[str, str]) -> Iterator[None]:
    """Set SQL conf ``values`` for the duration of a block, then restore the old ones."""
    old = {key: spark.conf.get(key, None) for key in values}
    for key, value in values.items():
        spark.conf.set(key, value)
    try:
        yield
    finally:
        for key, value in old.items():
            if value is None:
                spark.conf.unset(key)
            else:
                spark.conf.set(key, value)
