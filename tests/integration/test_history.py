"""History on the shared three-day run: SCD2 customers, CDC replay, as-of keys, marts.

The generator's manifest says which customers changed, appeared or were deleted each day;
the inventory events (out of order, duplicated) are replayed here in plain Python. The
tables must agree with both.
"""

import json
from collections import defaultdict
from datetime import datetime
from types import SimpleNamespace

import pytest

from jobs import marts
from jobs.inventory_cdc import Params, audit_root
from tests.integration.pipeline_runs import DAYS as DAYS_RUN
from tests.integration.pipeline_runs import START

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pipeline(three_days):
    ctx = three_days.context(DAYS_RUN[-1])
    return SimpleNamespace(ctx=ctx, wh=ctx.warehouse, manifest=three_days.manifest,
                           landing=three_days.landing)


def read(pipeline, logical):
    return pipeline.wh.read(pipeline.ctx.table(logical))


def test_dim_customer_shows_the_generated_changes_and_deletes_as_history(pipeline):
    versions = defaultdict(list)
    for r in read(pipeline, "dim_customer").filter("customer_id IS NOT NULL").collect():
        versions[r.customer_id].append(r)
    for history in versions.values():
        history.sort(key=lambda r: r.valid_from)
    touched = set()
    for day in DAYS_RUN[1:]:
        entry = pipeline.manifest["days"][day.isoformat()]["customers"]
        for cid in entry["changed_ids"]:
            starts = [v.valid_from for v in versions[cid]]
            assert day in starts, f"{cid} changed on {day} but has versions from {starts}"
            before = versions[cid][starts.index(day) - 1]
            assert before.valid_to == day and not before.is_current
        for cid in entry["deleted_ids"]:
            assert versions[cid][-1].valid_to == day and not any(v.is_current for v in versions[cid])
        for cid in entry["new_ids"]:
            assert versions[cid][0].valid_from == day
        touched |= {*entry["changed_ids"], *entry["deleted_ids"], *entry["new_ids"]}
    assert sum(len(entry["customers"]["changed_ids"]) for entry in pipeline.manifest["days"].values()) > 0
    for cid, history in versions.items():
        if cid not in touched:
            assert [(v.valid_from, v.valid_to, v.is_current) for v in history] == [(START, None, True)]
    last = pipeline.manifest["days"][DAYS_RUN[-1].isoformat()]["customers"]["count"]
    assert sum(v.is_current for h in versions.values() for v in h) == last
    keys = [v.customer_key for h in versions.values() for v in h]
    assert len(keys) == len(set(keys)) and -1 not in keys
    stored = " ".join(str(v) for h in versions.values() for v in h)
    samples = pipeline.manifest["pii_samples"]
    assert not any(s in stored for s in samples["emails"] + samples["phones"])
    assert not any(f"'{s}'" in stored for s in samples["first_names"] + samples["last_names"])


def replay(landing, until):
    """The inventory state after every event of the days up to ``until``, in seq order."""
    events = {}
    for day in DAYS_RUN:
        if day > until:
            continue
        for path in sorted((landing / f"inventory_cdc/{day:%Y/%m/%d}").glob("*.json")):
            for text in path.read_text().splitlines():
                e = json.loads(text)
                events[(e["product_id"], e["store_id"], e["seq"])] = e
    state = {}
    for (product, store, seq), e in sorted(events.items(), key=lambda item: item[0][2]):
        if e["op"] == "D":
            state.pop((product, store), None)
        else:
            state[(product, store)] = (e["quantity_on_hand"], e["reorder_point"], seq)
    return sorted((*k, *v) for k, v in state.items())


def test_inventory_current_and_daily_snapshots_equal_the_replay_of_all_events(pipeline):
    current = read(pipeline, "inventory_current").collect()
    assert sorted((r.product_id, r.store_id, r.quantity_on_hand, r.reorder_point, r._sequence)
                  for r in current) == replay(pipeline.landing, DAYS_RUN[-1])
    snapshots = read(pipeline, "fact_inventory").collect()
    for day in DAYS_RUN:
        got = sorted((r.product_id, r.store_id, r.quantity_on_hand, r.reorder_point, r.last_seq)
                     for r in snapshots if r.snapshot_date == day)
        assert got == replay(pipeline.landing, day), f"FACT_INVENTORY {day}"
    audit = pipeline.ctx.spark.read.parquet(audit_root(pipeline.ctx, Params())).collect()
    for day in DAYS_RUN:
        entry = pipeline.manifest["days"][day.isoformat()]["inventory"]
        of_day = [r for r in audit if r.business_date == day]
        assert len(of_day) == entry["unique_events"]
        names = {"I": "ADD", "U": "UPDATE", "D": "DELETE"}
        assert {names[op]: n for op, n in entry["ops"].items() if n} == {
            t: sum(r.op_type == t for r in of_day) for t in {r.op_type for r in of_day}}


def test_fact_sales_links_the_customer_version_of_the_sale_and_repairs_late_products(pipeline):
    facts = read(pipeline, "fact_sales").collect()
    assert len({(r.transaction_id, r.line_number) for r in facts}) == len(facts)
    versions = defaultdict(list)
    for r in read(pipeline, "dim_customer").filter("customer_id IS NOT NULL").collect():
        versions[r.customer_id].append((datetime.combine(r.valid_from, datetime.min.time()), r.customer_key))
    linked = 0
    for f in facts:
        history = sorted(versions.get(f.customer_id, []))
        if not history:
            assert f.customer_key == -1
            continue
        valid = [key for start, key in history if start <= f.transaction_ts]
        assert f.customer_key == (valid[-1] if valid else history[0][1]), f
        linked += f.customer_key != history[-1][1]
    assert linked > 0  # some sales are linked to a version that is no longer current
    products = {r.product_id for r in read(pipeline, "dim_product").collect()}
    assert all((f.product_key == -1) == (f.product_id not in products) for f in facts)
    late = [f for f in facts if f.sale_date == START and f.product_id.startswith("P9") and f.product_key != -1]
    assert late, "a product sold on day 1 before the catalog knew it is linked once it arrived"


def test_marts_reconcile_with_fact_sales(pipeline):
    built = marts.Marts(**{name: read(pipeline, name) for name in
                           ("customer_360", "product_performance", "monthly_revenue", "customer_cohorts")})
    checks = marts.reconcile(read(pipeline, "fact_sales"), built, DAYS_RUN[-1])
    assert checks and all(c.matches for c in checks), [c for c in checks if not c.matches]
    scores_by_recency: dict[int, set[int]] = {}
    for r in built.customer_360.collect():
        scores_by_recency.setdefault(r.recency_days, set()).add(r.r_score)
    assert all(len(scores) == 1 for scores in scores_by_recency.values())  # ties scored alike
    least_recent_first = [scores_by_recency[d].pop() for d in sorted(scores_by_recency, reverse=True)]
    assert least_recent_first == sorted(least_recent_first) and least_recent_first[-1] == 5
    assert len(least_recent_first) > 1 and set(least_recent_first) <= {1, 2, 3, 4, 5}
