#!/usr/bin/env python3
"""Generate a synthetic LANDING zone that follows the landing contract (LANDING_CONTRACT.md).

The generator is standalone (numpy and pyarrow only; no Spark) and deterministic:
the same arguments give byte-identical files. Every (dataset, day) draws from its own
random stream derived from the seed, and the shared "world" (stores, catalog, customer
base, unknown product ids) is rebuilt from its own streams, so generating one dataset
alone writes the same files as generating all of them.

Besides clean data it plants the traps the contract describes (unparseable and invalid
sales lines, corrections, unknown products, nested JSON with extra fields, deleted
customers, out-of-order and duplicated CDC events, bad reviews, bulk-order amount
outliers) and records what it planted in ``<out>/_manifest.json``. Consumers must never
need that manifest; tests do.

Example::

    python scripts/generate_data.py --out data/landing --start-date 2024-01-15 \\
        --days 3 --scale 1.0 --seed 42
    python scripts/generate_data.py --out /tmp/bench --days 1 --datasets sales \\
        --sales-lines 20000000 --quiet
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import math
import sys
import time
import uuid
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, Callable, Iterable, Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

# --------------------------------------------------------------------------- datasets

ALL_DATASETS: tuple[str, ...] = (
    "stores", "products", "customers", "sales", "clickstream", "inventory", "reviews",
)
# Fixed stream ids (never Python's salted hash) so sub-seeds are stable across runs.
_STREAM_IDS: dict[str, int] = {name: i + 1 for i, name in enumerate(ALL_DATASETS)}
MANIFEST_NAME = "_manifest.json"
PII_SAMPLE_CAP = 200

# --------------------------------------------------------------------------- sales vocab

SALES_COLUMNS: tuple[str, ...] = (
    "transaction_id", "line_number", "transaction_ts", "customer_id", "product_id",
    "store_id", "quantity", "unit_price", "discount_amount", "total_amount", "payment_method",
)
SALES_CHUNK_LINES = 1_000_000
TX_SIZE_P = np.array([0.45, 0.25, 0.15, 0.10, 0.05])  # lines per transaction: 1..5
ANONYMOUS_SHARE = 0.05
FLAGSHIP_STORE_SHARE = 0.30
ZIPF_EXPONENT = 1.1
DISCOUNT_SHARE = 0.10
DISCOUNT_PCTS = np.array([0, 5, 10, 15, 20, 25, 30])
PAYMENT_METHODS: tuple[tuple[str, float], ...] = (
    ("card", 0.30), ("CARD ", 0.08), ("Card", 0.10), ("Cash", 0.12), (" cash", 0.05),
    ("cash", 0.08), ("Credit Card", 0.10), ("mobile", 0.09), ("Mobile Pay", 0.03),
    ("Card, contactless", 0.03), ('Voucher "XMAS"', 0.02),
)
# (date/time separator, suffix, UTC offset in seconds, weight); the instant is always UTC day D.
TS_VARIANTS: tuple[tuple[str, str, int, float], ...] = (
    ("T", "", 0, 0.35), (" ", "", 0, 0.30), ("T", "Z", 0, 0.20),
    ("T", "+02:00", 7200, 0.07), ("T", "-05:00", -18000, 0.06), ("T", "+05:30", 19800, 0.02),
)
BAD_TIMESTAMPS: tuple[str, ...] = ("not-a-date", "2024-13-45 99:00:00", "N/A", "31/02/2024 25:61")
EXTRA_FIELD_VALUES: tuple[str, ...] = ("promo", "LOYALTY-7", "x")
BAD_QUANTITIES = np.array([0, -1, -2, -5])
# Planted dirt, as a share of a chunk's original lines; each single reason ~0.35 %.
DIRT_SHARE = {"malformed": 0.0035, "empty_key": 0.0035, "bad_timestamp": 0.0035,
              "bad_quantity": 0.0035, "negative_amount": 0.0035, "multi": 0.003}
SALES_REASONS: tuple[str, ...] = (
    "malformed", "empty_key", "bad_timestamp", "bad_quantity", "negative_amount",
)
MULTI_COMBOS: tuple[tuple[str, str], ...] = (
    ("empty_key", "bad_quantity"), ("bad_timestamp", "negative_amount"),
    ("empty_key", "bad_timestamp"), ("bad_quantity", "negative_amount"),
)
UNKNOWN_PRODUCT_SHARE = 0.005
CORRECTION_SHARE = 0.01
SECOND_FILE_CORRECTION_SHARE = 0.4
TIE_SHARE = 0.05
#: Planted amount outliers: a few clean lines of a $150+ product become "bulk orders" of
#: 250-400 units (still valid lines), as a share of a chunk's lines (at least one a day).
OUTLIER_SHARE = 0.0003
OUTLIER_MIN_PRICE_CENTS = 15_000
OUTLIER_QUANTITIES = (250, 401)
HOUR_WEIGHTS = np.array([1, 1, 1, 1, 1, 2, 4, 8, 12, 14, 16, 18,
                         22, 21, 17, 15, 16, 20, 22, 18, 12, 8, 4, 2], dtype=float)

# --------------------------------------------------------------------------- people & places

FIRST_NAMES: tuple[str, ...] = (
    "Emma", "Liam", "Olivia", "Noah", "Elijah", "Sophia", "Mateo", "Isabella", "Lucas",
    "Amelia", "Harper", "Ethan", "Evelyn", "Aiden", "Abigail", "Sebastian", "Emily",
    "Benjamin", "Henry", "Scarlett", "Owen", "Chloe", "Gabriel", "Julian", "Nora", "Layla",
    "Isaac", "Riley", "Wyatt", "Hannah", "Priya", "Arjun", "Hiroshi", "Fatima", "Omar",
    "Ingrid", "Sven", "Chiara", "Diego", "Yusuf", "Aylin", "Kwame", "Amara", "Tobias",
)
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
    "Thomas", "Taylor", "Moore", "Thompson", "Harris", "Sanchez", "Clark", "Ramirez",
    "Lewis", "Robinson", "Walker", "Wright", "Torres", "Nguyen", "Flores", "Adams",
    "Nelson", "Rivera", "Campbell", "Mitchell", "Roberts", "Okafor", "Kowalski",
    "Lindqvist", "Haddad", "Tanaka", "Novak", "Petrov", "Moreau", "Rossi", "O'Brien",
)
SEGMENTS: tuple[str, ...] = ("Consumer", "Corporate", "Home Office", "VIP")
SEGMENT_P = np.array([0.6, 0.2, 0.15, 0.05])
EMAIL_DOMAINS: tuple[str, ...] = ("example.org", "example.net", "mail.example.com")
# (city, state, country, store region)
LOCATIONS: tuple[tuple[str, str, str, str], ...] = (
    ("New York", "NY", "US", "East"), ("Los Angeles", "CA", "US", "West"),
    ("Chicago", "IL", "US", "Central"), ("Houston", "TX", "US", "South"),
    ("Phoenix", "AZ", "US", "West"), ("Philadelphia", "PA", "US", "East"),
    ("San Antonio", "TX", "US", "South"), ("San Diego", "CA", "US", "West"),
    ("Dallas", "TX", "US", "South"), ("Austin", "TX", "US", "South"),
    ("Seattle", "WA", "US", "West"), ("Denver", "CO", "US", "Central"),
    ("Boston", "MA", "US", "East"), ("Atlanta", "GA", "US", "South"),
    ("Miami", "FL", "US", "South"), ("Portland", "OR", "US", "West"),
    ("Minneapolis", "MN", "US", "North"), ("Detroit", "MI", "US", "North"),
    ("Nashville", "TN", "US", "South"), ("Toronto", "ON", "CA", "North"),
    ("Vancouver", "BC", "CA", "West"), ("Montreal", "QC", "CA", "North"),
)
STORE_SUFFIXES: tuple[str, ...] = ("Downtown", "Plaza", "Outlet", "Riverside", "Uptown", "Station")
STORE_CHANGE_DAY = 2  # 0-based: the stores list is written again on the third day

# --------------------------------------------------------------------------- catalog vocab


@dataclass(frozen=True)
class CategorySpec:
    """Vocabulary of one product category: subcategories, attribute keys, price range ($)."""

    subcategories: tuple[str, ...]
    attributes: tuple[str, ...]
    price_range: tuple[int, int]


CATEGORIES: dict[str, CategorySpec] = {
    "Electronics": CategorySpec(("Headphones", "Charger", "Speaker", "Keyboard"),
                                ("color", "warranty_months", "weight_g"), (15, 400)),
    "Apparel": CategorySpec(("T-Shirt", "Jacket", "Sneakers", "Socks"),
                            ("color", "size", "material"), (8, 180)),
    "Home": CategorySpec(("Lamp", "Cookware Set", "Duvet", "Storage Box"),
                         ("color", "weight_g", "dimensions_cm"), (10, 250)),
    "Grocery": CategorySpec(("Coffee Beans", "Granola", "Green Tea", "Pasta"),
                            ("weight_g", "organic", "origin"), (2, 30)),
    "Sports": CategorySpec(("Yoga Mat", "Dumbbell", "Water Bottle", "Tennis Racket"),
                           ("size", "weight_g", "color"), (10, 200)),
    "Beauty": CategorySpec(("Shampoo", "Body Lotion", "Perfume", "Lip Balm"),
                           ("volume_ml", "skin_type"), (4, 90)),
}
BRANDS: tuple[str, ...] = ("Acme", "Northwind", "Contoso", "Globex", "Initech", "Lumen",
                           "Kestrel", "Orbit", "Pinecrest", "Wayfarer", "Solace", "Tundra")
ADJECTIVES: tuple[str, ...] = ("Classic", "Premium", "Eco", "Compact", "Deluxe", "Essential",
                               "Pro", "Ultra", "Everyday", "Vintage", "Smart", "Light")
TAGS: tuple[str, ...] = ("new", "sale", "eco", "bestseller", "gift", "limited", "online-only")
ATTRIBUTE_MAKERS: dict[str, Callable[[np.random.Generator], Any]] = {
    "color": lambda r: _pick(r, ("black", "white", "navy", "red", "olive", "grey", "teal")),
    "size": lambda r: _pick(r, ("XS", "S", "M", "L", "XL", "one-size")),
    "material": lambda r: _pick(r, ("cotton", "polyester", "wool", "linen")),
    "weight_g": lambda r: int(r.integers(50, 5000)),
    "warranty_months": lambda r: _pick(r, (6, 12, 24, 36)),
    "dimensions_cm": lambda r: "x".join(str(int(v)) for v in r.integers(5, 80, 3)),
    "organic": lambda r: bool(r.random() < 0.4),
    "origin": lambda r: _pick(r, ("Colombia", "Italy", "Kenya", "India", "Vietnam")),
    "volume_ml": lambda r: _pick(r, (50, 100, 250, 500)),
    "skin_type": lambda r: _pick(r, ("dry", "oily", "normal", "sensitive")),
}
SUPPLIERS: tuple[str, ...] = ("Globalsource Ltd", "Pacific Traders", "Nordic Supply AB")

# --------------------------------------------------------------------------- clickstream vocab

CLICK_EVENTS_PER_FILE = 15
CLICK_ANONYMOUS_SHARE = 0.30
#: One anonymous visitor in this many sends no anonymous_id either (tracking blocked): the
#: contract's clickstream has only a nullable customer_id.
CLICK_UNTRACKED_EVERY = 4
CLICK_SECOND_SESSION_SHARE = 0.20
DEVICES: tuple[tuple[str, tuple[str, ...], float], ...] = (
    ("mobile", ("iOS", "Android"), 0.55), ("desktop", ("Windows", "macOS", "Linux"), 0.35),
    ("tablet", ("iPadOS", "Android"), 0.10),
)
SEARCH_TERMS: tuple[str, ...] = ("headphones", "yoga mat", "coffee", "rain jacket", "lamp",
                                 "gift ideas", "sale", "running shoes")

# --------------------------------------------------------------------------- inventory & reviews

INVENTORY_SEQ_START = 100_000
INVENTORY_EVENTS_PER_FILE = 150
INVENTORY_OP_FIELDS: tuple[str, ...] = ("op", "seq", "op_ts", "product_id", "store_id",
                                        "quantity_on_hand", "reorder_point")
REVIEW_RATING_P = np.array([0.06, 0.07, 0.12, 0.30, 0.45])
REVIEW_DIRT: tuple[str, ...] = ("rating_out_of_range", "rating_type_conflict",
                                "missing_review_id", "malformed_json")
REVIEW_TITLES: dict[int, tuple[str, ...]] = {
    1: ("Broke after a week", "Very disappointed", "Not as described"),
    2: ("Meh", "Could be better", "Not worth the price"),
    3: ("It's okay", "Average quality", "Does the job"),
    4: ("Pretty good", "Happy with it", "Solid purchase"),
    5: ("Love it!", "Excellent quality", "Best purchase this year", "Five stars 👍"),
}
REVIEW_BODIES: dict[str, tuple[str, ...]] = {
    "en": ("The {item} arrived quickly, and it looks \"exactly\" like the photos.",
           "Used the {item} every day for two weeks.\nQuality is what I expected.",
           "Bought this {item} as a gift; the packaging was damaged, the item was fine.",
           "Honestly the {item} is better than the one I had before."),
    "es": ("Muy buen producto, llegó rápido.", "El {item} no es lo que esperaba."),
    "fr": ("Très bon produit, je recommande.", "Le {item} est arrivé abîmé."),
    "de": ("Gute Qualität, schnelle Lieferung.", "Der {item} ist leider zu klein."),
}
REVIEW_LANGUAGES: tuple[str, ...] = ("en", "es", "fr", "de")
REVIEW_LANGUAGE_P = np.array([0.8, 0.08, 0.07, 0.05])
REVIEW_SOURCES: tuple[str, ...] = ("web", "app", "email")


# =========================================================================== small helpers


def _pick(rng: np.random.Generator, values: Sequence[Any]) -> Any:
    """Return one element of ``values`` as its Python type (never a numpy scalar)."""
    return values[int(rng.integers(len(values)))]


def _rng(seed: int, stream: str, day_index: int, *extra: int) -> np.random.Generator:
    """Independent generator for (seed, dataset stream, day, extra): same inputs, same draws.

    The path goes in ``spawn_key`` (not the entropy list, where ``[a, b]`` and ``[a, b, 0]``
    would collide), so every (stream, day, extra...) is a distinct, stable stream.
    """
    key = (_STREAM_IDS[stream], day_index, *extra)
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=key))


def _share_count(n: int, share: float, minimum_n: int = 200) -> int:
    """``round(n * share)``, but at least 1 once ``n`` is big enough for the share to matter."""
    k = int(round(n * share))
    return max(1, k) if n >= minimum_n else k


def _day_start(day: date) -> datetime:
    """Midnight UTC of ``day``."""
    return datetime(day.year, day.month, day.day, tzinfo=timezone.utc)


def _iso_z(ts: datetime, millis: bool = False) -> str:
    """ISO-8601 UTC text with a ``Z`` suffix, optionally with milliseconds."""
    text = ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{text}.{ts.microsecond // 1000:03d}Z" if millis else f"{text}Z"


def _day_dir(day: date) -> str:
    """``YYYY/MM/DD`` partition path of a day."""
    return f"{day:%Y}/{day:%m}/{day:%d}"


def _write_bytes(path: Path, data: bytes) -> None:
    """Create parent folders and (over)write ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _jsonl(records: Iterable[dict[str, Any] | str]) -> bytes:
    """JSON Lines bytes (UTF-8, ``\\n``); a ``str`` item is written verbatim (planted dirt)."""
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def _weights(values: np.ndarray) -> np.ndarray:
    """Normalise non-negative weights into probabilities."""
    values = np.asarray(values, dtype=float)
    return values / values.sum()


# =========================================================================== sizes


@dataclass(frozen=True)
class Sizes:
    """Volumes per day derived from ``scale`` (1.0 = the demo size)."""

    sales_lines: int
    customers: int
    products: int
    stores: int
    click_events: int
    inventory_events: int
    inventory_pairs: int
    reviews: int
    unknown_products_per_day: int


def sizes_for(scale: float, sales_lines_per_day: int | None = None) -> Sizes:
    """Volumes for ``scale``; ``sales_lines_per_day`` overrides the sales volume only."""

    def scaled(base: int, minimum: int) -> int:
        return max(minimum, int(round(base * scale)))

    return Sizes(
        sales_lines=sales_lines_per_day if sales_lines_per_day is not None else scaled(20_000, 50),
        customers=scaled(2_000, 20), products=scaled(500, 10), stores=scaled(20, 5),
        click_events=scaled(3_000, 60), inventory_events=scaled(1_000, 30),
        inventory_pairs=scaled(800, 20), reviews=scaled(300, 10),
        unknown_products_per_day=min(99, scaled(8, 2)),
    )


# =========================================================================== world: stores


@dataclass(frozen=True)
class Store:
    """One row of ``stores/stores_YYYYMMDD.csv``."""

    store_id: str
    store_name: str
    city: str
    region: str
    country: str
    opened_date: date


@dataclass
class StoreDay:
    """The store list valid on a day; ``written`` when a stores file lands that day."""

    stores: list[Store]
    written: bool
    renamed: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)


def _make_store(rng: np.random.Generator, number: int, opened: date | None = None) -> Store:
    """Store ``S{number:03d}``; S001 is the flagship, every 7th name needs CSV quoting."""
    city, _, country, region = LOCATIONS[(number - 1) % len(LOCATIONS)]
    if number == 1:
        name = f"{city} Flagship"
    elif number % 7 == 0:
        name = f"{city} Mall, Unit {number}"
    else:
        name = f"{city} {_pick(rng, STORE_SUFFIXES)}"
    opened = opened or date(2010, 1, 1) + timedelta(days=int(rng.integers(0, 4_800)))
    return Store(f"S{number:03d}", name, city, region, country, opened)


def build_store_history(seed: int, sizes: Sizes, start: date, days: int) -> list[StoreDay]:
    """Stores per day: full list on day 1; on day 3 one store renamed and one store opened."""
    rng = _rng(seed, "stores", 0)
    current = [_make_store(rng, i) for i in range(1, sizes.stores + 1)]
    history: list[StoreDay] = []
    for d in range(days):
        if d == STORE_CHANGE_DAY:
            change_rng = _rng(seed, "stores", d)
            victim = int(change_rng.integers(1, len(current)))
            old = current[victim]
            current = list(current)
            current[victim] = replace(old, store_name=f"{old.city} Town Center")
            new_store = _make_store(change_rng, len(current) + 1, start + timedelta(days=d))
            current.append(new_store)
            history.append(StoreDay(current, True, [old.store_id], [new_store.store_id]))
        else:
            history.append(StoreDay(current, d == 0))
    return history


def store_weights(stores: Sequence[Store]) -> np.ndarray:
    """Sales share per store: the flagship S001 takes ~30 %, the rest a gentle decay."""
    if len(stores) == 1:
        return np.ones(1)
    rest = _weights(1.0 / np.arange(1, len(stores)) ** 0.3) * (1 - FLAGSHIP_STORE_SHARE)
    return np.concatenate([[FLAGSHIP_STORE_SHARE], rest])


# =========================================================================== world: products


@dataclass(frozen=True)
class Product:
    """One catalog entry; ``supplier`` and ``category_level`` are planted unknown fields."""

    product_id: str
    name: str
    category: str
    subcategory: str
    brand: str
    price_cents: int
    attributes: dict[str, Any]
    tags: tuple[str, ...]
    updated_at: datetime
    popularity: float
    supplier: dict[str, str] | None = None
    category_level: int | None = None

    def to_record(self) -> dict[str, Any]:
        """The nested JSON object of ``products_YYYYMMDD.json``."""
        category: dict[str, Any] = {"name": self.category, "subcategory": self.subcategory}
        if self.category_level is not None:
            category["level"] = self.category_level
        record: dict[str, Any] = {
            "product_id": self.product_id, "name": self.name, "category": category,
            "brand": self.brand,
            "price": {"amount": round(self.price_cents / 100, 2), "currency": "USD"},
            "attributes": self.attributes, "tags": list(self.tags),
            "updated_at": _iso_z(self.updated_at),
        }
        if self.supplier is not None:
            record["supplier"] = self.supplier
        return record


@dataclass
class ProductDay:
    """Catalog after a day's file, the records of that file, and the unknown ids on sale."""

    catalog: dict[str, Product]
    written: list[Product]
    stats: dict[str, int]
    unknown_ids: list[str]


def _new_product(rng: np.random.Generator, product_id: str, updated_at: datetime,
                 popularity: float) -> Product:
    """A random product with category-specific attributes and occasional extra fields."""
    category = _pick(rng, tuple(CATEGORIES))
    spec = CATEGORIES[category]
    subcategory = _pick(rng, spec.subcategories)
    brand = _pick(rng, BRANDS)
    low, high = spec.price_range
    attributes = {k: ATTRIBUTE_MAKERS[k](rng) for k in spec.attributes if rng.random() < 0.85}
    n_tags = int(rng.integers(0, 4))
    tags = tuple(sorted(str(t) for t in rng.choice(TAGS, size=n_tags, replace=False)))
    supplier = None
    if rng.random() < 0.1:
        supplier = {"id": f"SUP-{int(rng.integers(100, 999))}", "name": _pick(rng, SUPPLIERS)}
    return Product(
        product_id=product_id, name=f"{brand} {_pick(rng, ADJECTIVES)} {subcategory}",
        category=category, subcategory=subcategory, brand=brand,
        price_cents=int(rng.integers(low, high + 1)) * 100 - 1, attributes=attributes,
        tags=tags, updated_at=updated_at, popularity=popularity, supplier=supplier,
        category_level=2 if rng.random() < 0.1 else None,
    )


def _initial_catalog(rng: np.random.Generator, n: int, start: date) -> dict[str, Product]:
    """Day-1 catalog ``P00001..``; popularity follows a Zipf law over a random ranking."""
    ranks = rng.permutation(n) + 1
    catalog = {}
    for i in range(n):
        updated = _day_start(start) - timedelta(seconds=int(rng.integers(86_400, 400 * 86_400)))
        pid = f"P{i + 1:05d}"
        catalog[pid] = _new_product(rng, pid, updated, float(ranks[i]) ** -ZIPF_EXPONENT)
    return catalog


def _change_time(rng: np.random.Generator, day: date) -> datetime:
    """A catalog change time early on ``day`` (01:00-05:00 UTC)."""
    return _day_start(day) + timedelta(seconds=int(rng.integers(3_600, 5 * 3_600)))


def _reprice(rng: np.random.Generator, product: Product, when: datetime) -> Product:
    """The product with a price moved by -20 %..+20 % (always a different .99 price)."""
    dollars = max(1, int(round(product.price_cents / 100 * rng.uniform(0.8, 1.2))))
    cents = dollars * 100 - 1
    cents = cents + 100 if cents == product.price_cents else cents
    return replace(product, price_cents=cents, updated_at=when)


def _rename(rng: np.random.Generator, product: Product, when: datetime) -> Product:
    """The product under a new marketing name."""
    name = f"{product.brand} {_pick(rng, ADJECTIVES)} {product.subcategory} 2.0"
    return replace(product, name=name, updated_at=when)


def _evolve_catalog(rng: np.random.Generator, catalog: dict[str, Product], day: date,
                    introduce: list[str]) -> tuple[dict[str, Product], list[Product], dict[str, int]]:
    """Apply one day of changes: ~5 % reprices, a few renames, new products (incl. ``introduce``)."""
    catalog = dict(catalog)
    ids = sorted(catalog)
    n = len(ids)
    repriced = [str(p) for p in rng.choice(ids, size=max(1, round(0.05 * n)), replace=False)]
    renamed = [str(p) for p in rng.choice(ids, size=max(1, round(0.01 * n)), replace=False)]
    for pid in repriced:
        catalog[pid] = _reprice(rng, catalog[pid], _change_time(rng, day))
    for pid in renamed:
        catalog[pid] = _rename(rng, catalog[pid], _change_time(rng, day))
    next_number = 1 + max(int(p[1:]) for p in ids if not p.startswith("P9"))
    fresh = [f"P{next_number + i:05d}" for i in range(max(1, round(0.01 * n)))]
    for pid in fresh + introduce:
        popularity = float(rng.integers(max(2, n // 4), 2 * n + 2)) ** -ZIPF_EXPONENT
        catalog[pid] = _new_product(rng, pid, _change_time(rng, day), popularity)
    changed = sorted(set(repriced) | set(renamed) | set(fresh) | set(introduce))
    stats = {"price_changes": len(repriced), "renames": len(renamed),
             "new_products": len(fresh) + len(introduce), "introduced_unknown_ids": len(introduce)}
    return catalog, [catalog[p] for p in changed], stats


def build_product_history(seed: int, sizes: Sizes, start: date, days: int) -> list[ProductDay]:
    """Catalog per day plus the P9xxxx ids sold before the catalog knows them.

    Each day announces new unknown ids (sold from that day on); from the next day each
    pending id joins the catalog with probability 1/2 (at least one per day).
    """
    history: list[ProductDay] = []
    pending: list[str] = []
    catalog: dict[str, Product] = {}
    for d in range(days):
        rng = _rng(seed, "products", d)
        day = start + timedelta(days=d)
        if d == 0:
            catalog = _initial_catalog(rng, sizes.products, start)
            written, stats = list(catalog.values()), {"new_products": len(catalog)}
        else:
            introduce = [p for p in pending if rng.random() < 0.5] or pending[:1]
            pending = [p for p in pending if p not in introduce]
            catalog, written, stats = _evolve_catalog(rng, catalog, day, introduce)
        pending += [f"P9{d * 100 + j:04d}" for j in range(sizes.unknown_products_per_day)]
        history.append(ProductDay(catalog, written, stats, list(pending)))
    return history


def catalog_arrays(catalog: dict[str, Product]) -> tuple[list[str], np.ndarray, np.ndarray]:
    """(product ids, prices in cents, Zipf probabilities) in catalog order."""
    ids = list(catalog)
    prices = np.array([catalog[p].price_cents for p in ids], dtype=np.int64)
    prob = _weights(np.array([catalog[p].popularity for p in ids]))
    return ids, prices, prob


# =========================================================================== world: customers


@dataclass(frozen=True)
class Customer:
    """One row of a customers snapshot (all PII fields are realistic and searchable)."""

    customer_id: str
    first_name: str
    last_name: str
    email: str
    phone: str
    segment: str
    city: str
    state: str
    country: str
    signup_date: date
    updated_at: datetime


@dataclass
class CustomerDay:
    """A day's full snapshot and what changed against the previous day."""

    snapshot: dict[str, Customer]
    changed: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)


def _email_local(first: str, last: str) -> str:
    """``first.last`` in lower case, letters only."""
    return f"{first}.{last}".lower().replace("'", "")


def _phone(number: int) -> str:
    """A unique phone such as ``+1-555-012-3456`` (bijective in ``number`` below 10 million)."""
    mixed = (number * 7_919 + 1_234_567) % 10_000_000
    return f"+1-555-{mixed // 10_000:03d}-{mixed % 10_000:04d}"


def _new_customer(rng: np.random.Generator, number: int, signup: date, updated: datetime) -> Customer:
    """Customer ``C{number:06d}`` with a unique email and phone."""
    first, last = _pick(rng, FIRST_NAMES), _pick(rng, LAST_NAMES)
    city, state, country, _ = _pick(rng, LOCATIONS)
    return Customer(
        customer_id=f"C{number:06d}", first_name=first, last_name=last,
        email=f"{_email_local(first, last)}{number}@example.com", phone=_phone(number),
        segment=SEGMENTS[int(rng.choice(len(SEGMENTS), p=SEGMENT_P))],
        city=city, state=state, country=country, signup_date=signup, updated_at=updated,
    )


def _change_customer(rng: np.random.Generator, c: Customer, day_index: int, when: datetime) -> Customer:
    """The customer with a new segment, a move (city/state/country) or a new email."""
    kind = int(rng.integers(3))
    if kind == 0:
        segment = _pick(rng, [s for s in SEGMENTS if s != c.segment])
        return replace(c, segment=segment, updated_at=when)
    if kind == 1:
        city, state, country, _ = _pick(rng, [loc for loc in LOCATIONS if loc[0] != c.city])
        return replace(c, city=city, state=state, country=country, updated_at=when)
    number = int(c.customer_id[1:])
    email = f"{_email_local(c.first_name, c.last_name)}{number}.{day_index}@{_pick(rng, EMAIL_DOMAINS)}"
    return replace(c, email=email, updated_at=when)


def _initial_customers(rng: np.random.Generator, n: int, start: date) -> dict[str, Customer]:
    """The day-1 customer base, signed up over the previous three years."""
    customers = {}
    for number in range(1, n + 1):
        signup = start - timedelta(days=int(rng.integers(1, 3 * 365)))
        updated = _day_start(signup) + timedelta(seconds=int(rng.integers(0, 86_400)))
        c = _new_customer(rng, number, signup, updated)
        customers[c.customer_id] = c
    return customers


def _evolve_customers(rng: np.random.Generator, prev: dict[str, Customer], d: int,
                      day: date, next_number: int) -> CustomerDay:
    """One day: ~0.5 % deleted (forever), ~3 % changed, ~1 % new customers."""
    base = len(prev)
    ids = list(prev)
    deleted = sorted(str(x) for x in rng.choice(ids, size=max(1, round(0.005 * base)), replace=False))
    gone = set(deleted)
    snapshot = {k: v for k, v in prev.items() if k not in gone}
    changed = sorted(str(x) for x in rng.choice(list(snapshot), size=max(1, round(0.03 * base)),
                                                replace=False))
    for cid in changed:
        when = _day_start(day) + timedelta(seconds=int(rng.integers(0, 86_400)))
        snapshot[cid] = _change_customer(rng, snapshot[cid], d, when)
    new = []
    for number in range(next_number, next_number + max(1, round(0.01 * base))):
        when = _day_start(day) + timedelta(seconds=int(rng.integers(0, 86_400)))
        c = _new_customer(rng, number, day, when)
        snapshot[c.customer_id] = c
        new.append(c.customer_id)
    return CustomerDay(snapshot, changed, new, deleted)


def build_customer_history(seed: int, sizes: Sizes, start: date, days: int) -> list[CustomerDay]:
    """Full customer snapshot per day (deleted customers never come back)."""
    history = [CustomerDay(_initial_customers(_rng(seed, "customers", 0), sizes.customers, start))]
    next_number = sizes.customers + 1
    for d in range(1, days):
        today = _evolve_customers(_rng(seed, "customers", d), history[-1].snapshot, d,
                                  start + timedelta(days=d), next_number)
        next_number += len(today.new)
        history.append(today)
    return history


@dataclass
class World:
    """Everything the datasets share, rebuilt deterministically from the seed."""

    start: date
    days: int
    sizes: Sizes
    stores: list[StoreDay]
    products: list[ProductDay]
    customers: list[CustomerDay]

    def day(self, d: int) -> date:
        """Calendar date of day index ``d``."""
        return self.start + timedelta(days=d)


def build_world(seed: int, sizes: Sizes, start: date, days: int) -> World:
    """Stores, catalog and customer base for every day of the run."""
    return World(start, days, sizes, build_store_history(seed, sizes, start, days),
                 build_product_history(seed, sizes, start, days),
                 build_customer_history(seed, sizes, start, days))


# =========================================================================== sales: generation

Batch = dict[str, np.ndarray]  # one numpy column per line attribute


@dataclass(frozen=True)
class SalesDayContext:
    """What sales of one day may reference: index tables end with a blank ("") entry."""

    day: date
    product_ids: pa.Array   # catalog ids, then unknown ids, then ""
    n_catalog: int
    n_unknown: int
    product_prob: np.ndarray
    price_cents: np.ndarray  # catalog then unknown prices
    customer_ids: pa.Array   # snapshot ids, then "" (anonymous)
    store_ids: pa.Array      # ids, then "" (blank)
    store_prob: np.ndarray

    @property
    def blank_product(self) -> int:
        """Index of the empty product_id."""
        return self.n_catalog + self.n_unknown

    @property
    def blank_store(self) -> int:
        """Index of the empty store_id."""
        return len(self.store_prob)

    @property
    def anonymous(self) -> int:
        """Index of the empty customer_id (anonymous buyer)."""
        return len(self.customer_ids) - 1


def sales_context(seed: int, world: World, d: int) -> SalesDayContext:
    """Index tables for day ``d``: catalog as of that day, unknown P9 ids, customers, stores."""
    product_day = world.products[d]
    ids, prices, prob = catalog_arrays(product_day.catalog)
    unknown = product_day.unknown_ids
    unknown_prices = _rng(seed, "sales", d, 1).integers(5, 120, len(unknown)) * 100 - 1
    stores = world.stores[d].stores
    return SalesDayContext(
        day=world.day(d), product_ids=pa.array(ids + unknown + [""]), n_catalog=len(ids),
        n_unknown=len(unknown), product_prob=prob,
        price_cents=np.concatenate([prices, unknown_prices]).astype(np.int64),
        customer_ids=pa.array(list(world.customers[d].snapshot) + [""]),
        store_ids=pa.array([s.store_id for s in stores] + [""]), store_prob=store_weights(stores),
    )


def _transaction_sizes(rng: np.random.Generator, n_lines: int) -> np.ndarray:
    """Lines per transaction (1-5) summing exactly to ``n_lines`` (the last one is cut)."""
    mean = float((np.arange(1, 6) * TX_SIZE_P).sum())
    sizes = rng.choice(5, size=int(n_lines / mean * 1.1) + 10, p=TX_SIZE_P) + 1
    while sizes.sum() < n_lines:
        sizes = np.concatenate([sizes, rng.choice(5, size=n_lines // 4 + 10, p=TX_SIZE_P) + 1])
    cum = np.cumsum(sizes)
    n_tx = int(np.searchsorted(cum, n_lines)) + 1
    sizes = sizes[:n_tx].copy()
    sizes[-1] -= int(cum[n_tx - 1] - n_lines)
    return sizes


def _base_lines(rng: np.random.Generator, ctx: SalesDayContext, n_lines: int, tx_start: int) -> Batch:
    """Clean lines: transactions with shared ts/customer/store/payment, Zipf products."""
    sizes = _transaction_sizes(rng, n_lines)
    n_tx = len(sizes)
    hours = rng.choice(24, size=n_tx, p=_weights(HOUR_WEIGHTS))
    per_tx = {
        "tx": np.arange(tx_start, tx_start + n_tx, dtype=np.int64),
        "sod": (hours * 3600 + rng.integers(0, 3600, n_tx)).astype(np.int32),
        "variant": rng.choice(len(TS_VARIANTS), size=n_tx, p=_weights([v[3] for v in TS_VARIANTS])),
        "cust": np.where(rng.random(n_tx) < ANONYMOUS_SHARE, ctx.anonymous,
                         rng.integers(0, ctx.anonymous, n_tx)),
        "store": rng.choice(len(ctx.store_prob), size=n_tx, p=ctx.store_prob),
        "pay": rng.choice(len(PAYMENT_METHODS), size=n_tx, p=_weights([p[1] for p in PAYMENT_METHODS])),
    }
    batch = {k: np.repeat(v, sizes) for k, v in per_tx.items()}
    starts = np.repeat(np.cumsum(sizes) - sizes, sizes)
    batch["line_no"] = (np.arange(n_lines) - starts + 1).astype(np.int32)
    batch["prod"] = rng.choice(ctx.n_catalog, size=n_lines, p=ctx.product_prob)
    batch["qty"] = np.minimum(rng.geometric(0.55, n_lines), 12).astype(np.int64)
    batch["pct"] = np.where(rng.random(n_lines) < DISCOUNT_SHARE,
                            rng.choice(DISCOUNT_PCTS, size=n_lines), -1)
    batch["blank_tx"] = np.zeros(n_lines, dtype=bool)
    batch["bad_ts"] = np.full(n_lines, -1, dtype=np.int8)
    batch["malformed"] = np.zeros(n_lines, dtype=np.int8)  # 1 = truncated, 2 = extra field
    return batch


def _price_lines(batch: Batch, ctx: SalesDayContext, idx: np.ndarray | slice = slice(None)) -> None:
    """Set unit price, discount and total (qty*price - discount) from product and pct."""
    price = ctx.price_cents[batch["prod"][idx]]
    gross = batch["qty"][idx] * price
    pct = batch["pct"][idx]
    disc = np.where(pct >= 0, np.round(gross * np.maximum(pct, 0) / 100), 0).astype(np.int64)
    if isinstance(idx, slice):
        batch["price"], batch["disc"], batch["total"] = price, disc, gross - disc
    else:
        batch["price"][idx], batch["disc"][idx], batch["total"][idx] = price, disc, gross - disc


def _assign_unknown_products(rng: np.random.Generator, batch: Batch, ctx: SalesDayContext,
                             idx: np.ndarray, cover_all: bool) -> None:
    """Sell unknown P9 ids on ``idx``; with ``cover_all`` every active id appears at least once."""
    if ctx.n_unknown == 0 or len(idx) == 0:
        return
    choice = rng.integers(0, ctx.n_unknown, len(idx))
    if cover_all:
        k = min(len(idx), ctx.n_unknown)
        choice[:k] = np.arange(k)
    batch["prod"][idx] = ctx.n_catalog + choice


def _plant_reason(rng: np.random.Generator, batch: Batch, ctx: SalesDayContext,
                  reason: str, idx: np.ndarray) -> None:
    """Make lines ``idx`` invalid for ``reason`` (one of SALES_REASONS)."""
    n = len(idx)
    if reason == "malformed":
        batch["malformed"][idx] = rng.integers(1, 3, n)
    elif reason == "empty_key":
        which = rng.integers(0, 3, n)
        batch["blank_tx"][idx[which == 0]] = True
        batch["prod"][idx[which == 1]] = ctx.blank_product
        batch["store"][idx[which == 2]] = ctx.blank_store
    elif reason == "bad_timestamp":
        batch["bad_ts"][idx] = rng.integers(0, len(BAD_TIMESTAMPS), n)
    elif reason == "bad_quantity":
        batch["qty"][idx] = rng.choice(BAD_QUANTITIES, size=n)
        batch["pct"][idx] = -1
        batch["disc"][idx] = 0
    elif reason == "negative_amount":
        on_price = rng.random(n) < 0.5
        batch["price"][idx[on_price]] *= -1
        batch["pct"][idx[~on_price]] = 0
        batch["disc"][idx[~on_price]] = -rng.integers(100, 2_000, int((~on_price).sum()))
    else:
        raise ValueError(f"unknown sales reason {reason!r}")


def _plant_dirt(rng: np.random.Generator, batch: Batch, ctx: SalesDayContext,
                slices: dict[str, np.ndarray]) -> Counter:
    """Plant every single-reason and two-reason bad line; returns incidence per reason."""
    multi = slices["multi"]
    combos = rng.integers(0, len(MULTI_COMBOS), len(multi))
    incidence: Counter = Counter()
    for reason in SALES_REASONS:  # fixed order: quantity before amount (it clears discounts)
        in_multi = np.array([reason in MULTI_COMBOS[c] for c in combos], dtype=bool)
        idx = np.concatenate([slices[reason], multi[in_multi]]).astype(np.int64)
        _plant_reason(rng, batch, ctx, reason, idx)
        incidence[reason] += len(idx)
    dirty = np.concatenate([slices[r] for r in (*SALES_REASONS, "multi")]).astype(np.int64)
    batch["total"][dirty] = np.maximum(batch["qty"][dirty], 0) * batch["price"][dirty] - batch["disc"][dirty]
    incidence["multi_reason"] += len(multi)
    incidence["total"] += len(dirty)
    return incidence


def _take(batch: Batch, idx: np.ndarray) -> Batch:
    """Rows ``idx`` of a batch (copies)."""
    return {k: v[idx] for k, v in batch.items()}


def _concat(batches: Sequence[Batch]) -> Batch:
    """Row-wise concatenation of batches with the same columns."""
    batches = [b for b in batches if b and len(b["tx"])]
    if not batches:
        return {}
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def _corrections(rng: np.random.Generator, batch: Batch, ctx: SalesDayContext,
                 originals: np.ndarray, n_ties: int) -> Batch:
    """Copies of clean lines with a new quantity/total and a later ts (first ``n_ties``: same ts)."""
    corr = _take(batch, originals)
    n = len(originals)
    qty = corr["qty"]
    corr["qty"] = np.where((qty > 1) & (rng.random(n) < 0.5), qty - 1, qty + rng.integers(1, 3, n))
    room = np.minimum(3_600, 86_399 - corr["sod"].astype(np.int64))
    delta = 1 + np.floor(rng.random(n) * room).astype(np.int64)
    delta[:n_ties] = 0
    corr["sod"] = (corr["sod"] + delta).astype(np.int32)
    corr["variant"] = rng.choice(len(TS_VARIANTS), size=n, p=_weights([v[3] for v in TS_VARIANTS]))
    _price_lines(corr, ctx)
    return corr


@dataclass
class SalesChunk:
    """One chunk of a day: main-file lines, then its corrections, the ``_2`` corrections, counts."""

    main: Batch
    same_file: Batch
    second: Batch
    stats: Counter
    n_tx: int


def _slice_plan(rng: np.random.Generator, batch: Batch, n: int) -> dict[str, np.ndarray]:
    """Disjoint random line sets: one per dirt reason, unknown products, correction candidates."""
    perm = rng.permutation(n)
    plan, pos = {}, 0
    for name in (*SALES_REASONS, "multi"):
        k = _share_count(n, DIRT_SHARE[name])
        plan[name], pos = perm[pos:pos + k], pos + k
    k = _share_count(n, UNKNOWN_PRODUCT_SHARE)
    plan["unknown"], pos = perm[pos:pos + k], pos + k
    rest = perm[pos:]
    plan["clean"] = rest[batch["sod"][rest] < 86_399]
    return plan


def _plant_outliers(rng: np.random.Generator, batch: Batch, ctx: SalesDayContext,
                    candidates: np.ndarray) -> int:
    """Make a few ``candidates`` (clean lines) of pricey products bulk orders; returns how many."""
    pricey = candidates[ctx.price_cents[batch["prod"][candidates]] >= OUTLIER_MIN_PRICE_CENTS]
    k = min(len(pricey), _share_count(len(batch["tx"]), OUTLIER_SHARE))
    idx = np.sort(rng.choice(pricey, size=k, replace=False)).astype(np.int64)
    batch["qty"][idx] = rng.integers(*OUTLIER_QUANTITIES, k)
    _price_lines(batch, ctx, idx)
    return k


def sales_chunk(rng: np.random.Generator, ctx: SalesDayContext, n_lines: int, tx_start: int,
                with_second_file: bool, first_chunk: bool,
                outlier_rng: np.random.Generator | None = None) -> SalesChunk:
    """Generate ``n_lines`` data lines: ~1 % are corrections, ~2 % planted bad lines.

    With ``outlier_rng`` (its own stream, so the other lines do not change) a few clean
    lines that no correction copies become amount outliers.
    """
    n_corr = _share_count(n_lines, CORRECTION_SHARE)
    n_base = n_lines - n_corr
    batch = _base_lines(rng, ctx, n_base, tx_start)
    plan = _slice_plan(rng, batch, n_base)
    _assign_unknown_products(rng, batch, ctx, plan["unknown"], cover_all=first_chunk)
    _price_lines(batch, ctx)
    stats = _plant_dirt(rng, batch, ctx, plan)
    n_second = int(round(n_corr * SECOND_FILE_CORRECTION_SHARE)) if with_second_file else 0
    n_ties = _share_count(n_second, TIE_SHARE, minimum_n=1)
    originals = plan["clean"][:n_corr]
    if outlier_rng is not None:
        stats["outlier_lines"] = _plant_outliers(outlier_rng, batch, ctx, plan["clean"][n_corr:])
    same = _corrections(rng, batch, ctx, originals[n_second:], 0)
    second = _corrections(rng, batch, ctx, originals[:n_second], n_ties)
    stats.update({"corrections": len(originals), "corrections_second_file": len(originals[:n_second]),
                  "correction_ts_ties": n_ties if len(originals[:n_second]) else 0,
                  "unknown_product_lines": len(plan["unknown"])})
    return SalesChunk(batch, same, second, stats, int(batch["tx"].max()) + 1 - tx_start)


# =========================================================================== sales: formatting


@lru_cache(maxsize=1)
def _hms_table() -> pa.Array:
    """``HH:MM:SS`` for every second of a day (index = second of day)."""
    return pa.array([f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)])


def _csv_field(value: str) -> str:
    """RFC 4180 quoting of one field (only when needed)."""
    if any(ch in value for ch in ',"\r\n'):
        return '"' + value.replace('"', '""') + '"'
    return value


def _to_str(values: np.ndarray) -> pa.Array:
    """Integers as decimal text."""
    return pc.cast(pa.array(values), pa.string())


def _money(cents: np.ndarray) -> pa.Array:
    """Cents as ``123.45`` text (via an in-place decimal128(18,2) view; negatives keep a sign)."""
    cents = np.ascontiguousarray(cents, dtype=np.int64)
    words = np.empty((len(cents), 2), dtype=np.int64)
    words[:, 0], words[:, 1] = cents, cents >> 63  # two's-complement sign extension
    decimal = pa.Array.from_buffers(pa.decimal128(18, 2), len(cents), [None, pa.py_buffer(words)])
    return decimal.cast(pa.string())


def _timestamps(batch: Batch, day: date) -> pa.Array:
    """Mixed ISO-8601 renderings of UTC second-of-day, with bad values where planted."""
    offsets = np.array([v[2] for v in TS_VARIANTS])
    sep_index = np.array([0 if v[0] == "T" else 1 for v in TS_VARIANTS])
    local = batch["sod"].astype(np.int64) + offsets[batch["variant"]]
    shift = np.floor_divide(local, 86_400)
    date_sep = pa.array([f"{day + timedelta(days=s)}{sep}" for s in (-1, 0, 1) for sep in ("T", " ")])
    suffix = pa.array([v[1] for v in TS_VARIANTS])
    text = pc.binary_join_element_wise(
        date_sep.take((shift + 1) * 2 + sep_index[batch["variant"]]),
        _hms_table().take(local - shift * 86_400), suffix.take(batch["variant"]), "")
    bad = batch["bad_ts"] >= 0
    if bad.any():
        replacement = pa.array(BAD_TIMESTAMPS).take(batch["bad_ts"][bad].astype(np.int64))
        text = pc.replace_with_mask(text, pa.array(bad), replacement)
    return text


def _sales_fields(batch: Batch, ctx: SalesDayContext, terminator: str) -> list[pa.Array]:
    """The 11 CSV fields as text columns; the last one carries the line terminator."""
    day_number = int(ctx.day.strftime("%Y%m%d"))
    tx = pc.binary_join_element_wise("TX", _to_str(day_number * 100_000_000 + batch["tx"]), "")
    tx = pc.if_else(pa.array(batch["blank_tx"]), "", tx)
    has_disc = batch["pct"] >= 0
    payments = pa.array([_csv_field(p[0]) + terminator for p in PAYMENT_METHODS])
    return [
        tx, _to_str(batch["line_no"]), _timestamps(batch, ctx.day),
        ctx.customer_ids.take(batch["cust"]), ctx.product_ids.take(batch["prod"]),
        ctx.store_ids.take(batch["store"]), _to_str(batch["qty"]), _money(batch["price"]),
        pc.if_else(pa.array(has_disc), _money(batch["disc"]), ""), _money(batch["total"]),
        payments.take(batch["pay"]),
    ]


def _malform(line: str, kind: int, keep: int, extra: str, terminator: str) -> str:
    """Truncate a line to ``keep`` fields (kind 1) or add one field at its end (kind 2)."""
    body = line[: -len(terminator)]
    if kind == 1:
        return ",".join(body.split(",")[:keep]) + terminator  # first 8 fields never hold commas
    return f"{body},{extra}{terminator}"


def format_sales(batch: Batch, ctx: SalesDayContext, terminator: str,
                 rng: np.random.Generator | None = None) -> pa.Array:
    """CSV data lines (each ending with ``terminator``) for a batch, malformed ones included."""
    lines = pc.binary_join_element_wise(*_sales_fields(batch, ctx, terminator), ",")
    bad = batch["malformed"] > 0
    if bad.any():
        rng = rng or np.random.default_rng(0)
        kinds = batch["malformed"][bad]
        keeps = rng.integers(3, 9, len(kinds))
        extras = [_pick(rng, EXTRA_FIELD_VALUES) for _ in kinds]
        originals = lines.filter(pa.array(bad)).to_pylist()
        broken = [_malform(s, int(k), int(n), e, terminator)
                  for s, k, n, e in zip(originals, kinds, keeps, extras)]
        lines = pc.replace_with_mask(lines, pa.array(bad), pa.array(broken))
    return lines


def _write_lines(fh: BinaryIO, lines: pa.Array) -> None:
    """Write a string array whose values already end with their terminator, zero-copy."""
    if len(lines) == 0:
        return
    offset_type = np.int64 if pa.types.is_large_string(lines.type) else np.int32
    _, offsets_buf, data_buf = lines.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=offset_type)[lines.offset: lines.offset + len(lines) + 1]
    fh.write(memoryview(data_buf)[int(offsets[0]): int(offsets[-1])])


# =========================================================================== sales: files


@dataclass(frozen=True)
class SalesFilePlan:
    """Byte-level shape of a day's sales files."""

    main: str
    second: str | None
    bom: bool
    main_crlf: bool
    second_crlf: bool


def sales_file_plan(day: date, d: int, days: int) -> SalesFilePlan:
    """Day 1 gets a BOM; day 2 uses CRLF (a 1-day run: its ``_2`` file); even days get a ``_2``."""
    folder = f"sales/{day:%Y}/{day:%m}"
    second = f"{folder}/sales_{day:%Y%m%d}_2.csv" if d % 2 == 0 else None
    return SalesFilePlan(f"{folder}/sales_{day:%Y%m%d}.csv", second, bom=d == 0,
                         main_crlf=d == 1, second_crlf=d == 1 or (days == 1 and second is not None))


def _chunk_sizes(n_lines: int) -> list[int]:
    """Split a day's line count into generation chunks (the split is part of determinism)."""
    full, rest = divmod(n_lines, SALES_CHUNK_LINES)
    return [SALES_CHUNK_LINES] * full + ([rest] if rest else [])


def _open_csv(path: Path, bom: bool, terminator: str) -> BinaryIO:
    """Open a sales file for writing and write its (optional BOM and) header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fh = path.open("wb")
    fh.write(("\ufeff" if bom else "").encode("utf-8") + (",".join(SALES_COLUMNS) + terminator).encode())
    return fh


def _write_chunk(fh: BinaryIO, chunk: SalesChunk, ctx: SalesDayContext, terminator: str,
                 rng: np.random.Generator) -> None:
    """Format and append a chunk: its lines, then its same-file corrections."""
    for part in (chunk.main, chunk.same_file):
        _write_lines(fh, format_sales(part, ctx, terminator, rng))


def write_sales_day(out: Path, seed: int, world: World, d: int, n_lines: int) -> dict[str, Any]:
    """Write a day's sales file(s) chunk by chunk; returns the manifest entry.

    Chunk k is formatted and written on a worker thread (pyarrow releases the GIL) while
    chunk k+1 is generated; writes stay in chunk order, so output does not depend on timing.
    """
    ctx = sales_context(seed, world, d)
    plan = sales_file_plan(ctx.day, d, world.days)
    terminator = "\r\n" if plan.main_crlf else "\n"
    stats: Counter = Counter()
    seconds: list[Batch] = []
    tx_start, main_lines = 1, 0
    with _open_csv(out / plan.main, plan.bom, terminator) as fh, ThreadPoolExecutor(1) as writer:
        pending: Future | None = None
        for ci, size in enumerate(_chunk_sizes(n_lines)):
            rng = _rng(seed, "sales", d, 0, ci)
            chunk = sales_chunk(rng, ctx, size, tx_start, plan.second is not None, ci == 0,
                                _rng(seed, "sales", d, 3, ci))
            if pending is not None:
                pending.result()
            pending = writer.submit(_write_chunk, fh, chunk, ctx, terminator, rng)
            tx_start += chunk.n_tx
            main_lines += len(chunk.main["tx"]) + len(chunk.same_file["tx"])
            stats.update(chunk.stats)
            seconds.append(chunk.second)
        if pending is not None:
            pending.result()
    files = {plan.main: main_lines}
    if plan.second is not None:
        files[plan.second] = _write_second_file(out, seed, d, ctx, plan, _concat(seconds))
    return _sales_manifest(plan, files, stats, ctx)


def _write_second_file(out: Path, seed: int, d: int, ctx: SalesDayContext, plan: SalesFilePlan,
                       batch: Batch) -> int:
    """Write the ``_2`` corrections file (header only when empty); returns its data lines."""
    terminator = "\r\n" if plan.second_crlf else "\n"
    with _open_csv(out / str(plan.second), False, terminator) as fh:
        if batch:
            _write_lines(fh, format_sales(batch, ctx, terminator, _rng(seed, "sales", d, 2)))
    return len(batch["tx"]) if batch else 0


def _sales_manifest(plan: SalesFilePlan, files: dict[str, int], stats: Counter,
                    ctx: SalesDayContext) -> dict[str, Any]:
    """Manifest entry of a sales day (counts are of data lines, headers excluded)."""
    unknown = ctx.product_ids.to_pylist()[ctx.n_catalog: ctx.n_catalog + ctx.n_unknown]
    crlf = [f for f, on in ((plan.main, plan.main_crlf), (plan.second, plan.second_crlf)) if f and on]
    return {
        "files": files, "lines": sum(files.values()),
        "bom_files": [plan.main] if plan.bom else [], "crlf_files": crlf,
        "bad_lines": {r: int(stats[r]) for r in SALES_REASONS},
        "bad_lines_total": int(stats["total"]), "multi_reason_lines": int(stats["multi_reason"]),
        "corrections": {"total": int(stats["corrections"]),
                        "same_file": int(stats["corrections"] - stats["corrections_second_file"]),
                        "second_file": int(stats["corrections_second_file"]),
                        "ts_ties": int(stats["correction_ts_ties"])},
        "unknown_product_lines": int(stats["unknown_product_lines"]),
        "unknown_product_ids": unknown,
        "outlier_lines": int(stats["outlier_lines"]),
    }


# =========================================================================== products, customers, stores


def write_products_day(out: Path, world: World, d: int) -> dict[str, Any]:
    """``products/products_YYYYMMDD.json``: full catalog on day 1, changes afterwards."""
    product_day, day = world.products[d], world.day(d)
    path = f"products/products_{day:%Y%m%d}.json"
    _write_bytes(out / path, _jsonl(p.to_record() for p in product_day.written))
    extra = sum(1 for p in product_day.written if p.supplier or p.category_level)
    return {"file": path, "records": len(product_day.written), "full_catalog": d == 0,
            "catalog_size": len(product_day.catalog), "records_with_extra_fields": extra,
            **product_day.stats}


CUSTOMER_SCHEMA = pa.schema([
    ("customer_id", pa.string()), ("first_name", pa.string()), ("last_name", pa.string()),
    ("email", pa.string()), ("phone", pa.string()), ("segment", pa.string()),
    ("city", pa.string()), ("state", pa.string()), ("country", pa.string()),
    ("signup_date", pa.date32()), ("updated_at", pa.timestamp("us", tz="UTC")),
])


def customers_table(snapshot: dict[str, Customer]) -> pa.Table:
    """A snapshot as an Arrow table with CUSTOMER_SCHEMA."""
    rows = list(snapshot.values())
    columns = {name: [getattr(c, name) for c in rows] for name in CUSTOMER_SCHEMA.names}
    return pa.table(columns, schema=CUSTOMER_SCHEMA)


def write_customers_day(out: Path, world: World, d: int) -> dict[str, Any]:
    """``customers/snapshot_date=YYYY-MM-DD/part-00000.parquet``: the day's full snapshot."""
    today = world.customers[d]
    path = f"customers/snapshot_date={world.day(d).isoformat()}/part-00000.parquet"
    (out / path).parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(customers_table(today.snapshot), out / path, compression="snappy")
    return {"file": path, "count": len(today.snapshot), "changed": len(today.changed),
            "new": len(today.new), "deleted": len(today.deleted), "changed_ids": today.changed,
            "new_ids": today.new, "deleted_ids": today.deleted}


def write_stores_day(out: Path, world: World, d: int) -> dict[str, Any] | None:
    """``stores/stores_YYYYMMDD.csv`` on the days a full list lands (day 1 and day 3)."""
    store_day = world.stores[d]
    if not store_day.written:
        return None
    path = f"stores/stores_{world.day(d):%Y%m%d}.csv"
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["store_id", "store_name", "city", "region", "country", "opened_date"])
    for s in store_day.stores:
        writer.writerow([s.store_id, s.store_name, s.city, s.region, s.country, s.opened_date.isoformat()])
    _write_bytes(out / path, buffer.getvalue().encode("utf-8"))
    return {"file": path, "stores": len(store_day.stores), "renamed": store_day.renamed,
            "new": store_day.new}


# =========================================================================== clickstream


@dataclass(frozen=True)
class Visitor:
    """A browsing identity: a known customer, an anonymous device (``anonymous_id``) or neither."""

    customer_id: str | None
    anonymous_id: str | None
    device: dict[str, str]
    geo: dict[str, str]


def _visitor(rng: np.random.Generator, customers: list[Customer]) -> Visitor:
    """A random visitor; ~30 % anonymous (a quarter of them without an anonymous_id), device
    and geo stable for the day."""
    kind, oses, _ = DEVICES[int(rng.choice(len(DEVICES), p=_weights([x[2] for x in DEVICES])))]
    device = {"type": kind, "os": _pick(rng, oses)}
    if rng.random() < CLICK_ANONYMOUS_SHARE:
        city, _, country, _ = _pick(rng, LOCATIONS)
        device_id = int(rng.integers(0, 2**48))
        # Decided by the id already drawn, not a new draw: every other value stays the same.
        anonymous_id = None if device_id % CLICK_UNTRACKED_EVERY == 0 else f"anon-{device_id:012x}"
        return Visitor(None, anonymous_id, device, {"country": country, "city": city})
    c = _pick(rng, customers)
    return Visitor(c.customer_id, None, device, {"country": c.country, "city": c.city})


def _session_steps(rng: np.random.Generator, product_ids: list[str],
                   prob: np.ndarray) -> list[tuple[str, str, str | None]]:
    """(event_type, page_url, product_id) of one session, funnel-shaped."""

    def product() -> str:
        return product_ids[int(rng.choice(len(product_ids), p=prob))]

    viewed, cart = product(), []
    steps: list[tuple[str, str, str | None]] = [("page_view", f"/products/{viewed}", viewed)]
    for _ in range(min(int(rng.geometric(0.2)), 25)):
        r = rng.random()
        if r < 0.45:
            viewed = product()
            steps.append(("page_view", f"/products/{viewed}", viewed))
        elif r < 0.55:
            steps.append(("page_view", _pick(rng, ("/", "/deals", "/category/home")), None))
        elif r < 0.70:
            term = _pick(rng, SEARCH_TERMS)
            steps.append(("search", f"/search?q={term.replace(' ', '+')}", None))
        elif r < 0.88:
            cart.append(viewed)
            steps.append(("add_to_cart", f"/products/{viewed}", viewed))
        elif cart:
            steps.append(("remove_from_cart", "/cart", cart.pop(int(rng.integers(len(cart))))))
    if cart and rng.random() < 0.45:
        steps += [("purchase", "/checkout/confirmation", p) for p in cart]
    return steps


def _session_times(rng: np.random.Generator, n: int) -> np.ndarray:
    """Millisecond offsets of ``n`` events: a few seconds to 3 minutes apart."""
    gaps = rng.integers(2_000, 180_000, n)
    gaps[0] = 0
    return np.cumsum(gaps)


def _place_sessions(rng: np.random.Generator, durations: list[int]) -> list[int]:
    """Start (ms of day) of a visitor's sessions, > 30 min apart and inside the day."""
    day_ms, hour_p = 86_400_000, _weights(HOUR_WEIGHTS)
    first = int(rng.choice(24, p=hour_p)) * 3_600_000 + int(rng.integers(0, 3_600_000))
    first = min(first, day_ms - 1 - durations[0])
    starts = [first]
    if len(durations) == 2:
        gap = int(rng.integers(31, 240)) * 60_000
        later = first + durations[0] + gap
        earlier = first - gap - durations[1]
        if later + durations[1] < day_ms:
            starts.append(later)
        elif earlier >= 0:
            starts.append(earlier)
    return starts


def _visitor_events(rng: np.random.Generator, visitor: Visitor, day: date,
                    product_ids: list[str], prob: np.ndarray) -> list[tuple[int, dict[str, Any]]]:
    """All events of one visitor on ``day`` as (ms of day, record)."""
    n_sessions = 2 if rng.random() < CLICK_SECOND_SESSION_SHARE else 1
    sessions = [_session_steps(rng, product_ids, prob) for _ in range(n_sessions)]
    offsets = [_session_times(rng, len(s)) for s in sessions]
    starts = _place_sessions(rng, [int(o[-1]) for o in offsets])
    events = []
    for steps, offs, start in zip(sessions, offsets, starts):
        for (kind, url, pid), off in zip(steps, offs):
            ms = start + int(off)
            record = {
                "event_id": str(uuid.UUID(bytes=rng.bytes(16), version=4)),
                "customer_id": visitor.customer_id,
                "event_ts": _iso_z(_day_start(day) + timedelta(milliseconds=ms), millis=True),
                "event_type": kind, "page_url": url, "product_id": pid,
                "device": visitor.device, "geo": visitor.geo,
            }
            if visitor.anonymous_id:
                record["anonymous_id"] = visitor.anonymous_id
            events.append((ms, record))
    return events


def _hour_files(rng: np.random.Generator, events: list[tuple[int, dict]]) -> list[list[dict]]:
    """Spread one hour's events over several small files (each sorted by time)."""
    n_files = max(2 if len(events) >= 2 else 1, math.ceil(len(events) / CLICK_EVENTS_PER_FILE))
    owner = rng.integers(0, n_files, len(events))
    files = [[e for e, o in zip(events, owner) if o == f] for f in range(n_files)]
    return [[rec for _, rec in sorted(f, key=lambda e: e[0])] for f in files if f]


def write_clickstream_day(out: Path, seed: int, world: World, d: int) -> dict[str, Any]:
    """``clickstream/YYYY/MM/DD/HH/*.json``: sessions of visitors, many small files per hour."""
    rng, day = _rng(seed, "clickstream", d), world.day(d)
    customers = list(world.customers[d].snapshot.values())
    product_ids, _, prob = catalog_arrays(world.products[d].catalog)
    events: list[tuple[int, dict]] = []
    visitors = 0
    while len(events) < world.sizes.click_events:
        events += _visitor_events(rng, _visitor(rng, customers), day, product_ids, prob)
        visitors += 1
    by_hour: dict[int, list[tuple[int, dict]]] = {}
    for ms, record in events:
        by_hour.setdefault(ms // 3_600_000, []).append((ms, record))
    n_files = 0
    for hour in sorted(by_hour):
        for k, records in enumerate(_hour_files(rng, by_hour[hour])):
            path = f"clickstream/{_day_dir(day)}/{hour:02d}/events_{day:%Y%m%d}{hour:02d}_{k:03d}.json"
            _write_bytes(out / path, _jsonl(records))
            n_files += 1
    types = Counter(rec["event_type"] for _, rec in events)
    return {"events": len(events), "files": n_files, "hours": len(by_hour), "visitors": visitors,
            "anonymous_events": sum(1 for _, r in events if r["customer_id"] is None),
            "untracked_events": sum(1 for _, r in events
                                    if r["customer_id"] is None and "anonymous_id" not in r),
            "event_types": dict(sorted(types.items()))}


# =========================================================================== inventory CDC


@dataclass
class Stock:
    """Source-side state of one (product, store) pair."""

    quantity_on_hand: int
    reorder_point: int
    active: bool = True


class InventorySource:
    """Replays the source system's inventory changes day after day (state carries over)."""

    def __init__(self, seed: int, sizes: Sizes) -> None:
        self.seed, self.sizes = seed, sizes
        self.stock: dict[tuple[str, str], Stock] = {}
        self.active: list[tuple[str, str]] = []
        self.deleted: list[tuple[str, str]] = []
        self.seq = INVENTORY_SEQ_START

    def day_events(self, d: int, day: date, product_ids: list[str], prob: np.ndarray,
                   store_ids: list[str]) -> list[dict[str, Any]]:
        """The day's CDC events in source (seq) order; day 1 starts with an I per pair."""
        rng = _rng(self.seed, "inventory", d)
        n_events = self.sizes.inventory_events
        first = min(self.sizes.inventory_pairs, n_events) if d == 0 else 0
        times = np.sort(rng.integers(0, 86_400_000, n_events))
        events = [self._insert(rng, p) for p in self._new_pairs(rng, first, product_ids, prob, store_ids)]
        while len(events) < n_events:
            events.append(self._next_change(rng, product_ids, prob, store_ids))
        for event, ms in zip(events, times):
            self.seq += int(rng.integers(1, 4))
            event["seq"] = self.seq
            event["op_ts"] = _iso_z(_day_start(day) + timedelta(milliseconds=int(ms)), millis=True)
        return [{k: e[k] for k in INVENTORY_OP_FIELDS} for e in events]

    def _new_pairs(self, rng: np.random.Generator, n: int, product_ids: list[str],
                   prob: np.ndarray, store_ids: list[str]) -> list[tuple[str, str]]:
        """Up to ``n`` (product, store) pairs never seen before, popular products first."""
        pairs: list[tuple[str, str]] = []
        for _ in range(50 * n):
            if len(pairs) == n:
                break
            pair = (product_ids[int(rng.choice(len(product_ids), p=prob))], _pick(rng, store_ids))
            if pair not in self.stock and pair not in pairs:
                pairs.append(pair)
        return pairs

    def _event(self, op: str, pair: tuple[str, str], stock: Stock | None) -> dict[str, Any]:
        """An event record (seq and op_ts are stamped later)."""
        return {"op": op, "product_id": pair[0], "store_id": pair[1],
                "quantity_on_hand": stock.quantity_on_hand if stock else None,
                "reorder_point": stock.reorder_point if stock else None}

    def _insert(self, rng: np.random.Generator, pair: tuple[str, str]) -> dict[str, Any]:
        """I: a new pair, or a re-insert of a deleted one."""
        if pair in self.stock:
            self.deleted.remove(pair)
        self.stock[pair] = Stock(int(rng.integers(0, 200)), int(rng.integers(5, 40)))
        self.active.append(pair)
        return self._event("I", pair, self.stock[pair])

    def _delete(self, rng: np.random.Generator, pair: tuple[str, str]) -> dict[str, Any]:
        """D: the pair disappears at the source; half the time the quantities are null."""
        self.stock[pair].active = False
        self.active.remove(pair)
        self.deleted.append(pair)
        return self._event("D", pair, self.stock[pair] if rng.random() < 0.5 else None)

    def _next_change(self, rng: np.random.Generator, product_ids: list[str], prob: np.ndarray,
                     store_ids: list[str]) -> dict[str, Any]:
        """One U (~90 %), D (~4 %), re-insert after D (~3 %) or new pair I."""
        r = rng.random()
        if r >= 0.97 or not self.active:
            fresh = self._new_pairs(rng, 1, product_ids, prob, store_ids)
            if fresh:
                return self._insert(rng, fresh[0])
        if r >= 0.94 and self.deleted:
            return self._insert(rng, _pick(rng, self.deleted))
        if 0.90 <= r < 0.94 and len(self.active) > 1:
            return self._delete(rng, _pick(rng, self.active))
        return self._update(rng, _pick(rng, self.active))

    def _update(self, rng: np.random.Generator, pair: tuple[str, str]) -> dict[str, Any]:
        """U: sales take stock away, restocks add to it, the reorder point moves sometimes."""
        stock = self.stock[pair]
        delta = -int(rng.integers(1, 6)) if rng.random() < 0.7 else int(rng.integers(20, 121))
        stock.quantity_on_hand = max(0, stock.quantity_on_hand + delta)
        if rng.random() < 0.1:
            stock.reorder_point = max(1, stock.reorder_point + int(rng.integers(-5, 6)))
        return self._event("U", pair, stock)


def _arrival(rng: np.random.Generator, events: list[dict]) -> tuple[list[list[dict]], dict[str, int]]:
    """Split events into files and plant late arrivals, local swaps and ~2 % duplicates."""
    n = len(events)
    n_files = max(3, round(n / INVENTORY_EVENTS_PER_FILE))
    files = [list(part) for part in np.array_split(np.array(events, dtype=object), n_files)]
    moved = 0
    for _ in range(_share_count(n, 0.01, minimum_n=1)):
        source = int(rng.integers(1, n_files))
        if files[source]:
            event = files[source].pop(int(rng.integers(len(files[source]))))
            target = files[int(rng.integers(0, source))]
            target.insert(int(rng.integers(0, len(target) + 1)), event)
            moved += 1
    swapped = 0
    for _ in range(_share_count(n, 0.01, minimum_n=1)):
        f = files[int(rng.integers(n_files))]
        if len(f) >= 2:
            i = int(rng.integers(len(f) - 1))
            f[i], f[i + 1] = f[i + 1], f[i]
            swapped += 1
    duplicates = _share_count(n, 0.02, minimum_n=1)
    for event in rng.choice(np.array(events, dtype=object), size=duplicates, replace=False):
        home = next(i for i, f in enumerate(files) if any(e is event for e in f))
        target = files[(home + int(rng.integers(1, n_files))) % n_files]
        target.insert(int(rng.integers(0, len(target) + 1)), dict(event))
    return files, {"moved_to_earlier_file": moved, "swapped_neighbours": swapped,
                   "duplicates": duplicates}


def write_inventory_day(out: Path, seed: int, world: World, source: InventorySource,
                        d: int) -> dict[str, Any]:
    """``inventory_cdc/YYYY/MM/DD/*.json``: the day's CDC events as they arrived."""
    day = world.day(d)
    product_ids, _, prob = catalog_arrays(world.products[d].catalog)
    store_ids = [s.store_id for s in world.stores[d].stores]
    events = source.day_events(d, day, product_ids, prob, store_ids)
    files, stats = _arrival(_rng(seed, "inventory", d, 1), events)
    for k, records in enumerate(files):
        _write_bytes(out / f"inventory_cdc/{_day_dir(day)}/cdc_{day:%Y%m%d}_{k:03d}.json", _jsonl(records))
    ops = Counter(e["op"] for e in events)
    return {"events": len(events) + stats["duplicates"], "unique_events": len(events),
            "files": len(files), "out_of_order": stats["moved_to_earlier_file"] + stats["swapped_neighbours"],
            **stats, "ops": {k: ops.get(k, 0) for k in ("I", "U", "D")},
            "seq_min": events[0]["seq"], "seq_max": events[-1]["seq"]}


# =========================================================================== reviews


def _review(rng: np.random.Generator, review_id: str, day: date, product: Product,
            customer_id: str) -> dict[str, Any]:
    """One valid nested review record."""
    rating = int(rng.choice(5, p=REVIEW_RATING_P)) + 1
    language = REVIEW_LANGUAGES[int(rng.choice(len(REVIEW_LANGUAGES), p=REVIEW_LANGUAGE_P))]
    source = _pick(rng, REVIEW_SOURCES)
    metadata: dict[str, Any] = {"source": source, "language": language}
    if source == "app":
        metadata["app_version"] = _pick(rng, ("4.2.0", "4.3.1", "5.0.0-beta"))
    if rng.random() < 0.1:
        metadata["campaign"] = "post_purchase_email"
    n_images = int(rng.choice(4, p=[0.6, 0.2, 0.12, 0.08]))
    return {
        "review_id": review_id, "product_id": product.product_id, "customer_id": customer_id,
        "rating": rating, "title": _pick(rng, REVIEW_TITLES[rating]),
        "body": _pick(rng, REVIEW_BODIES[language]).format(item=product.subcategory.lower()),
        "review_ts": _iso_z(_day_start(day) + timedelta(seconds=int(rng.integers(0, 86_400)))),
        "verified": bool(rng.random() < 0.75), "helpful_votes": int(rng.geometric(0.35)) - 1,
        "images": [{"url": f"https://img.example.com/reviews/{review_id}/{i + 1}.jpg",
                    "caption": _pick(rng, ("front", "in use", "packaging", "close-up"))}
                   for i in range(n_images)],
        "metadata": metadata,
    }


def _spoil_review(rng: np.random.Generator, record: dict[str, Any], kind: str) -> dict[str, Any] | str:
    """A bad version of a review for ``kind`` (one of REVIEW_DIRT); a str is a raw line."""
    record = dict(record)
    if kind == "rating_out_of_range":
        record["rating"] = _pick(rng, (0, 7))
    elif kind == "rating_type_conflict":
        record["rating"] = "five"
    elif kind == "missing_review_id":
        del record["review_id"]
    else:
        text = json.dumps(record, ensure_ascii=False)
        return text[: len(text) // 2]
    return record


def write_reviews_day(out: Path, seed: int, world: World, d: int) -> dict[str, Any]:
    """``reviews/YYYY/MM/DD/*.json``: nested reviews, ~2 % of them bad (at least one a day)."""
    rng, day = _rng(seed, "reviews", d), world.day(d)
    catalog = world.products[d].catalog
    product_ids, _, prob = catalog_arrays(catalog)
    customer_ids = list(world.customers[d].snapshot)
    n = world.sizes.reviews
    records: list[dict[str, Any] | str] = []
    for i in range(n):
        product = catalog[product_ids[int(rng.choice(len(product_ids), p=prob))]]
        records.append(_review(rng, f"R{day:%Y%m%d}{i:05d}", day, product, _pick(rng, customer_ids)))
    n_bad = max(1, round(0.02 * n))
    kinds = [REVIEW_DIRT[(i + d) % len(REVIEW_DIRT)] for i in range(n_bad)]
    for i, kind in zip(rng.choice(n, size=n_bad, replace=False), kinds):
        records[int(i)] = _spoil_review(rng, records[int(i)], kind)  # type: ignore[arg-type]
    n_files = max(2, round(n / 100))
    for k, part in enumerate(np.array_split(np.arange(n), n_files)):
        path = f"reviews/{_day_dir(day)}/reviews_{day:%Y%m%d}_{k:02d}.json"
        _write_bytes(out / path, _jsonl(records[int(i)] for i in part))
    bad = Counter(kinds)
    return {"records": n, "files": n_files, "bad_records": {k: bad.get(k, 0) for k in REVIEW_DIRT},
            "bad_records_total": n_bad}


# =========================================================================== manifest & driver


def pii_samples(world: World) -> dict[str, list[str]]:
    """Distinct PII values written in the customer snapshots, at most PII_SAMPLE_CAP per kind."""
    kinds = {"emails": "email", "phones": "phone", "first_names": "first_name", "last_names": "last_name"}
    samples: dict[str, dict[str, None]] = {k: {} for k in kinds}
    for customer_day in world.customers:
        for c in customer_day.snapshot.values():
            for kind, attr in kinds.items():
                if len(samples[kind]) < PII_SAMPLE_CAP:
                    samples[kind].setdefault(getattr(c, attr), None)
    return {k: list(v) for k, v in samples.items()}


def _normalise_datasets(datasets: Iterable[str] | str | None) -> list[str]:
    """Validated dataset names in canonical order (all when None)."""
    if datasets is None:
        return list(ALL_DATASETS)
    names = [d.strip() for d in (datasets.split(",") if isinstance(datasets, str) else datasets)]
    unknown = sorted(set(n for n in names if n) - set(ALL_DATASETS))
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; choose from {', '.join(ALL_DATASETS)}")
    return [d for d in ALL_DATASETS if d in names]


def _check_arguments(days: int, scale: float, seed: int, sales_lines_per_day: int | None) -> None:
    """Reject arguments that cannot produce a landing zone, saying what to fix."""
    if days < 1:
        raise ValueError(f"days must be >= 1, got {days}")
    if not scale > 0:
        raise ValueError(f"scale must be > 0, got {scale}")
    if seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed}")
    if sales_lines_per_day is not None and sales_lines_per_day < 1:
        raise ValueError(f"sales_lines_per_day must be >= 1, got {sales_lines_per_day}")


def _summary(dataset: str, entry: dict[str, Any]) -> str:
    """One human line about what was written for a dataset/day."""
    keys = {"sales": "lines", "products": "records", "customers": "count", "stores": "stores",
            "clickstream": "events", "inventory": "events", "reviews": "records"}
    files = entry.get("files", 1)
    n_files = len(files) if isinstance(files, dict) else files
    return f"{entry.get(keys[dataset], 0):,} {keys[dataset]}, {n_files} file(s)"


def generate(out: Path, start_date: date, days: int, scale: float, seed: int,
             datasets: Iterable[str] | str | None = None, sales_lines_per_day: int | None = None,
             verbose: bool = False) -> dict[str, Any]:
    """Write the landing zone under ``out`` and ``out/_manifest.json``; return the manifest.

    Args:
        out: landing root; existing files of the same names are overwritten, nothing removed.
        start_date: first business day (UTC).
        days: number of consecutive days.
        scale: 1.0 = demo volumes (~20k sales lines/day, 2,000 customers, 500 products...).
        seed: non-negative integer; same arguments give byte-identical files.
        datasets: subset of ALL_DATASETS (names or a comma-separated string); None = all.
        sales_lines_per_day: overrides the sales volume (data lines per day, all files).
        verbose: print one progress line per dataset/day to stderr.

    Returns:
        The manifest: ``params``, ``days`` (per ISO date, per dataset) and ``pii_samples``.
    """
    _check_arguments(days, scale, seed, sales_lines_per_day)
    chosen = _normalise_datasets(datasets)
    out = Path(out)
    sizes = sizes_for(scale, sales_lines_per_day)
    world = build_world(seed, sizes, start_date, days)
    inventory = InventorySource(seed, sizes)
    writers: dict[str, Callable[[int], dict[str, Any] | None]] = {
        "stores": lambda d: write_stores_day(out, world, d),
        "products": lambda d: write_products_day(out, world, d),
        "customers": lambda d: write_customers_day(out, world, d),
        "sales": lambda d: write_sales_day(out, seed, world, d, sizes.sales_lines),
        "clickstream": lambda d: write_clickstream_day(out, seed, world, d),
        "inventory": lambda d: write_inventory_day(out, seed, world, inventory, d),
        "reviews": lambda d: write_reviews_day(out, seed, world, d),
    }
    per_day: dict[str, dict[str, Any]] = {}
    for d in range(days):
        entries = per_day.setdefault(world.day(d).isoformat(), {})
        for name in chosen:
            began = time.perf_counter()
            entry = writers[name](d)
            if entry is not None:
                entries[name] = entry
                if verbose:
                    print(f"[generate_data] {world.day(d)} {name:<11} {_summary(name, entry)} "
                          f"({time.perf_counter() - began:.2f}s)", file=sys.stderr)
    manifest = {
        "params": {"start_date": start_date.isoformat(), "days": days, "scale": scale, "seed": seed,
                   "datasets": chosen, "sales_lines_per_day": sizes.sales_lines},
        "days": per_day,
        "pii_samples": pii_samples(world) if "customers" in chosen else {},
    }
    _write_bytes(out / MANIFEST_NAME, (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode())
    return manifest


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    parser = argparse.ArgumentParser(description="Generate a synthetic landing zone (LANDING_CONTRACT.md).")
    parser.add_argument("--out", type=Path, default=Path("data/landing"), help="landing root folder")
    parser.add_argument("--start-date", type=date.fromisoformat, default=date(2024, 1, 15),
                        help="first business day, YYYY-MM-DD")
    parser.add_argument("--days", type=int, default=3)
    parser.add_argument("--scale", type=float, default=1.0, help="1.0 = demo volumes")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--datasets", default=",".join(ALL_DATASETS),
                        help=f"comma-separated subset of {','.join(ALL_DATASETS)}")
    parser.add_argument("--sales-lines", type=int, default=None, help="sales data lines per day")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the process exit code."""
    args = parse_args(argv)
    began = time.perf_counter()
    try:
        generate(args.out, args.start_date, args.days, args.scale, args.seed, args.datasets,
                 args.sales_lines, verbose=not args.quiet)
    except ValueError as err:
        print(f"generate_data: {err}", file=sys.stderr)
        return 2
    if not args.quiet:
        print(f"[generate_data] done in {time.perf_counter() - began:.1f}s -> {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
