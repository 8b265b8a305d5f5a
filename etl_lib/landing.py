"""The landing contract (LANDING_CONTRACT.md) as code: each dataset's raw schema and files.

Raw schemas read every CSV value as a string, so a value that does not parse becomes a
rejection reason instead of a silent null; JSON and Parquet keep their contract types.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    MapType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from etl_lib.io import files

__all__ = ["Dataset", "DATASETS", "empty_landing", "read_landing"]


def _strings(*names: str) -> StructType:
    return StructType([StructField(name, StringType(), True) for name in names])


SALES_SCHEMA = _strings(
    "transaction_id", "line_number", "transaction_ts", "customer_id", "product_id",
    "store_id", "quantity", "unit_price", "discount_amount", "total_amount", "payment_method",
)

STORES_SCHEMA = _strings("store_id", "store_name", "city", "region", "country", "opened_date")

PRODUCTS_SCHEMA = StructType([
    StructField("product_id", StringType()),
    StructField("name", StringType()),
    StructField("category", StructType([
        StructField("name", StringType()),
        StructField("subcategory", StringType()),
    ])),
    StructField("brand", StringType()),
    StructField("price", StructType([
        StructField("amount", DoubleType()),
        StructField("currency", StringType()),
    ])),
    StructField("attributes", MapType(StringType(), StringType())),
    StructField("tags", ArrayType(StringType())),
    StructField("updated_at", StringType()),
])

CUSTOMERS_SCHEMA = StructType([
    StructField("customer_id", StringType()),
    StructField("first_name", StringType()),
    StructField("last_name", StringType()),
    StructField("email", StringType()),
    StructField("phone", StringType()),
    StructField("segment", StringType()),
    StructField("city", StringType()),
    StructField("state", StringType()),
    StructField("country", StringType()),
    StructField("signup_date", DateType()),
    StructField("updated_at", TimestampType()),
])

CLICKSTREAM_SCHEMA = StructType([
    StructField("event_id", StringType()),
    StructField("customer_id", StringType()),
    StructField("anonymous_id", StringType()),
    StructField("event_ts", StringType()),
    StructField("event_type", StringType()),
    StructField("page_url", StringType()),
    StructField("product_id", StringType()),
    StructField("device", StructType([
        StructField("type", StringType()), StructField("os", StringType()),
    ])),
    StructField("geo", StructType([
        StructField("country", StringType()), StructField("city", StringType()),
    ])),
])

INVENTORY_CDC_SCHEMA = StructType([
    StructField("op", StringType()),
    StructField("seq", LongType()),
    StructField("op_ts", StringType()),
    StructField("product_id", StringType()),
    StructField("store_id", StringType()),
    StructField("quantity_on_hand", IntegerType()),
    StructField("reorder_point", IntegerType()),
])

REVIEWS_SCHEMA = StructType([
    StructField("review_id", StringType()),
    StructField("product_id", StringType()),
    StructField("customer_id", StringType()),
    StructField("rating", IntegerType()),
    StructField("title", StringType()),
    StructField("body", StringType()),
    StructField("review_ts", StringType()),
    StructField("verified", BooleanType()),
    StructField("helpful_votes", IntegerType()),
    StructField("images", ArrayType(StructType([
        StructField("url", StringType()), StructField("caption", StringType()),
    ]))),
    StructField("metadata", MapType(StringType(), StringType())),
])


@dataclass(frozen=True)
class Dataset:
    """One landing dataset: its format, raw schema and the files of a business day.

    ``patterns`` are paths under the landing root with ``{yyyy}``, ``{mm}``, ``{dd}`` and
    ``{yyyymmdd}`` / ``{iso}`` placeholders; ``daily`` datasets must have files every day.
    """

    name: str
    format: str
    schema: StructType
    patterns: tuple[str, ...]
    daily: bool

    def paths_for(self, root: str, day: date) -> list[str]:
        values = {
            "yyyy": f"{day:%Y}", "mm": f"{day:%m}", "dd": f"{day:%d}",
            "yyyymmdd": f"{day:%Y%m%d}", "iso": day.isoformat(),
        }
        return [f"{root.rstrip('/')}/{p.format(**values)}" for p in self.patterns]


DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        Dataset("sales", "csv", SALES_SCHEMA, ("sales/{yyyy}/{mm}/sales_{yyyymmdd}*.csv",), True),
        Dataset("products", "json", PRODUCTS_SCHEMA, ("products/products_{yyyymmdd}.json",), False),
        Dataset(
            "customers", "parquet", CUSTOMERS_SCHEMA,
            ("customers/snapshot_date={iso}/*.parquet",), True,
        ),
        Dataset("stores", "csv", STORES_SCHEMA, ("stores/stores_{yyyymmdd}.csv",), False),
        Dataset(
            "clickstream", "json", CLICKSTREAM_SCHEMA,
            ("clickstream/{yyyy}/{mm}/{dd}/*/*.json",), False,
        ),
        Dataset(
            "inventory_cdc", "json", INVENTORY_CDC_SCHEMA,
            ("inventory_cdc/{yyyy}/{mm}/{dd}/*.json",), False,
        ),
        Dataset("reviews", "json", REVIEWS_SCHEMA, ("reviews/{yyyy}/{mm}/{dd}/*.json",), False),
    )
}


def read_landing(
    spark: SparkSession, root: str, dataset: str, day: date, csv_multiline: bool = False
) -> DataFrame | None:
    """The business day's files of ``dataset``, or None when an optional dataset has none.

    Raises:
        LandingFilesNotFound: a daily dataset has no file for ``day``.
    """
    spec = DATASETS[dataset]
    patterns = spec.paths_for(root, day)
    paths = files.glob_files(spark, patterns)
    if not paths:
        if spec.daily:
            raise files.LandingFilesNotFound(
                f"no {dataset} files for {day}: nothing matches {', '.join(patterns)}"
            )
        return None
    if spec.format == "csv":
        return files.read_csv(spark, paths, spec.schema, multiline=csv_multiline)
    if spec.format == "json":
        return files.read_json_lines(spark, paths, spec.schema)
    return files.read_parquet(spark, paths, spec.schema)


def empty_landing(spark: SparkSession, dataset: str) -> DataFrame:
    """A frame shaped like ``read_landing``'s for ``dataset``, with no rows."""
    schema = DATASETS[dataset].schema
    return (
        spark.createDataFrame([], schema)
        .withColumn(files.RAW_RECORD, F.lit(None).cast("string"))
        .withColumn(files.SOURCE_FILE, F.lit(None).cast("string"))
    )
