"""reviews_clean, reviews_flatten and clickstream end to end, on the shared three-day run
(tests/integration/pipeline_runs.py). Checks: every landing review is staged or rejected with the planted
reason, the processed zone opens in pyarrow with the documented columns, unknown product
fields are reported, events and sessions reconcile, and a rerun leaves the same content.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import MapType

from jobs import clickstream, reviews_clean, reviews_flatten
from tests.integration.pipeline_runs import DAYS

pytestmark = pytest.mark.integration

RERUN = [reviews_clean, reviews_flatten, clickstream]
#: The generator's planted review faults -> the reason reviews_clean gives each.
PLANTED = {
    "rating_out_of_range": "rating_out_of_range",
    "rating_type_conflict": "rating_type_conflict",
    "missing_review_id": "review_id_missing",
    "malformed_json": "malformed_json",
}
COMPARED = [
    "stg_reviews",
    "rejected_reviews",
    "stg_clickstream",
    "fact_clickstream",
    "fact_sessions",
    "conversion_funnel",
]


def content(df: DataFrame) -> list[str]:
    """Rows as sorted text, maps as sorted entries (for before/after comparison)."""
    for field in df.schema.fields:
        if isinstance(field.dataType, MapType):
            df = df.withColumn(field.name, F.array_sort(F.map_entries(field.name)))
    return sorted(str(tuple(row)) for row in df.collect())


def zone(warehouse_root: Path, dataset: str):
    return pq.read_table(warehouse_root / "processed" / dataset, partitioning="hive")


@pytest.fixture(scope="module")
def landed(three_days):
    """(landing root, manifest, warehouse root, the tables these jobs wrote)."""
    tables = {name: three_days.table(name) for name in [*COMPARED, "schema_drift"]}
    return three_days.landing, three_days.manifest, three_days.root, tables


def test_every_landing_review_is_staged_or_rejected_with_the_planted_reason(landed):
    landing, manifest, _, tables = landed
    for day in DAYS:
        files = sorted((landing / f"reviews/{day:%Y/%m/%d}").glob("*.json"))
        lines = sum(1 for f in files for line in f.read_text().splitlines() if line.strip())
        staged = tables["stg_reviews"].filter(F.col("business_date") == day).count()
        rejected = tables["rejected_reviews"].filter(F.col("business_date") == day)
        assert lines == manifest["days"][day.isoformat()]["reviews"]["records"]
        assert staged + rejected.count() == lines, day
        reasons = Counter(r for row in rejected.select("reject_reasons").collect() for r in row[0])
        planted = manifest["days"][day.isoformat()]["reviews"]["bad_records"]
        assert {PLANTED[k]: n for k, n in planted.items() if n} == {
            reason: n for reason, n in reasons.items() if reason in PLANTED.values()
        }, day


def test_processed_zone_opens_in_pyarrow_with_the_documented_columns(landed):
    _, _, root, tables = landed
    reviews, images = zone(root, "reviews"), zone(root, "review_images")
    assert tuple(reviews.column_names) == reviews_flatten.REVIEW_COLUMNS
    assert tuple(images.column_names) == reviews_flatten.IMAGE_COLUMNS
    staged = tables["stg_reviews"]
    assert reviews.num_rows == staged.select("review_id").distinct().count()
    assert images.num_rows == sum(reviews.column("image_count").to_pylist())
    partitions = sorted(p.name for p in (root / "processed" / "reviews").iterdir())
    assert partitions == [f"review_date={d.isoformat()}" for d in DAYS]
    assert str(reviews.schema.field("review_ts").type) == "timestamp[us, tz=UTC]"
    scratch = [
        p for p in (root / "processed").rglob("*") if p.parent.name in ("_staging", "_trash")
    ]
    assert all(not any(p.iterdir()) for p in scratch)  # swapped partitions leave no scratch behind


def test_unknown_product_fields_are_reported_per_day(landed):
    landing, _, _, tables = landed
    drift = {
        (r.business_date, r.field_path): r.record_count
        for r in tables["schema_drift"].filter(F.col("dataset") == "products").collect()
    }
    expected = {}
    for day in DAYS:
        path = landing / f"products/products_{day:%Y%m%d}.json"
        records = (
            [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
        )
        for field, count in (
            ("supplier", sum("supplier" in r for r in records)),
            ("category.level", sum("level" in r["category"] for r in records)),
        ):
            if count:
                expected[(day, field)] = count
    assert expected and drift == expected


def test_events_sessions_and_funnel_reconcile(landed):
    _, manifest, _, tables = landed
    facts, sessions, funnel = (
        tables["fact_clickstream"],
        tables["fact_sessions"],
        tables["conversion_funnel"],
    )
    for day in DAYS:
        generated = manifest["days"][day.isoformat()]["clickstream"]
        untracked = generated["untracked_events"]  # neither customer_id nor anonymous_id
        today = facts.filter(F.col("event_date") == day)
        assert today.count() == generated["events"]
        assert (
            today.filter(F.col("visitor_type") == "anonymous").count()
            == generated["anonymous_events"] - untracked
        )
        assert today.filter(F.col("visitor_type").isNull()).count() == untracked
        assert today.filter(F.col("session_id").isNull()).count() == untracked
        day_sessions = sessions.filter(F.col("session_date") == day)
        assert day_sessions.agg(F.sum("events")).first()[0] == generated["events"] - untracked
        row = funnel.filter(F.col("session_date") == day).first()
        assert row.sessions == day_sessions.count()
        assert row.sessions >= row.viewed_sessions >= row.cart_sessions >= row.purchase_sessions > 0
    assert tables["stg_clickstream"].count() == sum(
        manifest["days"][d.isoformat()]["clickstream"]["events"] for d in DAYS
    )
    assert sum(manifest["days"][d.isoformat()]["clickstream"]["untracked_events"] for d in DAYS)


def test_a_rerun_of_the_first_day_leaves_the_same_content(three_days, tmp_path):
    run = three_days.copy(tmp_path)
    tables = {name: run.table(name) for name in COMPARED}
    before = {name: content(df) for name, df in tables.items()}
    zone_before = {
        d: sorted(map(str, zone(run.root, d).to_pylist())) for d in ("reviews", "review_images")
    }
    for module in RERUN:
        module.run(run.context(DAYS[0], run_id="rerun", job=module.JOB_NAME))
    after = {name: content(run.table(name)) for name in tables}
    zone_after = {
        d: sorted(map(str, zone(run.root, d).to_pylist())) for d in ("reviews", "review_images")
    }
    assert after == before
    assert zone_after == zone_before
