"""Fault timelines for the demo world: what goes wrong, when, and what the monitor should say.

A ``FaultSpec`` is relative to the world's start; the world turns it into
protocol faults (for the simulators), changed sync behaviour (delays, drops,
wrong values) or direct writes (a rogue writer, duplicate profiles), and
records it in the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

__all__ = ["FaultSpec", "week_timeline", "live_timeline"]


@dataclass(frozen=True)
class FaultSpec:
    name: str
    kind: str  # delay, drop, rogue_writer, mapping_bug, duplicates, schema_change, outage, rate_storm
    start: timedelta
    duration: timedelta
    description: str
    params: dict[str, float | str] = field(default_factory=dict)


def _at(day: int, hour: int, minute: int = 0) -> timedelta:
    return timedelta(days=day, hours=hour, minutes=minute)


def week_timeline() -> list[FaultSpec]:
    """One fault of each kind across a simulated week starting on a Monday, 00:00 London."""
    return [
        FaultSpec("stock-sync-delayed", "delay", _at(0, 10), timedelta(hours=2),
                  "the WMS→Shopify stock sync runs 20 minutes late", {"flow": "stock", "extra_s": 1200}),
        FaultSpec("stock-updates-dropped", "drop", _at(1, 14), timedelta(hours=3),
                  "the stock sync silently drops 60% of updates (lost for good)", {"flow": "stock", "share": 0.6}),
        FaultSpec("erp-overwrites-stock", "rogue_writer", _at(2, 9, 30), timedelta(hours=1),
                  "the ERP writes its own stock figures into Shopify for 15 SKUs", {"count": 15}),
        FaultSpec("fulfilment-status-mapping-bug", "mapping_bug", _at(2, 13), timedelta(hours=2),
                  "despatched orders reach Shopify as PARTIALLY_FULFILLED", {"flow": "fulfilment"}),
        FaultSpec("crm-duplicate-profiles", "duplicates", _at(3, 11), timedelta(hours=4),
                  "a CRM import creates duplicate profiles for 12 customers", {"count": 12}),
        FaultSpec("wms-field-renamed", "schema_change", _at(4, 10), timedelta(minutes=40),
                  "the WMS API renames Level to Quantity", {"system": "wms", "entity": "stock", "old": "Level", "new": "Quantity"}),
        FaultSpec("wms-outage", "outage", _at(4, 15), timedelta(minutes=30),
                  "the WMS API answers 503", {"system": "wms"}),
        FaultSpec("crm-rate-limit-storm", "rate_storm", _at(5, 12), timedelta(minutes=10),
                  "the CRM answers 429 to everything (another app eats its rate limit)", {"system": "crm"}),
        FaultSpec("erp-order-sync-delayed", "delay", _at(5, 20), timedelta(hours=3),
                  "orders reach the ERP 45 minutes late (its nightly batch overruns)", {"flow": "orders_erp", "extra_s": 2700}),
    ]


def live_timeline() -> list[FaultSpec]:
    """A short story for `syncwatch demo`: drift, breaches and recoveries within minutes.

    Starting at 11:00 on a weekday (orders arriving at the retailer's real late-morning
    rate): a rogue writer at +3 min (a conflict, breached at once, repaired at +8), and
    a stock sync running 15 minutes late from +1 to +14 min (out of budget from about
    +10, a breach after two runs, caught up by about +30).
    """
    return [
        FaultSpec("stock-sync-delayed", "delay", timedelta(minutes=1), timedelta(minutes=13),
                  "the WMS→Shopify stock sync runs 15 minutes late", {"flow": "stock", "extra_s": 900}),
        FaultSpec("erp-overwrites-stock", "rogue_writer", timedelta(minutes=3), timedelta(minutes=5),
                  "the ERP writes its own stock figures into Shopify for 20 SKUs", {"count": 20}),
    ]
