"""products_dim: landing products JSON Lines -> STG_PRODUCTS + REJECTED_PRODUCTS -> DIM_PRODUCT (SCD1).

The nested record is flattened by etl_lib.semistructured (category.name -> category__name
-> DIM_PRODUCT.category, price.amount -> price__amount -> price, ...); a value of the wrong
JSON type is rejected as ``<field>_type_conflict``, and fields the contract does not know
are reported to METADATA.SCHEMA_DRIFT (and logged) without failing the run.
Files may hold the full catalog or only changes; a product is overwritten only by a
record at least as new (updated_at), so replaying an old file never regresses it.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from etl_lib.cleansing import blank_to_null, parse_timestamp
from etl_lib.dedupe import dedupe_latest
from etl_lib.dimensions import upsert_scd1
from etl_lib.io.files import SOURCE_FILE
from etl_lib.job import JobContext, RunStats, run_job
from etl_lib.joins import surrogate_key
from etl_lib.landing import PRODUCTS_SCHEMA
from etl_lib.semistructured import FlattenSpec, conflict_rules, report_landing_drift
from etl_lib.semistructured import flatten as flatten_nested
from etl_lib.staging import StagedBatch, read_optional_landing, stage_rows, write_staged
from etl_lib.validation import Rule, is_missing, not_parsed

JOB_NAME = "products_dim"
RAW_COLUMNS = tuple(field.name for field in PRODUCTS_SCHEMA.fields)
#: attributes (free-form map) as JSON text, tags kept as an array, the raw row kept whole.
FLATTEN_SPEC = FlattenSpec(modes={"attributes": "json", "tags": "keep", "_record": "keep"})


def flatten(raw: DataFrame) -> DataFrame:
    """Typed, flat product columns; the raw row kept as the ``_record`` struct."""
    with_record = raw.withColumn("_record", F.struct(*[F.col(c) for c in RAW_COLUMNS]))
    return flatten_nested(with_record, FLATTEN_SPEC).withColumns({
        "product_id_clean": blank_to_null(F.col("product_id")),
        "product_name": blank_to_null(F.col("name")),
        "category_name": F.initcap(blank_to_null(F.col("category__name"))),
        "subcategory": F.initcap(blank_to_null(F.col("category__subcategory"))),
        "brand_name": blank_to_null(F.col("brand")),
        "price_amount": F.col("price__amount").cast("decimal(12,2)"),
        "currency": F.upper(blank_to_null(F.col("price__currency"))),
        "attributes_json": F.col("attributes"),
        "updated": parse_timestamp(F.col("updated_at")),
        "source_file": F.col(SOURCE_FILE),
    })


def transform(raw: DataFrame, business_date: date) -> tuple[StagedBatch, DataFrame]:
    """Stage a products file and derive DIM_PRODUCT rows (the latest record per product)."""
    typed = flatten(raw)
    rules = [
        *conflict_rules(PRODUCTS_SCHEMA),
        Rule("product_id_missing", F.col("product_id_clean").isNull()),
        is_missing("updated_at"),
        not_parsed("updated_at", F.col("updated")),
        # A price too large for decimal(12,2), NaN or infinite would become a null price.
        not_parsed("price__amount", F.col("price_amount"), "price"),
        Rule("price_negative", F.col("price_amount") < 0),
    ]
    batch = stage_rows(typed, rules, F.col("_record"), business_date)
    staged = batch.valid.select(
        F.col("product_id_clean").alias("product_id"),
        F.col("product_name").alias("name"),
        F.col("category_name").alias("category"),
        "subcategory",
        F.col("brand_name").alias("brand"),
        F.col("price_amount").alias("price"), "currency", "attributes_json", "tags",
        F.col("updated").alias("updated_at"),
        "source_file",
        F.lit(business_date).alias("business_date"),
    )
    members = dedupe_latest(staged, ["product_id"], ["updated_at", "source_file"]).select(
        surrogate_key("product_id").alias("product_key"),
        "product_id", "name", "category", "subcategory", "brand", "price", "currency",
        "attributes_json", "tags", "updated_at",
    )
    return StagedBatch(valid=staged, rejected=batch.rejected), members


def run(ctx: JobContext) -> RunStats:
    stats, day = RunStats(), ctx.run_date
    raw = read_optional_landing(
        ctx.spark, ctx.warehouse, ctx.config.landing.root, "products", day,
        ctx.table("dim_product"),
    )
    if raw is None:
        ctx.log.info("no products file for %s: DIM_PRODUCT unchanged", day)
        return stats
    report_landing_drift(ctx, "products", PRODUCTS_SCHEMA)
    batch, members = transform(raw, day)
    ctx.quality_gate(stg_products=batch.valid, rejected_products=batch.rejected, dim_product=members)
    write_staged(
        ctx.warehouse, batch, ctx.table("stg_products"), ctx.table("rejected_products"), day, stats
    )
    stats.wrote(upsert_scd1(
        ctx.warehouse, members, ctx.table("dim_product"), "product_key", "product_id", ["updated_at"]
    ))
    return stats


def main(argv: Sequence[str] | None = None) -> int:
    return run_job(JOB_NAME, run, argv)


if __name__ == "__main__":
    sys.exit(main())
