"""Unit tests of scripts/generate_data.py: the synthetic landing zone keeps the contract.

The files are checked with independent parsers (csv, json, pyarrow), never with the
generator's own helpers, so the counts in ``_manifest.json`` are verified, not echoed.
"""
from __future__ import annotations

import csv
import importlib.util
import io
import json
import re
import sys
from collections import Counter
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parents[2]
START, DAYS, SCALE, SEED = date(2024, 1, 15), 3, 0.05, 42
DAY_KEYS = [(START + timedelta(days=i)).isoformat() for i in range(DAYS)]
SALES_HEADER = ["transaction_id", "line_number", "transaction_ts", "customer_id", "product_id",
                "store_id", "quantity", "unit_price", "discount_amount", "total_amount",
                "payment_method"]
LAYOUT = {
    "sales": r"sales/(\d{4})/(\d{2})/sales_(\d{8})(_\w+)?\.csv",
    "products": r"products/products_(\d{8})\.json",
    "customers": r"customers/snapshot_date=(\d{4}-\d{2}-\d{2})/[^/]+\.parquet",
    "stores": r"stores/stores_(\d{8})\.csv",
    "clickstream": r"clickstream/(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+\.json",
    "inventory": r"inventory_cdc/(\d{4})/(\d{2})/(\d{2})/[^/]+\.json",
    "reviews": r"reviews/(\d{4})/(\d{2})/(\d{2})/[^/]+\.json",
}


def _load_generator() -> ModuleType:
    """Import scripts/generate_data.py by path (works without any package setup)."""
    spec = importlib.util.spec_from_file_location("generate_data", ROOT / "scripts" / "generate_data.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


gd = _load_generator()


@pytest.fixture(scope="module")
def landing(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """One tiny 3-day landing zone shared by the read-only tests."""
    out = tmp_path_factory.mktemp("landing")
    return out, gd.generate(out, START, DAYS, SCALE, SEED)


# --------------------------------------------------------------------------- helpers


def _all_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _csv_rows(path: Path) -> list[list[str]]:
    """Header + rows of a CSV file as an RFC 4180 reader sees them (BOM stripped)."""
    text = path.read_bytes().decode("utf-8-sig")
    return list(csv.reader(io.StringIO(text, newline="")))


def _parse_ts(text: str) -> datetime | None:
    """The UTC instant of an ISO-8601 timestamp (naive = UTC), None when unparseable."""
    try:
        ts = datetime.fromisoformat(text)
    except ValueError:
        return None
    return ts.replace(tzinfo=timezone.utc) if ts.tzinfo is None else ts.astimezone(timezone.utc)


def _reasons(row: list[str]) -> set[str]:
    """Contract rejection reasons of one parsed sales row."""
    if len(row) != len(SALES_HEADER):
        return {"malformed"}
    tx, line_no, ts, _, product, store, qty, price, disc, _, _ = row
    reasons = set()
    if not (tx and line_no and product and store):
        reasons.add("empty_key")
    if _parse_ts(ts) is None:
        reasons.add("bad_timestamp")
    if int(qty) <= 0:
        reasons.add("bad_quantity")
    if Decimal(price) < 0 or (disc and Decimal(disc) < 0):
        reasons.add("negative_amount")
    return reasons


def _sales_day(root: Path, manifest: dict, day: str) -> list[tuple[str, list[str]]]:
    """(file, row) for every data row of a day, main file first then ``_2``."""
    rows = []
    for name in sorted(manifest["days"][day]["sales"]["files"]):
        header, *data = _csv_rows(root / name)
        assert header == SALES_HEADER
        rows += [(name, r) for r in data]
    return rows


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _catalog_until(root: Path, day: str) -> set[str]:
    """Product ids announced by the products files up to and including ``day``."""
    ids: set[str] = set()
    for path in sorted((root / "products").glob("products_*.json")):
        if path.stem.split("_")[1] <= day.replace("-", ""):
            ids |= {r["product_id"] for r in _jsonl(path)}
    return ids


# --------------------------------------------------------------------------- determinism & layout


def test_same_arguments_give_byte_identical_files(landing: tuple[Path, dict], tmp_path: Path) -> None:
    root, _ = landing
    gd.generate(tmp_path, START, DAYS, SCALE, SEED)
    assert _all_files(tmp_path) == _all_files(root)


def test_another_seed_gives_other_data(landing: tuple[Path, dict], tmp_path: Path) -> None:
    root, manifest = landing
    gd.generate(tmp_path, START, 1, SCALE, SEED + 1, datasets="sales")
    name = next(iter(manifest["days"][DAY_KEYS[0]]["sales"]["files"]))
    assert (tmp_path / name).read_bytes() != (root / name).read_bytes()


def test_one_dataset_alone_writes_the_same_files(landing: tuple[Path, dict], tmp_path: Path) -> None:
    root, _ = landing
    gd.generate(tmp_path, START, DAYS, SCALE, SEED, datasets=["inventory", "sales"])
    alone = _all_files(tmp_path)
    alone.pop("_manifest.json")
    full = _all_files(root)
    assert alone and all(full[name] == data for name, data in alone.items())
    assert {name.split("/")[0] for name in alone} == {"sales", "inventory_cdc"}


def test_layout_follows_the_landing_contract(landing: tuple[Path, dict]) -> None:
    root, _ = landing
    seen: dict[str, set[str]] = {name: set() for name in LAYOUT}
    for name in _all_files(root):
        if name == "_manifest.json":
            continue
        matches = [ds for ds, pattern in LAYOUT.items() if re.fullmatch(pattern, name)]
        assert len(matches) == 1, f"{name} is not a contract path"
        groups = re.fullmatch(LAYOUT[matches[0]], name).groups()
        if matches[0] == "sales":  # the YYYY/MM folders agree with the file's day
            assert groups[2].startswith(groups[0] + groups[1])
            groups = groups[2:3]
        seen[matches[0]].add("".join(groups[:3]).replace("-", ""))
    all_days = {d.replace("-", "") for d in DAY_KEYS}
    for dataset in ("sales", "products", "customers", "clickstream", "inventory", "reviews"):
        assert seen[dataset] == all_days, dataset
    assert seen["stores"] == {DAY_KEYS[0].replace("-", ""), DAY_KEYS[2].replace("-", "")}


def test_rerun_overwrites_and_removes_nothing_else(tmp_path: Path) -> None:
    gd.generate(tmp_path, START, 1, SCALE, SEED, datasets="sales", sales_lines_per_day=777)
    stray = tmp_path / "sales" / "2024" / "01" / "keep_me.txt"
    stray.write_text("not ours")
    manifest = gd.generate(tmp_path, START, 1, SCALE, SEED, datasets="sales", sales_lines_per_day=500)
    assert stray.read_text() == "not ours"
    sales = manifest["days"][DAY_KEYS[0]]["sales"]
    assert sales["lines"] == 500 == sum(sales["files"].values())
    rows = _sales_day(tmp_path, manifest, DAY_KEYS[0])
    assert len(rows) == 500


# --------------------------------------------------------------------------- sales


def test_first_sales_file_has_a_bom_and_one_day_uses_crlf(landing: tuple[Path, dict]) -> None:
    root, manifest = landing
    sales = {d: manifest["days"][d]["sales"] for d in DAY_KEYS}
    first_main = f"sales/2024/01/sales_{DAY_KEYS[0].replace('-', '')}.csv"
    assert sales[DAY_KEYS[0]]["bom_files"] == [first_main]
    crlf = {f for s in sales.values() for f in s["crlf_files"]}
    assert crlf, "no CRLF file planted"
    for name in (f for s in sales.values() for f in s["files"]):
        data = (root / name).read_bytes()
        assert data.startswith(b"\xef\xbb\xbf") == (name == first_main)
        if name in crlf:
            assert data.count(b"\r\n") == data.count(b"\n") > 1
        else:
            assert b"\r" not in data


def test_sales_line_counts_match_the_manifest(landing: tuple[Path, dict]) -> None:
    root, manifest = landing
    for day in DAY_KEYS:
        sales = manifest["days"][day]["sales"]
        counted = Counter(name for name, _ in _sales_day(root, manifest, day))
        assert dict(counted) == sales["files"]
        assert sales["lines"] == sum(counted.values()) == round(20_000 * SCALE)
    assert any(len(manifest["days"][d]["sales"]["files"]) == 2 for d in DAY_KEYS)


def test_planted_bad_lines_match_the_manifest(landing: tuple[Path, dict]) -> None:
    root, manifest = landing
    for day in DAY_KEYS:
        sales = manifest["days"][day]["sales"]
        reasons = [_reasons(row) for _, row in _sales_day(root, manifest, day)]
        incidence = Counter(r for rs in reasons for r in rs)
        assert dict(incidence) == {k: v for k, v in sales["bad_lines"].items() if v}
        assert sum(1 for rs in reasons if rs) == sales["bad_lines_total"]
        assert sum(1 for rs in reasons if len(rs) > 1) == sales["multi_reason_lines"] > 0
        assert 0.01 <= sales["bad_lines_total"] / sales["lines"] <= 0.03
        assert all(sales["bad_lines"][r] > 0 for r in sales["bad_lines"])


def test_valid_sales_lines_are_consistent(landing: tuple[Path, dict]) -> None:
    root, manifest = landing
    for day in DAY_KEYS:
        rows = [row for _, row in _sales_day(root, manifest, day) if not _reasons(row)]
        for row in rows:
            assert _parse_ts(row[2]).date().isoformat() == day, row
            qty, price, disc, total = int(row[6]), Decimal(row[7]), Decimal(row[8] or 0), Decimal(row[9])
            assert total == qty * price - disc, row
            assert 1 <= int(row[1]) <= 5
        formats = Counter(re.sub(r"\d", "9", row[2]) for row in rows)
        assert {"9999-99-99T99:99:99", "9999-99-99 99:99:99", "9999-99-99T99:99:99Z"} <= set(formats)
        assert any(f.endswith(":99") and f[-6] in "+-" for f in formats)
        stores = Counter(row[5] for row in rows)
        assert 0.2 < stores["S001"] / len(rows) < 0.4
        assert 0 < sum(1 for row in rows if not row[3]) / len(rows) < 0.1
        assert {row[10] for row in rows} >= {"card", "CARD ", " cash", "Card, contactless"}


def test_corrections_are_later_lines_of_the_same_key(landing: tuple[Path, dict]) -> None:
    root, manifest = landing
    for day in DAY_KEYS:
        corrections = manifest["days"][day]["sales"]["corrections"]
        first: dict[tuple[str, str], tuple[str, list[str]]] = {}
        repeats, ties = 0, 0
        for name, row in _sales_day(root, manifest, day):
            if _reasons(row):
                continue
            key = (row[0], row[1])
            if key not in first:
                first[key] = (name, row)
                continue
            repeats += 1
            old_name, old = first[key]
            assert row[6] != old[6] and row[9] != old[9]
            old_ts, new_ts = _parse_ts(old[2]), _parse_ts(row[2])
            if new_ts == old_ts:
                ties += 1
                assert name.endswith("_2.csv") and not old_name.endswith("_2.csv")
            else:
                assert new_ts > old_ts
        assert repeats == corrections["total"] > 0
        assert ties == corrections["ts_ties"]
        if corrections["second_file"]:
            assert ties > 0


def test_unknown_products_are_valid_lines_and_join_the_catalog_later(landing: tuple[Path, dict]) -> None:
    root, manifest = landing
    sold_unknown: set[str] = set()
    for day in DAY_KEYS:
        catalog = _catalog_until(root, day)
        announced_today = {r["product_id"] for r in _jsonl(root / f"products/products_{day.replace('-', '')}.json")}
        assert {p for p in announced_today if p.startswith("P9")} <= sold_unknown
        rows = [row for _, row in _sales_day(root, manifest, day) if len(row) == 11 and row[4]]
        unknown = [row for row in rows if row[4] not in catalog]
        assert len(unknown) == manifest["days"][day]["sales"]["unknown_product_lines"] > 0
        assert all(not _reasons(row) and re.fullmatch(r"P9\d{4}", row[4]) for row in unknown)
        sold_unknown |= {row[4] for row in unknown}


# --------------------------------------------------------------------------- products, customers, stores


def test_products_are_nested_with_tolerated_extra_fields(landing: tuple[Path, dict]) -> None:
    root, manifest = landing
    records = {d: _jsonl(root / manifest["days"][d]["products"]["file"]) for d in DAY_KEYS}
    assert len(records[DAY_KEYS[0]]) == round(500 * SCALE)
    assert all(0 < len(records[d]) < len(records[DAY_KEYS[0]]) for d in DAY_KEYS[1:])
    every = [r for rs in records.values() for r in rs]
    for r in every:
        assert {"product_id", "name", "category", "brand", "price", "attributes", "tags", "updated_at"} <= set(r)
        assert {"name", "subcategory"} <= set(r["category"])
        assert set(r["price"]) == {"amount", "currency"} and isinstance(r["tags"], list)
        assert r["updated_at"].endswith("Z")
    assert any("supplier" in r for r in every) and any("level" in r["category"] for r in every)
    assert len({tuple(sorted(r["attributes"])) for r in every}) > 3


def test_customer_snapshot_has_the_contract_schema(landing: tuple[Path, dict]) -> None:
    root, manifest = landing
    expected = pa.schema([
        ("customer_id", pa.string()), ("first_name", pa.string()), ("last_name", pa.string()),
        ("email", pa.string()), ("phone", pa.string()), ("segment", pa.string()),
        ("city", pa.string()), ("state", pa.string()), ("country", pa.string()),
        ("signup_date", pa.date32()), ("updated_at", pa.timestamp("us", tz="UTC")),
    ])
    for day in DAY_KEYS:
        path = root / manifest["days"][day]["customers"]["file"]
        assert path.parent.name == f"snapshot_date={day}"
        table = pq.read_table(path)
        assert table.schema.equals(expected)
        assert table.num_rows == manifest["days"][day]["customers"]["count"]
        assert len(set(table.column("customer_id").to_pylist())) == table.num_rows


def test_deleted_customers_stay_absent_and_new_ones_appear(landing: tuple[Path, dict]) -> None:
    root, manifest = landing
    ids = {d: set(pq.read_table(root / manifest["days"][d]["customers"]["file"]).column("customer_id").to_pylist())
           for d in DAY_KEYS}
    for i, day in enumerate(DAY_KEYS[1:], start=1):
        entry = manifest["days"][day]["customers"]
        deleted, new = set(entry["deleted_ids"]), set(entry["new_ids"])
        assert deleted and new and len(entry["changed_ids"]) == entry["changed"] > 0
        assert deleted <= ids[DAY_KEYS[i - 1]]
        assert all(not deleted & ids[later] for later in DAY_KEYS[i:])
        assert new <= ids[day] and not new & ids[DAY_KEYS[i - 1]]
        assert len(ids[day]) == len(ids[DAY_KEYS[i - 1]]) - len(deleted) + len(new)


def test_pii_samples_are_values_written_in_the_snapshots(landing: tuple[Path, dict]) -> None:
    root, manifest = landing
    written = {"emails": set(), "phones": set(), "first_names": set(), "last_names": set()}
    columns = {"emails": "email", "phones": "phone", "first_names": "first_name", "last_names": "last_name"}
    for day in DAY_KEYS:
        table = pq.read_table(root / manifest["days"][day]["customers"]["file"])
        for kind, column in columns.items():
            written[kind] |= set(table.column(column).to_pylist())
    samples = manifest["pii_samples"]
    for kind in columns:
        assert samples[kind] and set(samples[kind]) <= written[kind]
        assert len(samples[kind]) <= 200
    assert all(re.fullmatch(r"\+1-555-\d{3}-\d{4}", p) for p in samples["phones"])
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+\d+(\.\d+)?@[a-z.]+", e) for e in samples["emails"])


def test_stores_list_lands_on_day_one_and_day_three(landing: tuple[Path, dict]) -> None:
    root, manifest = landing
    first = _csv_rows(root / manifest["days"][DAY_KEYS[0]]["stores"]["file"])
    third = _csv_rows(root / manifest["days"][DAY_KEYS[2]]["stores"]["file"])
    assert first[0] == third[0] == ["store_id", "store_name", "city", "region", "country", "opened_date"]
    assert len(third) == len(first) + 1
    renamed = [a[0] for a, b in zip(first[1:], third[1:]) if a[1] != b[1]]
    assert renamed == manifest["days"][DAY_KEYS[2]]["stores"]["renamed"] and len(renamed) == 1
    assert {r[3] for r in first[1:] + third[1:]} <= {"East", "West", "North", "South", "Central"}
    assert all(date.fromisoformat(r[5]) for r in third[1:])


# --------------------------------------------------------------------------- semi-structured feeds


def test_clickstream_has_many_small_files_of_sessions(landing: tuple[Path, dict]) -> None:
    root, manifest = landing
    untracked_days = 0
    for day in DAY_KEYS:
        files = sorted((root / "clickstream").glob(f"{day.replace('-', '/')}/*/*.json"))
        entry = manifest["days"][day]["clickstream"]
        assert len(files) == entry["files"] >= 20
        events = []
        for path in files:
            for event in _jsonl(path):
                ts = _parse_ts(event["event_ts"])
                assert event["event_ts"].endswith("Z") and ts.date().isoformat() == day
                assert f"{ts.hour:02d}" == path.parent.name
                assert set(event["device"]) == {"type", "os"} and set(event["geo"]) == {"country", "city"}
                assert not (event["customer_id"] and "anonymous_id" in event)
                events.append(event)
        assert len(events) == entry["events"] and len({e["event_id"] for e in events}) == len(events)
        untracked = [e for e in events if e["customer_id"] is None and "anonymous_id" not in e]
        assert len(untracked) == entry["untracked_events"]
        untracked_days += bool(untracked)
        types = Counter(e["event_type"] for e in events)
        assert types["page_view"] > types["add_to_cart"] > types["purchase"] > 0
    assert untracked_days > 0  # the contract's anonymous events: no visitor id at all


def test_inventory_cdc_arrives_out_of_order_and_twice(landing: tuple[Path, dict]) -> None:
    root, manifest = landing
    for day in DAY_KEYS:
        entry = manifest["days"][day]["inventory"]
        files = sorted((root / "inventory_cdc" / day.replace("-", "/")).glob("*.json"))
        events = [e for path in files for e in _jsonl(path)]
        assert len(files) == entry["files"] >= 3 and len(events) == entry["events"]
        seqs = [e["seq"] for e in events]
        assert len(seqs) - len(set(seqs)) == entry["duplicates"] > 0
        assert any(b < a for a, b in zip(seqs, seqs[1:]))
        assert {e["op"] for e in events} <= {"I", "U", "D"}
        assert all(e["quantity_on_hand"] is not None for e in events if e["op"] != "D")
    first_day = Counter(e["op"] for p in (root / "inventory_cdc" / DAY_KEYS[0].replace("-", "/")).glob("*.json")
                        for e in _jsonl(p))
    assert first_day["I"] > first_day["U"]


def test_reviews_bad_records_match_the_manifest(landing: tuple[Path, dict]) -> None:
    root, manifest = landing
    totals: Counter = Counter()
    for day in DAY_KEYS:
        found: Counter = Counter()
        lines = [line for p in sorted((root / "reviews" / day.replace("-", "/")).glob("*.json"))
                 for line in p.read_text(encoding="utf-8").splitlines()]
        for line in lines:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                found["malformed_json"] += 1
                continue
            if "review_id" not in record:
                found["missing_review_id"] += 1
            elif not isinstance(record["rating"], int):
                found["rating_type_conflict"] += 1
            elif not 1 <= record["rating"] <= 5:
                found["rating_out_of_range"] += 1
            else:
                assert {"source", "language"} <= set(record["metadata"]) and len(record["images"]) <= 3
        entry = manifest["days"][day]["reviews"]
        assert len(lines) == entry["records"]
        assert dict(found) == {k: v for k, v in entry["bad_records"].items() if v}
        totals += found
    assert len(totals) >= 3


# --------------------------------------------------------------------------- API & CLI


@pytest.mark.parametrize("kwargs, message", [
    ({"days": 0}, "days"), ({"scale": 0}, "scale"), ({"seed": -1}, "seed"),
    ({"datasets": "sales,orders"}, "orders"), ({"sales_lines_per_day": 0}, "sales_lines_per_day"),
])
def test_invalid_arguments_are_rejected(tmp_path: Path, kwargs: dict, message: str) -> None:
    args = {"out": tmp_path, "start_date": START, "days": 1, "scale": SCALE, "seed": SEED, **kwargs}
    with pytest.raises(ValueError, match=message):
        gd.generate(**args)
    assert not any(tmp_path.iterdir())


def test_cli_writes_the_requested_datasets(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = gd.main(["--out", str(tmp_path), "--start-date", "2024-02-28", "--days", "2",
                    "--scale", "0.05", "--seed", "7", "--datasets", "stores,products"])
    assert code == 0
    manifest = json.loads((tmp_path / "_manifest.json").read_text())
    assert manifest["params"]["datasets"] == ["stores", "products"]
    assert (tmp_path / "products/products_20240229.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_manifest.json", "products", "stores"]
    assert capsys.readouterr().err.count("\n") == 4  # 3 dataset/day lines + "done"
    assert gd.main(["--out", str(tmp_path), "--datasets", "nope", "--quiet"]) == 2
