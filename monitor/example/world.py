"""The bundled example systems: a WMS and an ERP in SQLite, a shop and a CRM over HTTP.

Small and deterministic, with divergences injected on purpose and written down
as ground truth, so ``syncwatch example`` shows what a probe finds and the
tests can check that it finds exactly those. Timestamps are relative to the
``now`` it is built at. (The richer simulated world comes with ``syncwatch demo``.)
"""

from __future__ import annotations

import random
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

__all__ = ["Injected", "World", "build_world", "ORDER_STATUS_MAP"]

# Shop fulfilment status → the ERP's sales order status.
ORDER_STATUS_MAP = {"UNFULFILLED": "Open", "PARTIALLY_FULFILLED": "Released", "FULFILLED": "Shipped"}

_FIRST_NAMES = ["amelia", "oliver", "isla", "george", "ava", "noah", "freya", "arthur", "lily", "leo"]
_DOMAINS = ["example.co.uk", "mail.example.com", "example.org.uk"]


@dataclass(frozen=True)
class Injected:
    """One divergence put into the world on purpose: what a probe must find."""

    contract: str
    target: str
    key: str
    kind: str
    out_of_budget: bool
    risk_field: str | None = None


@dataclass
class World:
    now: datetime
    directory: Path
    inventory: dict[str, dict[str, Any]] = field(default_factory=dict)  # shop, by SKU
    orders: dict[str, dict[str, Any]] = field(default_factory=dict)  # shop, by order name
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)  # shop, by email
    profiles: list[dict[str, Any]] = field(default_factory=list)  # CRM, Klaviyo-shaped
    truth: list[Injected] = field(default_factory=list)

    @property
    def wms_path(self) -> Path:
        return self.directory / "wms.db"

    @property
    def erp_path(self) -> Path:
        return self.directory / "erp.db"


def _iso(when: datetime) -> str:
    return when.isoformat()


def build_world(directory: Path, now: datetime, seed: int = 7, skus: int = 200, orders: int = 120,
                customers: int = 80) -> World:
    """Write wms.db and erp.db into ``directory``; keep the shop's and CRM's data in memory."""
    rng = random.Random(seed)
    directory.mkdir(parents=True, exist_ok=True)
    world = World(now, directory)
    _stock(world, rng, skus)
    _orders(world, rng, orders)
    _customers(world, rng, customers)
    return world


def _stock(world: World, rng: random.Random, count: int) -> None:
    """WMS owns stock; the shop mirrors it (latency budget 5 minutes)."""
    now = world.now
    rows = []
    skus = [f"{84000 + i * 7}{'ABCDEFG'[i % 7] if i % 3 == 0 else ''}" for i in range(count)]
    special = rng.sample(range(count), 12)
    stale_in_budget, lost, conflict, missing = special[:3], special[3:7], special[7:8], special[8:10]
    for i, sku in enumerate(skus):
        level = rng.randint(0, 400)
        changed = now - timedelta(minutes=rng.randint(20, 60 * 24 * 14))
        shop_level, shop_updated = level, changed + timedelta(seconds=rng.randint(20, 150))
        if i < 30 and i not in special:
            # Recently changed and already synced: these give the probe lag samples.
            changed = now - timedelta(seconds=rng.randint(200, 500))
            shop_updated = changed + timedelta(seconds=rng.randint(15, 120))
        if i in stale_in_budget:  # the WMS changed a minute ago: in flight, not a breach
            changed = now - timedelta(seconds=60)
            shop_level, shop_updated = level + 3, now - timedelta(hours=2)
            world.truth.append(Injected("stock-wms-to-shop", "shop", sku, "stale", False))
        elif i in lost:  # an update lost 40 minutes ago: out of budget
            changed = now - timedelta(minutes=40)
            higher = lost.index(i) < 2
            shop_level = level + 5 if higher else max(0, level - 5) if level >= 5 else level + 7
            shop_updated = now - timedelta(hours=3)
            world.truth.append(
                Injected("stock-wms-to-shop", "shop", sku, "stale", True, "available" if shop_level > level else None)
            )
        elif i in conflict:  # someone wrote the shop's stock after the WMS: an ownership violation
            changed = now - timedelta(hours=1)
            shop_level, shop_updated = level + 20, now - timedelta(minutes=10)
            world.truth.append(Injected("stock-wms-to-shop", "shop", sku, "conflict", True, "available"))
        rows.append((sku, level, _iso(changed)))
        if i in missing:  # never reached the shop
            changed = now - timedelta(hours=6)
            rows[-1] = (sku, level, _iso(changed))
            world.truth.append(Injected("stock-wms-to-shop", "shop", sku, "missing", True))
            continue
        world.inventory[sku] = {"sku": sku, "available": shop_level, "updated_at": _iso(shop_updated)}
    with sqlite3.connect(world.wms_path) as db:
        db.execute("DROP TABLE IF EXISTS stock_levels")
        db.execute("CREATE TABLE stock_levels (sku TEXT PRIMARY KEY, level INTEGER NOT NULL, last_updated TEXT)")
        db.executemany("INSERT INTO stock_levels VALUES (?, ?, ?)", rows)
    db.close()


def _orders(world: World, rng: random.Random, count: int) -> None:
    """The shop owns orders; the ERP receives them as sales orders SO-<n> (budget 15 minutes)."""
    now = world.now
    erp_rows = []
    special = rng.sample(range(count), 5)
    missing, status_stale, total_conflict = special[:2], special[2:4], special[4:5]
    statuses = list(ORDER_STATUS_MAP)
    for i in range(count):
        number = 1001 + i
        name = f"#{number}"
        status = rng.choices(statuses, weights=[3, 1, 6])[0]
        pence = rng.randint(495, 25_000)
        updated = now - timedelta(minutes=rng.randint(30, 60 * 24 * 7))
        world.orders[name] = {
            "name": name,
            "fulfillment_status": status,
            "total": f"{pence / 100:.2f}",
            "updated_at": _iso(updated),
        }
        erp_status, erp_pence = ORDER_STATUS_MAP[status], pence
        erp_modified = updated + timedelta(seconds=rng.randint(30, 300))
        if i in missing:
            world.truth.append(Injected("orders-shop-to-erp", "erp", name, "missing", True))
            continue
        if i in status_stale:  # fulfilled in the shop 2 hours ago; the ERP still has it open
            world.orders[name]["fulfillment_status"] = "FULFILLED"
            world.orders[name]["updated_at"] = _iso(now - timedelta(hours=2))
            erp_status, erp_modified = "Open", now - timedelta(hours=5)
            world.truth.append(Injected("orders-shop-to-erp", "erp", name, "stale", True))
        elif i in total_conflict:  # someone edited the total in the ERP after the shop's last change
            erp_pence, erp_modified = pence + 1000, now - timedelta(minutes=5)
            world.truth.append(Injected("orders-shop-to-erp", "erp", name, "conflict", True, "total"))
        erp_rows.append((f"SO-{number}", name, erp_status, erp_pence, _iso(erp_modified)))
    with sqlite3.connect(world.erp_path) as db:
        db.execute("DROP TABLE IF EXISTS sales_orders")
        db.execute(
            "CREATE TABLE sales_orders (number TEXT PRIMARY KEY, externalDocumentNumber TEXT, status TEXT, "
            "amount_pence INTEGER, lastModifiedDateTime TEXT)"
        )
        db.executemany("INSERT INTO sales_orders VALUES (?, ?, ?, ?, ?)", erp_rows)
    db.close()


def _customers(world: World, rng: random.Random, count: int) -> None:
    """The shop owns marketing consent; the CRM must follow it (budget 1 hour): a compliance risk."""
    now = world.now
    special = rng.sample(range(count), 5)
    unsubscribed_late, duplicate = special[:3], special[3:4]
    for i in range(count):
        email = f"{_FIRST_NAMES[i % len(_FIRST_NAMES)]}.{i:03d}@{_DOMAINS[i % len(_DOMAINS)]}"
        state = "SUBSCRIBED" if rng.random() < 0.6 else "NOT_SUBSCRIBED"
        updated = now - timedelta(hours=rng.randint(2, 24 * 30))
        crm_consent, crm_updated = _klaviyo_consent(state), updated + timedelta(seconds=rng.randint(5, 90))
        if i in unsubscribed_late:  # unsubscribed in the shop two days ago; the CRM still mails them
            state, updated = "UNSUBSCRIBED", now - timedelta(days=2)
            crm_consent, crm_updated = "SUBSCRIBED", now - timedelta(days=20)
            world.truth.append(Injected("consent-shop-to-crm", "crm", email, "stale", True, "email_consent"))
        world.customers[email] = {
            "email": email,
            "email_marketing": {"state": state},
            "updated_at": _iso(updated),
        }
        # Klaviyo keeps emails as typed; some were typed in capitals.
        crm_email = email.upper() if i % 9 == 0 else email
        world.profiles.append(_profile(rng, crm_email, crm_consent, crm_updated))
        if i in duplicate:
            world.profiles.append(_profile(rng, crm_email, crm_consent, crm_updated))
            world.truth.append(Injected("consent-shop-to-crm", "crm", email, "duplicate", True))


def _klaviyo_consent(state: str) -> str:
    return {"SUBSCRIBED": "SUBSCRIBED", "UNSUBSCRIBED": "UNSUBSCRIBED"}.get(state, "NEVER_SUBSCRIBED")


def _profile(rng: random.Random, email: str, consent: str, updated: datetime) -> dict[str, Any]:
    return {
        "type": "profile",
        "id": "01" + "".join(rng.choices("0123456789ABCDEFGHJKMNPQRSTVWXYZ", k=24)),
        "attributes": {
            "email": email,
            "updated": updated.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
            "subscriptions": {"email": {"marketing": {"consent": consent}}},
        },
    }
