"""etl_lib.semistructured: naming rule, explode/keep/json modes, drift reports, type conflicts."""

import dataclasses
import json
import logging
from datetime import date

import pytest
from chispa import assert_df_equality
from pyspark.sql import Row
from pyspark.sql import functions as F

from etl_lib.config import load_config
from etl_lib.io.files import read_json_lines
from etl_lib.job import JobArgs, create_context
from etl_lib.landing import PRODUCTS_SCHEMA, REVIEWS_SCHEMA
from etl_lib.semistructured import (
    FlattenError,
    FlattenSpec,
    conflict_rules,
    drift_outcome,
    flatten,
    report_landing_drift,
    unknown_fields,
)
from etl_lib.validation import with_reasons
from jobs import products_dim

NESTED = (
    "id string, a struct<b: struct<c: int, d: string>, e: string>, "
    "tags array<string>, images array<struct<url: string, caption: string>>, "
    "meta map<string,string>"
)


@pytest.fixture(scope="module")
def nested(spark):
    return spark.createDataFrame(
        [
            (
                "r1",
                Row(b=Row(c=1, d="x"), e="y"),
                ["t1", "t2"],
                [Row(url="u1", caption="c1"), Row(url="u2", caption=None)],
                {"source": "web", "n": "3"},
            ),
            ("r2", None, None, [], None),
        ],
        NESTED,
    )


def test_structs_flatten_to_parent__child_arrays_kept_maps_as_json(spark, nested):
    out = flatten(nested)
    expected = spark.createDataFrame(
        [
            (
                "r1",
                1,
                "x",
                "y",
                ["t1", "t2"],
                [Row(url="u1", caption="c1"), Row(url="u2", caption=None)],
                '{"n":"3","source":"web"}',
            ),
            ("r2", None, None, None, None, [], None),
        ],
        "id string, a__b__c int, a__b__d string, a__e string, tags array<string>, "
        "images array<struct<url: string, caption: string>>, meta string",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_explode_gives_one_row_per_element_with_position_and_keeps_empty_parents(spark, nested):
    spec = FlattenSpec(
        modes={"images": "explode", "a": "json", "tags": "json"},
        map_keys={"meta": ["source", "missing"]},
    )
    out = flatten(nested, spec)
    expected = spark.createDataFrame(
        [
            (
                "r1",
                '{"b":{"c":1,"d":"x"},"e":"y"}',
                '["t1","t2"]',
                '{"n":"3","source":"web"}',
                "web",
                None,
                0,
                "u1",
                "c1",
            ),
            (
                "r1",
                '{"b":{"c":1,"d":"x"},"e":"y"}',
                '["t1","t2"]',
                '{"n":"3","source":"web"}',
                "web",
                None,
                1,
                "u2",
                None,
            ),
            ("r2", None, None, None, None, None, None, None, None),
        ],
        "id string, a string, tags string, meta string, meta__source string, meta__missing string, "
        "images__pos int, images__url string, images__caption string",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_maps_can_be_exploded_to_key_value_rows(spark, nested):
    out = flatten(nested.select("id", "meta"), FlattenSpec(modes={"meta": "explode"}))
    expected = spark.createDataFrame(
        [("r1", "source", "web"), ("r1", "n", "3"), ("r2", None, None)],
        "id string, meta__key string, meta__value string",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize(
    "spec, message",
    [
        (FlattenSpec(modes={"nope": "json"}), r"modes\['nope'\]: no such field"),
        (FlattenSpec(modes={"id": "json"}), r"does not apply to string"),
        (FlattenSpec(modes={"tags": "flatten"}), r"use one of: explode, json, keep"),
        (FlattenSpec(modes={"tags": "explode", "images": "explode"}), "explode at most one"),
        (FlattenSpec(map_keys={"tags": ["x"]}), r"map_keys\['tags'\]: not a map"),
    ],
)
def test_a_spec_that_does_not_fit_says_what_to_fix(nested, spec, message):
    with pytest.raises(FlattenError, match=message):
        flatten(nested, spec)


def test_two_fields_with_the_same_flat_name_are_an_error(spark):
    df = spark.createDataFrame([("x", Row(b="y"))], "a__b string, a struct<b: string>")
    with pytest.raises(FlattenError, match="a__b"):
        flatten(df)


def test_unknown_top_level_nested_and_array_element_keys_are_reported(spark):
    known = {
        "product_id": "P1",
        "category": {"name": "Home", "subcategory": "Lamp"},
        "attributes": {"anything": 1, "goes": True},
    }
    lines = [
        json.dumps({**known, "supplier": {"id": "S1", "name": "n"}}),
        json.dumps({**known, "category": {"name": "Home", "level": 2}, "supplier": {"id": "S2"}}),
        json.dumps(known),
        '{"product_id": "P4", "category": ',  # malformed: reported as a rejection, not drift
    ]
    report = unknown_fields(
        spark.createDataFrame([(x,) for x in lines], "value string"), PRODUCTS_SCHEMA, "products"
    )
    reviews = [
        json.dumps(
            {
                "review_id": "R1",
                "images": [{"url": "u", "width": 3}, {"url": "v", "width": 4}],
                "metadata": {"free": "form"},
            }
        )
    ]
    review_report = unknown_fields(
        spark.createDataFrame([(x,) for x in reviews], "value string"), REVIEWS_SCHEMA, "reviews"
    )
    expected = spark.createDataFrame(
        [
            ("products", "supplier", 2),
            ("products", "category.level", 1),
            ("reviews", "images.width", 1),
        ],
        "dataset string, field_path string, record_count long",
    )
    assert_df_equality(
        report.unionByName(review_report), expected, ignore_row_order=True, ignore_nullable=True
    )


def test_drift_is_logged_and_recorded_once_per_day_and_path_with_a_warn_metric(
    spark, tmp_path, caplog
):
    day = date(2024, 1, 15)
    folder = tmp_path / "landing" / "products"
    folder.mkdir(parents=True)
    known = {"product_id": "P1", "category": {"name": "Home"}}
    lines = [
        {**known, "supplier": {"id": "S1"}},
        {**known, "supplier": {"id": "S2"}},
        {**known, "category": {"name": "Home", "level": 2}},
    ]
    (folder / "products_20240115.json").write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    config = load_config(
        "local", [f"landing.root={tmp_path / 'landing'}", f"warehouse.root={tmp_path / 'wh'}"]
    )
    ctx = create_context(
        "products_dim", JobArgs("local", day, (), "run-1"), config=config, spark=spark
    )
    ctx = dataclasses.replace(ctx, log=logging.getLogger("test.drift"))  # "etl" does not propagate
    for _ in range(2):  # a rerun updates the same rows
        found = report_landing_drift(ctx, "products", PRODUCTS_SCHEMA)
    assert found == {"supplier": 2, "category.level": 1}
    assert "schema drift in products" in caplog.text and "supplier (2 records)" in caplog.text
    expected = spark.createDataFrame(
        [("products", day, "supplier", 2), ("products", day, "category.level", 1)],
        "dataset string, business_date date, field_path string, record_count long",
    )
    assert_df_equality(
        ctx.warehouse.read("METADATA.SCHEMA_DRIFT"),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )
    metrics = (
        ctx.warehouse.read(ctx.table("quality_metrics"))
        .select("table", "layer", "check_name", "severity", "status", "error_count", "details")
        .collect()
    )
    assert [tuple(m) for m in metrics] == [
        (
            "STAGING.STG_PRODUCTS",
            "landing",
            "schema_drift",
            "warn",
            "WARN",
            2,
            "fields not in the landing contract: category.level (1 records), supplier (2 records)",
        )
    ]


def test_no_drift_is_a_pass():
    assert (drift_outcome({}).status, drift_outcome({}).error_count) == ("PASS", 0)


def test_type_conflicts_name_the_field_and_malformed_lines_say_so(spark):
    raws = [
        (1, None),
        (2, '{"review_id": "R2", "rating": "five"}'),
        (3, '{"review_id": "R3", "rating": 4.5, "verified": "yes"}'),
        (4, '{"review_id": "R4", "images": "not a list"}'),
        (5, '{"review_id": "R5", "rating": 4, "ti'),
        (6, "[1, 2]"),
    ]
    df = spark.createDataFrame(raws, "n int, _raw_record string")
    out = with_reasons(df, conflict_rules(REVIEWS_SCHEMA)).select("n", "reject_reasons")
    expected = spark.createDataFrame(
        [
            (1, []),
            (2, ["rating_type_conflict"]),
            (3, ["rating_type_conflict", "verified_type_conflict"]),
            (4, ["images_type_conflict"]),
            (5, ["malformed_json"]),
            (6, ["malformed_json"]),
        ],
        "n int, reject_reasons array<string>",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_products_dim_flattens_with_the_library_and_keeps_dim_product(spark, tmp_path):
    lines = [
        {
            "product_id": "P1",
            "name": "Lamp",
            "category": {"name": "home", "subcategory": "lamp", "level": 2},
            "brand": "Acme",
            "price": {"amount": 19.99, "currency": "usd"},
            "attributes": {"color": "red"},
            "tags": ["new"],
            "updated_at": "2024-01-15T08:00:00Z",
            "supplier": {"id": "S1"},
        },
        {
            "product_id": "P2",
            "name": "Mug",
            "category": {"name": "home", "subcategory": "mug"},
            "brand": "Acme",
            "price": {"amount": "cheap", "currency": "USD"},
            "attributes": {},
            "tags": [],
            "updated_at": "2024-01-15T08:00:00Z",
        },
    ]
    path = tmp_path / "products_20240115.json"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    raw = read_json_lines(spark, [str(path)], PRODUCTS_SCHEMA)
    batch, members = products_dim.transform(raw, date(2024, 1, 15))
    assert members.columns == [
        "product_key",
        "product_id",
        "name",
        "category",
        "subcategory",
        "brand",
        "price",
        "currency",
        "attributes_json",
        "tags",
        "updated_at",
    ]
    row = members.first()
    assert (
        row.product_id,
        row.category,
        row.subcategory,
        str(row.price),
        row.currency,
        row.attributes_json,
    ) == ("P1", "Home", "Lamp", "19.99", "USD", '{"color":"red"}')
    rejected = batch.rejected.select(
        "reject_reasons", F.get_json_object("record", "$.product_id").alias("id")
    )
    expected = spark.createDataFrame(
        [(["unparseable_record", "price__amount_type_conflict"], "P2")],
        "reject_reasons array<string>, id string",
    )
    assert_df_equality(rejected, expected, ignore_nullable=True)


def test_products_dim_rejects_a_price_that_does_not_fit_decimal_12_2(spark, tmp_path):
    amounts = {"P1": "12.5", "P2": "1e12", "P3": "NaN", "P4": "Infinity"}
    lines = [
        f'{{"product_id": "{pid}", "price": {{"amount": {amount}, "currency": "USD"}}, '
        f'"updated_at": "2024-01-15T08:00:00Z"}}'
        for pid, amount in amounts.items()
    ]
    path = tmp_path / "products_20240115.json"
    path.write_text("\n".join(lines) + "\n")
    raw = read_json_lines(spark, [str(path)], PRODUCTS_SCHEMA)
    batch, _ = products_dim.transform(raw, date(2024, 1, 15))
    assert [(r.product_id, str(r.price)) for r in batch.valid.collect()] == [("P1", "12.50")]
    rejected = batch.rejected.select(
        F.get_json_object("record", "$.product_id").alias("id"), "reject_reasons"
    )
    assert sorted((r.id, r.reject_reasons) for r in rejected.collect()) == [
        ("P2", ["price_invalid"]), ("P3", ["price_invalid"]), ("P4", ["price_invalid"])]
