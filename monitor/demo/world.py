"""The demo world: a shop, a WMS, an ERP and a CRM kept in sync by integrations with real lag.

Time is simulated: ``advance_to(t)`` runs every event due up to ``t`` (orders
arriving at the real retailer's rhythm, picks and despatches, restocks,
consent changes, syncs landing, faults starting and ending). Each sync between
systems draws its lag from a log-normal distribution and is recorded, with
its true lag, in the ground truth. The simulators serve ``state``; the ERP is
a SQLite file shaped like Business Central's API entities.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from functools import partial
from pathlib import Path
from zoneinfo import ZoneInfo

from monitor.demo.catalogue import Catalogue
from monitor.demo.faults import FaultSpec
from monitor.demo.state import (
    Fulfillment,
    Profile,
    ShopCustomer,
    ShopOrder,
    Variant,
    WmsOrder,
    WmsStock,
    WorldState,
)
from monitor.demo.truth import Change, FaultRecord, GroundTruth

__all__ = ["LagModel", "FLOWS", "DemoWorld"]

LONDON = ZoneInfo("Europe/London")
_FIRST = ["Amelia", "Oliver", "Isla", "George", "Ava", "Noah", "Freya", "Arthur", "Lily", "Leo", "Mia", "Harry",
          "Sophia", "Jack", "Grace", "Alfie", "Evie", "Oscar", "Ella", "Charlie"]
_LAST = ["Smith", "Jones", "Taylor", "Brown", "Williams", "Wilson", "Johnson", "Davies", "Patel", "Wright",
         "Walker", "Thompson", "Evans", "Roberts", "Khan", "Green", "Hall", "Wood", "Clarke", "Hughes"]
_DOMAINS = ["example.co.uk", "example.com", "example.org.uk", "mail.example.net"]


@dataclass(frozen=True)
class LagModel:
    """Log-normal sync lag given by its median and 95th percentile, in seconds."""

    median_s: float
    p95_s: float

    def draw(self, rng: random.Random) -> float:
        sigma = math.log(self.p95_s / self.median_s) / 1.6448536269514722
        return self.median_s * math.exp(rng.gauss(0.0, sigma))


# flow → (contract, target system, lag)
FLOWS: dict[str, tuple[str, str, LagModel]] = {
    "stock": ("stock-wms-to-shopify", "shopify", LagModel(40, 150)),
    "orders_erp": ("orders-shopify-to-erp", "erp", LagModel(90, 300)),
    "orders_wms": ("orders-shopify-to-wms", "wms", LagModel(45, 180)),
    "fulfilment": ("fulfilment-wms-to-shopify", "shopify", LagModel(60, 240)),
    "consent": ("consent-shopify-to-crm", "crm", LagModel(60, 300)),
}
_CRM_ORDER_LAG = LagModel(120, 600)  # fulfilment status on to the CRM (no contract watches it)

_ERP_SCHEMA = """
CREATE TABLE IF NOT EXISTS salesOrders (
  number TEXT PRIMARY KEY, externalDocumentNumber TEXT NOT NULL, status TEXT NOT NULL,
  fullyShipped INTEGER NOT NULL, totalAmountIncludingTax TEXT NOT NULL, currencyCode TEXT NOT NULL,
  lastModifiedDateTime TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS salesOrders_modified ON salesOrders (lastModifiedDateTime);
CREATE TABLE IF NOT EXISTS items (
  number TEXT PRIMARY KEY, displayName TEXT NOT NULL, inventory INTEGER NOT NULL, unitPrice TEXT NOT NULL,
  lastModifiedDateTime TEXT NOT NULL);
"""


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class DemoWorld:
    def __init__(
        self,
        directory: Path,
        start: datetime,
        catalogue: Catalogue,
        timeline: list[FaultSpec],
        seed: int = 1,
        customers: int = 400,
        warmup: timedelta = timedelta(days=2),
    ) -> None:
        # The world runs ``warmup`` before ``start`` so that orders, despatches and their
        # syncs are already in flight when the monitor first looks, as in a real shop.
        self.start = start - warmup
        self.now = self.start
        self.rng = random.Random(seed)
        self.catalogue = catalogue
        self.state = WorldState()
        self.truth = GroundTruth()
        for name, (contract, target, _) in FLOWS.items():
            self.truth.flow(name, contract, target)
        directory.mkdir(parents=True, exist_ok=True)
        self.erp_path = directory / "erp.db"
        self.erp_path.unlink(missing_ok=True)
        self._erp = sqlite3.connect(self.erp_path, check_same_thread=False)
        self._erp.executescript(_ERP_SCHEMA)
        self._queue: list[tuple[datetime, int, Callable[[datetime], None]]] = []
        self._seq = itertools.count()
        self._ids = itertools.count(5_000_000_001)
        self._order_number = itertools.count(1001)
        self._last_apply: dict[tuple[str, str], datetime] = {}
        self._delays: dict[str, float] = {}  # flow -> extra seconds while a delay fault is on
        self._drops: dict[str, float] = {}  # flow -> share of updates lost
        self._mapping_bug = False
        self._hour_scheduled: datetime | None = None
        self._populate(customers)
        for spec in timeline:
            self._schedule(start + spec.start, partial(self._fault_start, spec))
            self._schedule(start + spec.start + spec.duration, partial(self._fault_end, spec))
        self._schedule_daily(self.start)
        self.advance_to(start)

    # -- running -----------------------------------------------------------------------------------

    def advance_to(self, until: datetime) -> None:
        """Run every event due up to ``until`` (inclusive), in time order."""
        with self.state.lock:
            self._schedule_arrivals(until)
            while self._queue and self._queue[0][0] <= until:
                when, _, action = heapq.heappop(self._queue)
                self.now = max(self.now, when)
                action(when)
            self.now = max(self.now, until)
            self._erp.commit()

    def close(self) -> None:
        self._erp.close()

    def out_of_budget(self, flow: str, latency_s: float) -> tuple[int, int]:
        """True (out of budget, population) for a flow right now: no sampling, the whole truth."""
        return self.truth.flows[flow].out_of_budget(self.now, latency_s), self._population(flow)

    def _population(self, flow: str) -> int:
        shop, wms = self.state.shopify, self.state.wms
        return {
            "stock": len(wms.stock),
            "orders_erp": len(shop.orders),
            "orders_wms": len(shop.orders),
            "fulfilment": len(wms.orders),
            "consent": len(shop.customers),
        }[flow]

    # -- the initial world -------------------------------------------------------------------------

    def _populate(self, customers: int) -> None:
        t0 = self.start - timedelta(days=1)
        for i, product in enumerate(self.catalogue.products):
            weeks = self.rng.uniform(2.0, 6.0)
            level = max(3, int(product.weekly_units * weeks))
            updated = t0 - timedelta(minutes=self.rng.randint(0, 60 * 24 * 20))
            self.state.wms.stock[product.sku] = WmsStock(100_000 + i, product.sku, level, updated)
            synced = updated + timedelta(seconds=FLOWS["stock"][2].draw(self.rng))
            self.state.shopify.variants[product.sku] = Variant(
                id=40_000_000_000 + i, product_id=8_000_000_000 + i, inventory_item_id=45_000_000_000 + i,
                sku=product.sku, title=product.description, price=product.price, available=level,
                updated_at=t0 - timedelta(days=60), inventory_updated_at=synced,
            )
            self._erp.execute(
                "INSERT INTO items VALUES (?, ?, ?, ?, ?)",
                (product.sku, product.description, level, str(product.price), _iso(updated)),
            )
        for _ in range(customers):
            self._new_customer(t0 - timedelta(minutes=self.rng.randint(0, 60 * 24 * 300)), synced=True)

    def _new_customer(self, at: datetime, synced: bool) -> ShopCustomer:
        rng = self.rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        email = f"{first.lower()}.{last.lower()}{rng.randint(1, 9999)}@{rng.choice(_DOMAINS)}"
        while email in self.state.shopify.customers:
            email = f"{first.lower()}.{last.lower()}{rng.randint(1, 99999)}@{rng.choice(_DOMAINS)}"
        state = "SUBSCRIBED" if rng.random() < 0.35 else "NOT_SUBSCRIBED"
        customer = ShopCustomer(
            id=next(self._ids), email=email, first_name=first, last_name=last,
            country=self.catalogue.draw_country(rng), created_at=at, updated_at=at,
            marketing_state=state, marketing_updated_at=at,
        )
        self.state.shopify.customers[email] = customer
        if synced:
            self.state.crm.profiles.append(self._profile(customer, at + timedelta(seconds=40)))
        else:
            self._sync("consent", email, at, partial(self._crm_consent, customer))
        return customer

    def _profile(self, customer: ShopCustomer, at: datetime) -> Profile:
        ulid = "01J" + "".join(self.rng.choices("0123456789ABCDEFGHJKMNPQRSTVWXYZ", k=23))
        # Some shoppers typed their email in capitals when the CRM first saw them.
        email = customer.email.upper() if self.rng.random() < 0.05 else customer.email
        return Profile(ulid, email, customer.first_name, customer.last_name, at, at,
                       consent=_crm_consent(customer.marketing_state), consent_timestamp=at)

    # -- scheduling --------------------------------------------------------------------------------

    def _schedule(self, when: datetime, action: Callable[[datetime], None]) -> None:
        heapq.heappush(self._queue, (when, next(self._seq), action))

    def _schedule_arrivals(self, until: datetime) -> None:
        """Orders arrive as a Poisson process at the retailer's hourly rhythm, an hour at a time."""
        hour = self._hour_scheduled or self.start.replace(minute=0, second=0, microsecond=0)
        while hour <= until:
            rate = self.catalogue.arrival_rate(hour.astimezone(LONDON))
            for _ in range(_poisson(self.rng, rate)):
                self._schedule(hour + timedelta(seconds=self.rng.uniform(0, 3600)), self._order_arrives)
            hour += timedelta(hours=1)
        self._hour_scheduled = hour

    def _schedule_daily(self, day: datetime) -> None:
        """Goods-in at 09:00 and cycle counts through the day, London time, every day of the run."""
        local = day.astimezone(LONDON).replace(hour=9, minute=0, second=0, microsecond=0)
        for offset in range(0, 16):
            when = (local + timedelta(days=offset)).astimezone(self.start.tzinfo)
            self._schedule(when, self._goods_in)
            for _ in range(20):
                self._schedule(when + timedelta(minutes=self.rng.uniform(0, 600)), self._cycle_count)
            for _ in range(6):
                self._schedule(when + timedelta(minutes=self.rng.uniform(-540, 840)), self._consent_change)

    def _sync(self, flow: str, key: str, at: datetime, apply: Callable[[datetime], None],
              *, wrong: Callable[[datetime], None] | None = None) -> Change:
        """A change in a source, carried to its target after the flow's lag (unless lost)."""
        truth = self.truth.flows[flow]
        change = truth.changed(key, at)
        if self.rng.random() < self._drops.get(flow, 0.0):
            return change  # lost for good: the target never hears of it
        lag = FLOWS[flow][2].draw(self.rng) + self._delays.get(flow, 0.0)
        due = max(at + timedelta(seconds=lag), self._last_apply.get((flow, key), at))
        self._last_apply[(flow, key)] = due
        buggy = wrong is not None and self._mapping_bug

        def land(t: datetime) -> None:
            if buggy and wrong is not None:
                # A wrong value is not the change arriving: it stays pending (its true lag runs
                # on until a correct write lands) and the target is wrong meanwhile.
                wrong(t)
                truth.corrupted(key, t)
            else:
                apply(t)
                truth.applied(change, t)

        self._schedule(due, land)
        return change

    # -- business events ---------------------------------------------------------------------------

    def _order_arrives(self, at: datetime) -> None:
        shop = self.state.shopify
        rng = self.rng
        if shop.customers and rng.random() < 0.6:
            customer = shop.customers[rng.choice(list(shop.customers))]
        else:
            customer = self._new_customer(at, synced=False)
        lines = self.catalogue.draw_lines(rng)
        total = sum((shop.variants[s].price * q for s, q in lines if s in shop.variants), Decimal("0"))
        name = f"#{next(self._order_number)}"
        order = ShopOrder(next(self._ids), name, customer.email, at, at, at, total.quantize(Decimal("0.01")), lines)
        shop.orders[name] = order
        self._sync("orders_erp", name, at, partial(self._erp_order, order))
        self._sync("orders_wms", name, at, partial(self._wms_order, order))

    def _erp_order(self, order: ShopOrder, at: datetime) -> None:
        shipped = 1 if order.display_fulfillment_status == "FULFILLED" else 0
        self._erp.execute(
            "INSERT INTO salesOrders VALUES (?, ?, 'Open', ?, ?, 'GBP', ?) ON CONFLICT(number) DO UPDATE SET "
            "fullyShipped = excluded.fullyShipped, lastModifiedDateTime = excluded.lastModifiedDateTime",
            (f"SO-{order.name[1:]}", order.name, shipped, str(order.total), _iso(at)),
        )

    def _erp_status(self, name: str, status: str, at: datetime) -> None:
        if status == "FULFILLED":
            self._erp_shipped(name, at)

    def _erp_shipped(self, name: str, at: datetime) -> None:
        self._erp.execute(
            "UPDATE salesOrders SET fullyShipped = 1, status = 'Released', lastModifiedDateTime = ? WHERE number = ?",
            (_iso(at), f"SO-{name[1:]}"),
        )

    def _wms_order(self, order: ShopOrder, at: datetime) -> None:
        wms = self.state.wms
        wms.orders[order.name] = WmsOrder(
            id=next(self._ids), order_number=order.name, external_order_reference=str(order.id),
            order_status_id=1, order_date=at, last_updated=at, email=order.email, lines=list(order.lines),
        )
        for sku, qty in order.lines:  # allocation takes the stock at once
            self._stock_change(sku, -qty, at)
        pick = self._next_working_time(at + timedelta(minutes=self.rng.uniform(30, 240)))
        self._schedule(pick, partial(self._wms_status, order.name, 15))
        picked = pick + timedelta(minutes=self.rng.uniform(10, 90))
        self._schedule(picked, partial(self._wms_status, order.name, 17))
        self._schedule(picked + timedelta(minutes=self.rng.uniform(10, 60)), partial(self._despatch, order.name))

    def _next_working_time(self, when: datetime) -> datetime:
        """The warehouse picks Monday to Saturday, 07:00 to 19:00 London time."""
        local = when.astimezone(LONDON)
        if local.weekday() != 6 and 7 <= local.hour < 19:
            return when
        start = local.replace(hour=7, minute=30, second=0, microsecond=0)
        if local.hour >= 7:
            start += timedelta(days=1)
        while start.weekday() == 6:
            start += timedelta(days=1)
        return start.astimezone(when.tzinfo)

    def _wms_status(self, name: str, status: int, at: datetime) -> None:
        order = self.state.wms.orders[name]
        order.order_status_id, order.last_updated = status, at

    def _despatch(self, name: str, at: datetime) -> None:
        order = self.state.wms.orders[name]
        order.order_status_id, order.last_updated, order.despatch_date = 4, at, at
        order.courier = self.rng.choice(["Royal Mail", "DPD", "Evri"])
        order.tracking_number = f"{order.courier[:2].upper()}{self.rng.randint(10**9, 10**10 - 1)}GB"
        self._sync("fulfilment", name, at, partial(self._shop_fulfil, order, "FULFILLED"),
                   wrong=partial(self._shop_fulfil, order, "PARTIALLY_FULFILLED"))

    def _shop_fulfil(self, wms_order: WmsOrder, status: str, at: datetime) -> None:
        order = self.state.shopify.orders[wms_order.order_number]
        if not order.fulfillments:
            order.fulfillments.append(Fulfillment(
                next(self._ids), "SUCCESS", "FULFILLED", at, at, wms_order.courier, wms_order.tracking_number,
            ))
        was = order.display_fulfillment_status
        order.display_fulfillment_status, order.updated_at = status, at
        if was != status:
            self._sync("orders_erp", order.name, at,
                       partial(self._erp_status, order.name, status))
            self._crm_last_order(order, at)

    def _crm_last_order(self, order: ShopOrder, at: datetime) -> None:
        due = at + timedelta(seconds=_CRM_ORDER_LAG.draw(self.rng))

        def land(t: datetime) -> None:
            for profile in self.state.crm.profiles:
                if profile.email.casefold() == order.email:
                    profile.last_order, profile.last_order_status = order.name, order.display_fulfillment_status
                    profile.updated = t

        self._schedule(due, land)

    def _stock_change(self, sku: str, delta: int, at: datetime) -> None:
        stock = self.state.wms.stock.get(sku)
        if stock is None:
            return
        stock.level = max(0, stock.level + delta)
        stock.last_updated = at
        level = stock.level
        self._sync("stock", sku, at, partial(self._shop_stock, sku, level))

    def _shop_stock(self, sku: str, level: int, at: datetime) -> None:
        variant = self.state.shopify.variants[sku]
        variant.available, variant.inventory_updated_at = level, at

    def _goods_in(self, at: datetime) -> None:
        if at.astimezone(LONDON).weekday() >= 5:
            return
        for product in self.catalogue.products:
            stock = self.state.wms.stock[product.sku]
            if stock.level < product.weekly_units:
                self._stock_change(product.sku, max(6, int(product.weekly_units * 4)), at)

    def _cycle_count(self, at: datetime) -> None:
        sku = self.rng.choice(self.catalogue.products).sku
        self._stock_change(sku, self.rng.choice([-3, -2, -1, 1, 2]), at)

    def _consent_change(self, at: datetime) -> None:
        customers = self.state.shopify.customers
        customer = customers[self.rng.choice(list(customers))]
        new = "UNSUBSCRIBED" if customer.marketing_state == "SUBSCRIBED" else "SUBSCRIBED"
        customer.marketing_state, customer.marketing_updated_at, customer.updated_at = new, at, at
        self._sync("consent", customer.email, at, partial(self._crm_consent_value, customer, new))

    def _crm_consent(self, customer: ShopCustomer, at: datetime) -> None:
        self._crm_consent_value(customer, customer.marketing_state, at)

    def _crm_consent_value(self, customer: ShopCustomer, shop_state: str, at: datetime) -> None:
        found = [p for p in self.state.crm.profiles if p.email.casefold() == customer.email]
        if not found:
            self.state.crm.profiles.append(self._profile(customer, at))
            return
        for profile in found:
            profile.consent, profile.consent_timestamp, profile.updated = _crm_consent(shop_state), at, at

    # -- faults ------------------------------------------------------------------------------------

    def _fault_start(self, spec: FaultSpec, at: datetime) -> None:
        params = spec.params
        contract, target, breach, keys = self._fault_subject(spec)
        if spec.kind == "delay":
            self._delays[str(params["flow"])] = float(params["extra_s"])
        elif spec.kind == "drop":
            self._drops[str(params["flow"])] = float(params["share"])
        elif spec.kind == "mapping_bug":
            self._mapping_bug = True
        elif spec.kind == "rogue_writer":
            keys = self._rogue_write(int(params["count"]), at)
        elif spec.kind == "duplicates":
            keys = self._duplicate_profiles(int(params["count"]), at)
        elif spec.kind == "schema_change":
            self.state.faults.renamed[(str(params["system"]), str(params["entity"]))] = (str(params["old"]), str(params["new"]))
        elif spec.kind == "outage":
            self.state.faults.outage.add(str(params["system"]))
        elif spec.kind == "rate_storm":
            self.state.faults.rate_storm.add(str(params["system"]))
        self.truth.faults.append(FaultRecord(
            spec.name, spec.kind, contract, target, at, at + spec.duration, spec.description, breach, keys,
            system=str(params["system"]) if "system" in params else None,
        ))

    def _fault_end(self, spec: FaultSpec, at: datetime) -> None:
        params = spec.params
        if spec.kind == "delay":
            self._delays.pop(str(params["flow"]), None)
        elif spec.kind == "drop":
            self._drops.pop(str(params["flow"]), None)
        elif spec.kind == "mapping_bug":
            self._mapping_bug = False
            self._backfill_fulfilment(at)
        elif spec.kind == "rogue_writer":
            record = next(f for f in self.truth.faults if f.name == spec.name)
            for sku in record.keys:  # the brand's fix: a full re-sync of those SKUs
                self._stock_change(sku, 0, at)
        elif spec.kind == "duplicates":
            self._remove_duplicates(at)
        elif spec.kind == "schema_change":
            self.state.faults.renamed.pop((str(params["system"]), str(params["entity"])), None)
        elif spec.kind == "outage":
            self.state.faults.outage.discard(str(params["system"]))
        elif spec.kind == "rate_storm":
            self.state.faults.rate_storm.discard(str(params["system"]))

    def _fault_subject(self, spec: FaultSpec) -> tuple[str, str, str, list[str]]:
        """Which contract and target a fault hurts, and the breach it should raise."""
        by_flow = {name: (c, t) for name, (c, t, _) in FLOWS.items()}
        kind, params = spec.kind, spec.params
        if kind in ("delay", "drop"):
            contract, target = by_flow[str(params["flow"])]
            return contract, target, "out_of_budget", []
        if kind == "mapping_bug":
            # The sync itself writes the wrong status, within its usual lag: a target
            # behind the source, out of budget once older than the budget (not a conflict).
            return *by_flow["fulfilment"], "out_of_budget", []
        if kind == "rogue_writer":
            return *by_flow["stock"], "conflict", []
        if kind == "duplicates":
            return *by_flow["consent"], "out_of_budget", []
        if kind == "schema_change":
            return *by_flow["stock"], "schema_change", []
        if kind == "outage":
            return "stock-wms-to-shopify", "shopify", "probe_failing", []
        return "consent-shopify-to-crm", "crm", "probe_failing", []

    def _rogue_write(self, count: int, at: datetime) -> list[str]:
        skus = self.rng.sample(sorted(self.state.shopify.variants), count)
        rows = dict(self._erp.execute("SELECT number, inventory FROM items").fetchall())
        flow = self.truth.flows["stock"]
        for sku in skus:
            variant = self.state.shopify.variants[sku]
            wms_level = self.state.wms.stock[sku].level
            erp_level = int(rows.get(sku, 0))
            variant.available = erp_level if erp_level != wms_level else wms_level + 25
            variant.inventory_updated_at = at
            flow.corrupted(sku, at)
        return skus

    def _duplicate_profiles(self, count: int, at: datetime) -> list[str]:
        profiles = self.state.crm.profiles
        chosen = self.rng.sample(range(len(profiles)), count)
        keys = []
        flow = self.truth.flows["consent"]
        for index in chosen:
            original = profiles[index]
            copy = replace(original, id="01J" + "".join(self.rng.choices("0123456789ABCDEFGHJKMNPQRSTVWXYZ", k=23)),
                           created=at, updated=at)
            profiles.append(copy)
            key = original.email.casefold()
            keys.append(key)
            flow.corrupted(key, at)
        return keys

    def _remove_duplicates(self, at: datetime) -> None:
        seen: set[str] = set()
        kept = []
        for profile in self.state.crm.profiles:
            key = profile.email.casefold()
            if key in seen:
                self.truth.flows["consent"].repaired(key)
                continue
            seen.add(key)
            kept.append(profile)
        self.state.crm.profiles[:] = kept

    def _backfill_fulfilment(self, at: datetime) -> None:
        for wms_order in self.state.wms.orders.values():
            order = self.state.shopify.orders.get(wms_order.order_number)
            if order is not None and order.display_fulfillment_status == "PARTIALLY_FULFILLED":
                self._sync("fulfilment", order.name, at, partial(self._shop_fulfil, wms_order, "FULFILLED"))


def _crm_consent(shop_state: str) -> str:
    return {"SUBSCRIBED": "SUBSCRIBED", "UNSUBSCRIBED": "UNSUBSCRIBED"}.get(shop_state, "NEVER_SUBSCRIBED")


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: fine for the small hourly means of a shop's order stream."""
    if mean <= 0:
        return 0
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
