"""Shared by the s3a and standalone-cluster tests: generated landing days, the pipeline run
in-process (the reference), and table-by-table comparison of two warehouses.

The reference run happens once per test session (it is cached here) and keeps a copy of
every table after each day, so a test that runs only the first day compares with that.
"""

from __future__ import annotations

import sys
from datetime import date, timedelta
from pathlib import Path

from chispa import assert_df_equality
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import MapType, StringType

from etl_lib.config import AppConfig, load_config
from etl_lib.io.delta import DeltaWarehouse
from etl_lib.io.files import glob_files
from etl_lib.job import JobArgs, create_context

REPO = Path(__file__).resolve().parents[2]
START = date(2024, 1, 15)
DAYS = 1
SCALE = 0.05
SEED = 11
RUN_ID = "it-run"
PII_KEY = "integration-test-masking-key"
#: Parquet folders (not tables) some jobs write under the warehouse root.
PARQUET_ZONES = ("processed/reviews", "processed/review_images", "audit/inventory_cdc")
#: Wall-clock columns, which differ between any two runs: not compared (None: the table).
VOLATILE = {"METADATA.RUN_LOG": None, "METADATA.QUALITY_METRICS": ["run_time"]}

_reference: dict[str, object] = {}


def run_dates(days: int = DAYS) -> list[date]:
    return [START + timedelta(days=i) for i in range(days)]


def generate_landing(out: Path) -> Path:
    """Write the generated landing zone (all datasets, DAYS days) under ``out``."""
    sys.path.insert(0, str(REPO / "scripts"))
    import generate_data

    generate_data.generate(out, START, DAYS, SCALE, SEED)
    return out


def run_pipeline(spark: SparkSession, config: AppConfig, day: date) -> set[str]:
    """Run jobs/pipeline.py's steps for ``day`` in this process; return the tables written."""
    from jobs import pipeline

    args = JobArgs(env=config.env, run_date=day, overrides=(), run_id=RUN_ID)
    ctx = create_context("pipeline", args, config=config, spark=spark)
    stats = pipeline.run(ctx)
    return set(stats.tables)


def local_config(landing: Path | str, warehouse: Path | str, *extra: str) -> AppConfig:
    return load_config("local", [f"landing.root={landing}", f"warehouse.root={warehouse}",
                                 "spark.shuffle_partitions=2", *extra])


def reference(spark: SparkSession, base: Path) -> dict:
    """The local-mode run of every day: landing path, tables, and their rows after each day.

    Returns ``{"landing": Path, "tables": set, "after": {day: {table: DataFrame}}}``.
    """
    if not _reference:
        landing = generate_landing(base / "landing")
        config = local_config(landing, base / "warehouse")
        warehouse = DeltaWarehouse(spark, str(base / "warehouse"))
        tables: set[str] = set()
        after: dict[date, dict[str, DataFrame]] = {}
        for day in run_dates():
            tables |= run_pipeline(spark, config, day)
            after[day] = {t: _snapshot(spark, warehouse.read(t)) for t in sorted(tables)}
            after[day].update({z: _snapshot(spark, df) for z, df in
                               parquet_zones(spark, warehouse.root).items()})
        _reference.update(landing=landing, tables=tables, after=after)
    return _reference


def parquet_zones(spark: SparkSession, root: str) -> dict[str, DataFrame]:
    """The PARQUET_ZONES present under ``root``, read with partition discovery."""
    found = {}
    for zone in PARQUET_ZONES:
        if glob_files(spark, [f"{root.rstrip('/')}/{zone}/*/*.parquet"]):
            found[zone] = spark.read.parquet(f"{root.rstrip('/')}/{zone}")
    return found


def _snapshot(spark: SparkSession, df: DataFrame) -> DataFrame:
    """An in-memory copy (the table itself changes on the next day)."""
    return spark.createDataFrame(df.collect(), df.schema)


def normalized(df: DataFrame) -> DataFrame:
    """Comparable rows: lineage paths relative to the landing root, maps as sorted entries.

    (Lineage columns hold file paths under the landing root, which differs between runs;
    chispa sorts rows to ignore their order, and Spark cannot sort by a map.)
    """
    for field in df.schema.fields:
        if "source_file" in field.name and isinstance(field.dataType, StringType):
            df = df.withColumn(field.name, F.regexp_replace(field.name, r"^.*/landing/", ""))
        elif isinstance(field.dataType, MapType):
            df = df.withColumn(field.name, F.array_sort(F.map_entries(field.name)))
    return df


def assert_same_tables(expected: dict[str, DataFrame], actual: DeltaWarehouse) -> None:
    """Every expected table (and Parquet zone) is in ``actual`` with the same rows and schema."""
    zones = parquet_zones(actual.spark, actual.root)
    assert set(zones) == {name for name in expected if name in PARQUET_ZONES}
    for table, rows in expected.items():
        volatile = VOLATILE.get(table, [])
        if volatile is None:
            continue
        if table in PARQUET_ZONES:
            got = normalized(zones[table])
        else:
            assert actual.exists(table), f"{table} missing at {actual.location(table)}"
            got = normalized(actual.read(table).drop(*volatile))
        assert_df_equality(got, normalized(rows.drop(*volatile)), ignore_row_order=True,
                           ignore_nullable=True, underline_cells=True)
