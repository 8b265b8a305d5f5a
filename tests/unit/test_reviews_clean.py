"""reviews_clean's transform on a small landing file read by the real JSON reader."""

import json
from datetime import date, datetime

import pytest
from chispa import assert_df_equality
from pyspark.sql import Row
from pyspark.sql import functions as F

from etl_lib.io.files import read_json_lines
from etl_lib.landing import REVIEWS_SCHEMA
from etl_lib.masking import hmac_sha256
from jobs import reviews_clean

DAY = date(2024, 1, 15)


def review(review_id="R1", **overrides):
    record = {
        "review_id": review_id,
        "product_id": "P1",
        "customer_id": "C1",
        "rating": 5,
        "title": "Love  it",
        "body": "Great lamp",
        "review_ts": "2024-01-15T10:00:00Z",
        "verified": True,
        "helpful_votes": 2,
        "images": [{"url": "https://img/1.jpg", "caption": " front "}],
        "metadata": {"source": "Web ", "language": "EN", "app_version": "4.2.0"},
    }
    record.update(overrides)
    return {k: v for k, v in record.items() if v != "DROP"}


def sorted_entries(column):
    """A map as its entries sorted by key (chispa sorts rows, and Spark cannot sort maps)."""
    return F.array_sort(F.map_entries(column)).alias(column)


def without_id():
    record = review("R5")
    del record["review_id"]
    return record


@pytest.fixture(scope="module")
def landing(spark, tmp_path_factory):
    """Two files of one day: good, planted-bad and duplicated reviews."""
    folder = tmp_path_factory.mktemp("reviews")
    first = [
        review("R1", body="Mail me at Ann.Lee@example.com or ann@mail.example.org!"),
        review("R2", verified=None, helpful_votes=None, images=None, metadata=None, title="  "),
        review("R3", rating=0),
        review("R4", rating="five"),
        without_id(),
        review("R6", review_ts="yesterday", helpful_votes=-1),
        review("R7", review_ts="DROP", customer_id=" "),
        review("R8", review_ts="2024-01-15T11:00:00Z"),
    ]
    second = [
        review("R8", review_ts="2024-01-15T12:00:00Z", title="edited"),
        review("R8", review_ts="2024-01-15T09:00:00Z", title="oldest"),
    ]
    lines_1 = [json.dumps(r) for r in first] + [json.dumps(review("R9"))[:40]]
    (folder / "reviews_20240115_00.json").write_text("\n".join(lines_1) + "\n")
    (folder / "reviews_20240115_01.json").write_text(
        "\n".join(json.dumps(r) for r in second) + "\n"
    )
    raw = read_json_lines(spark, sorted(str(p) for p in folder.iterdir()), REVIEWS_SCHEMA).cache()
    return raw, len(lines_1) + len(second)


def test_valid_reviews_are_typed_standardized_and_emails_redacted(spark, landing):
    raw, _ = landing
    staged = reviews_clean.transform(raw, DAY).valid
    out = staged.select(
        "review_id",
        "rating",
        "title",
        "body",
        "review_ts",
        "review_date",
        "verified",
        "helpful_votes",
        "images",
        sorted_entries("metadata"),
        "business_date",
    )
    ts = datetime(2024, 1, 15, 10)
    image = [Row(url="https://img/1.jpg", caption="front")]
    meta = {"source": "web", "language": "en", "app_version": "4.2.0"}
    meta = sorted(meta.items())
    expected = spark.createDataFrame(
        [
            (
                "R1",
                5,
                "Love it",
                "Mail me at [email removed] or [email removed]!",
                ts,
                DAY,
                True,
                2,
                image,
                meta,
                DAY,
            ),
            ("R2", 5, None, "Great lamp", ts, DAY, False, 0, [], [], DAY),
            (
                "R8",
                5,
                "edited",
                "Great lamp",
                datetime(2024, 1, 15, 12),
                DAY,
                True,
                2,
                image,
                meta,
                DAY,
            ),
        ],
        out.schema,
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)


def test_every_line_is_staged_or_rejected_with_all_its_reasons(spark, landing):
    raw, lines = landing
    batch = reviews_clean.transform(raw, DAY)
    rejected = batch.rejected.select(
        F.get_json_object("record", "$.review_id").alias("id"),
        F.get_json_object("record", "$.title").alias("title"),
        "reject_reasons",
    )
    expected = spark.createDataFrame(
        [
            ("R3", "Love  it", ["rating_out_of_range"]),
            ("R4", "Love  it", ["unparseable_record", "rating_type_conflict"]),
            (None, "Love  it", ["review_id_missing"]),
            ("R6", "Love  it", ["review_ts_invalid", "helpful_votes_negative"]),
            ("R7", "Love  it", ["customer_id_missing", "review_ts_missing"]),
            ("R8", "Love  it", ["duplicate_review_id"]),
            ("R8", "oldest", ["duplicate_review_id"]),
            (None, None, ["unparseable_record", "malformed_json"]),
        ],
        "id string, title string, reject_reasons array<string>",
    )
    assert_df_equality(rejected, expected, ignore_row_order=True, ignore_nullable=True)
    assert batch.valid.count() + batch.rejected.count() == lines


def test_masking_policies_apply_before_anything_is_written_and_raw_text_is_withheld(spark, landing):
    raw, _ = landing
    key = b"k"
    batch = reviews_clean.transform(
        raw, DAY, pii_policies={"customer_id": "hash"}, masking_key=key
    )
    token = spark.range(1).select(hmac_sha256(F.lit("C1"), key)).first()[0]
    assert {r.customer_id for r in batch.valid.select("customer_id").collect()} == {token}
    rejected = batch.rejected.filter(F.col("raw_record").isNotNull())
    assert {r.raw_record for r in rejected.select("raw_record").collect()} == {
        reviews_clean.RAW_WITHHELD
    }
    assert rejected.filter(F.col("record").contains('"C1"')).count() == 0


def test_emails_typed_into_image_captions_are_redacted_too(spark, tmp_path):
    """A caption is text the reviewer typed, like title and body: an e-mail in it must not
    reach STG_REVIEWS (and, through reviews_flatten, the processed zone) or REJECTED_REVIEWS."""
    images = [{"url": "https://img/1.jpg", "caption": "photo by ann.lee@example.com"}]
    lines = [review("C1", images=images), review("C2", images=images, rating=9)]
    path = tmp_path / "reviews_20240115_00.json"
    path.write_text("\n".join(json.dumps(r) for r in lines) + "\n")
    raw = read_json_lines(spark, [str(path)], REVIEWS_SCHEMA)
    batch = reviews_clean.transform(raw, DAY)
    staged = [i.caption for r in batch.valid.collect() for i in r.images]
    assert staged == ["photo by [email removed]"]
    rejected = batch.rejected.collect()
    assert len(rejected) == 1 and "ann.lee@example.com" not in rejected[0].record
