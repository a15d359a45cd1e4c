"""Deterministic sample data for the source database (same sizes + same RNG seed → same rows)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aladia_etl.source.schema import LIFECYCLE

FIRST_NAMES = (
    "Ada",
    "Alan",
    "Grace",
    "Edsger",
    "Barbara",
    "Donald",
    "Margaret",
    "Ken",
    "Frances",
    "Dennis",
    "Radia",
    "John",
    "Sophie",
    "Linus",
    "Hedy",
    "Tim",
    "Karen",
    "Guido",
    "Anita",
    "Niklaus",
)
LAST_NAMES = (
    "Lovelace",
    "Turing",
    "Hopper",
    "Dijkstra",
    "Liskov",
    "Knuth",
    "Hamilton",
    "Thompson",
    "Allen",
    "Ritchie",
    "Perlman",
    "McCarthy",
    "Wilson",
    "Torvalds",
    "Lamarr",
    "Berners-Lee",
    "Jones",
    "Rossum",
    "Borg",
    "Wirth",
)
COUNTRIES = ("DE", "FR", "IT", "ES", "NL", "PL", "SE", "US", "GB", "JP")
CATEGORIES = {
    "Electronics": (20, 900),
    "Books": (5, 60),
    "Home": (10, 300),
    "Garden": (8, 250),
    "Toys": (5, 120),
    "Sports": (10, 400),
    "Beauty": (4, 90),
    "Grocery": (1, 40),
}
ADJECTIVES = ("Smart", "Classic", "Compact", "Deluxe", "Eco", "Ultra", "Mini", "Pro", "Vintage", "Essential")
NOUNS = {
    "Electronics": ("Headphones", "Speaker", "Monitor", "Keyboard", "Camera", "Router"),
    "Books": ("Novel", "Cookbook", "Atlas", "Guide", "Anthology", "Biography"),
    "Home": ("Lamp", "Blanket", "Kettle", "Vase", "Clock", "Shelf"),
    "Garden": ("Hose", "Planter", "Shears", "Lantern", "Bench", "Rake"),
    "Toys": ("Puzzle", "Robot", "Kite", "Blocks", "Doll", "Train"),
    "Sports": ("Racket", "Ball", "Helmet", "Mat", "Bottle", "Gloves"),
    "Beauty": ("Serum", "Cream", "Brush", "Balm", "Soap", "Mask"),
    "Grocery": ("Coffee", "Tea", "Olive Oil", "Honey", "Pasta", "Chocolate"),
}
STATUS_PATH = ("pending", "paid", "shipped", "delivered")


@dataclass(frozen=True)
class SeedSpec:
    customers: int = 200
    products: int = 50
    orders: int = 1000
    days: int = 30
    rng_seed: int = 42


def money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def customer_row(rng: random.Random, serial: int, created_at: datetime) -> tuple:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    email = f"{first}.{last}{serial}@example.com".lower()
    return (f"{first} {last}", email, rng.choice(COUNTRIES), None, created_at, created_at)


def product_row(rng: random.Random, created_at: datetime) -> tuple:
    category = rng.choice(list(CATEGORIES))
    low, high = CATEGORIES[category]
    name = f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS[category])}"
    return (name, category, money(rng.uniform(low, high)), created_at, created_at)


def final_status(rng: random.Random, age_days: float) -> str:
    """Older orders have travelled further along the lifecycle."""
    if rng.random() < 0.06:
        return "cancelled"
    steps = min(3, int(age_days / 2) + rng.randint(0, 1))
    status = STATUS_PATH[steps]
    if status == "delivered" and rng.random() < 0.04:
        status = "refunded"
    assert status in LIFECYCLE
    return status


def generate(spec: SeedSpec, now: datetime | None = None) -> dict[str, list[tuple]]:
    """Rows per table, in insertion order; ids are assigned by the database in that order (1, 2, ...)."""
    rng = random.Random(spec.rng_seed)
    now = (now or datetime.now(UTC)).replace(microsecond=0)
    start = now - timedelta(days=spec.days)

    def moment() -> datetime:
        return start + timedelta(seconds=rng.uniform(0, spec.days * 86400))

    customers = [customer_row(rng, i + 1, start) for i in range(spec.customers)]
    products = [product_row(rng, start) for _ in range(spec.products)]
    prices = [p[2] for p in products]
    orders: list[tuple] = []
    items: list[tuple] = []
    created = sorted(moment() for _ in range(spec.orders))
    for order_id, created_at in enumerate(created, start=1):
        lines = []
        for _ in range(rng.choices((1, 2, 3, 4), weights=(40, 30, 20, 10))[0]):
            product_index = rng.randrange(len(products))
            quantity = rng.choices((1, 2, 3, 5), weights=(60, 25, 10, 5))[0]
            lines.append((order_id, product_index + 1, quantity, prices[product_index], created_at, created_at))
        total = sum((line[3] * line[2] for line in lines), Decimal("0.00"))
        status = final_status(rng, (now - created_at).total_seconds() / 86400)
        customer_id = rng.randint(1, spec.customers)
        orders.append((customer_id, status, total, created_at, created_at))
        items.extend(lines)
    return {"customers": customers, "products": products, "orders": orders, "order_items": items}


COLUMNS = {
    "customers": ("name", "email", "country", "notes", "created_at", "updated_at"),
    "products": ("name", "category", "price", "created_at", "updated_at"),
    "orders": ("customer_id", "status", "total_amount", "created_at", "updated_at"),
    "order_items": ("order_id", "product_id", "quantity", "unit_price", "created_at", "updated_at"),
}
