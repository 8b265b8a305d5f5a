"""reviews_flatten's transforms and the processed zone's per-partition replace."""

from datetime import date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from chispa import assert_df_equality
from pyspark.sql import Row

from etl_lib.io.parquet_zone import replace_partitions
from jobs import reviews_flatten

D1, D2, D3 = date(2024, 1, 15), date(2024, 1, 16), date(2024, 1, 17)
STAGED = (
    "review_id string, product_id string, customer_id string, rating int, title string, "
    "body string, "
    "review_ts timestamp, review_date date, verified boolean, helpful_votes int, "
    "images array<struct<url: string, caption: string>>, metadata map<string,string>, "
    "source_file string, business_date date"
)


def staged(spark, rows):
    """STG_REVIEWS rows from (review_id, review_ts, business_date, images, metadata)."""
    return spark.createDataFrame(
        [
            (
                rid,
                "P1",
                "C1",
                4,
                "t",
                "b",
                ts,
                ts.date(),
                True,
                0,
                images,
                meta,
                f"f{business}.json",
                business,
            )
            for rid, ts, business, images, meta in rows
        ],
        STAGED,
    )


def test_reviews_and_images_are_normalized_into_flat_columns(spark):
    rows = staged(
        spark,
        [
            (
                "R1",
                datetime(2024, 1, 15, 10),
                D1,
                [Row(url="u1", caption="front"), Row(url="u2", caption=None)],
                {"source": "app", "language": "en", "app_version": "4.2.0"},
            ),
            ("R2", datetime(2024, 1, 15, 11), D1, [], {}),
        ],
    )
    reviews, images = reviews_flatten.normalize(rows)
    assert tuple(reviews.columns) == reviews_flatten.REVIEW_COLUMNS
    got = reviews.select(
        "review_id",
        "image_count",
        "metadata__source",
        "metadata__language",
        "metadata",
        "source_business_date",
        "review_date",
    )
    expected = spark.createDataFrame(
        [
            (
                "R1",
                2,
                "app",
                "en",
                '{"app_version":"4.2.0","language":"en","source":"app"}',
                D1,
                D1,
            ),
            ("R2", 0, None, None, "{}", D1, D1),
        ],
        got.schema,
    )
    assert_df_equality(got, expected, ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(
        images,
        spark.createDataFrame(
            [("R1", 0, "u1", "front", D1), ("R1", 1, "u2", None, D1)], images.schema
        ),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_a_late_or_moved_review_rebuilds_every_partition_it_touches(spark):
    rows = staged(
        spark,
        [
            ("R1", datetime(2024, 1, 15, 10), D1, [], {}),
            ("R4", datetime(2024, 1, 15, 12), D1, [], {}),
            ("R2", datetime(2024, 1, 15, 23), D2, [], {}),  # landed a day late
            ("R3", datetime(2024, 1, 16, 9), D2, [], {}),
            ("R4", datetime(2024, 1, 16, 8), D2, [], {}),  # edited: moves to D2
            ("R5", datetime(2024, 1, 17, 8), D3, [], {}),  # another day: untouched
        ],
    )
    dates = sorted(r[0] for r in reviews_flatten.touched_dates(rows, D2).collect())
    assert dates == [D1, D2]
    current = reviews_flatten.current_reviews(rows, dates).select(
        "review_id", "review_date", "business_date"
    )
    expected = spark.createDataFrame(
        [("R1", D1, D1), ("R2", D1, D2), ("R3", D2, D2), ("R4", D2, D2)], current.schema
    )
    assert_df_equality(current, expected, ignore_row_order=True, ignore_nullable=True)


def zone_rows(root: Path, dataset: str) -> list[tuple]:
    """What a plain Parquet reader (pyarrow, Hive partitions) sees: timestamps are UTC instants."""
    table = pq.read_table(root / dataset, partitioning="hive")
    return sorted((r["k"], r["ts"].isoformat(), str(r["day"])) for r in table.to_pylist())


def test_partitions_are_replaced_whole_others_kept_and_a_rerun_changes_nothing(spark, tmp_path):
    schema = "k string, ts timestamp, day date"
    first = spark.createDataFrame(
        [
            ("a", datetime(2024, 1, 15, 1), D1),
            ("b", datetime(2024, 1, 16, 1), D2),
            ("c", datetime(2024, 1, 17, 1), D3),
        ],
        schema,
    )
    replace_partitions(first, str(tmp_path), "ds", "day", [D1, D2, D3], "run1")
    update = spark.createDataFrame([("a2", datetime(2024, 1, 15, 2), D1)], schema)
    for run in ("run2", "run3"):  # the rerun must leave the same content
        written = replace_partitions(update, str(tmp_path), "ds", "day", [D1, D2], run)
        assert written == {"day=2024-01-15": 1, "day=2024-01-16": 0}
        assert zone_rows(tmp_path, "ds") == [
            ("a2", "2024-01-15T02:00:00+00:00", "2024-01-15"),
            ("c", "2024-01-17T01:00:00+00:00", "2024-01-17"),
        ]
    assert sorted(p.name for p in (tmp_path / "ds").iterdir()) == [
        "day=2024-01-15",
        "day=2024-01-17",
    ]
    assert len(list((tmp_path / "ds" / "day=2024-01-15").glob("*.parquet"))) == 1
    assert not [p for p in tmp_path.rglob("*") if p.is_dir() and p.name in ("run2", "run3")]


def test_a_failed_replace_leaves_the_last_good_partitions(spark, tmp_path):
    schema = "k string, ts timestamp, day date"
    good = spark.createDataFrame([("a", datetime(2024, 1, 15, 1), D1)], schema)
    replace_partitions(good, str(tmp_path), "ds", "day", [D1], "run1")
    stray = spark.createDataFrame(
        [("x", datetime(2024, 1, 15, 3), D1), ("y", datetime(2024, 1, 16, 3), D2)], schema
    )
    with pytest.raises(ValueError, match="rows for day=2024-01-16 but only day=2024-01-15"):
        replace_partitions(stray, str(tmp_path), "ds", "day", [D1], "run2")
    assert zone_rows(tmp_path, "ds") == [("a", "2024-01-15T01:00:00+00:00", "2024-01-15")]
    assert not (tmp_path / "_staging" / "ds" / "run2").exists()
