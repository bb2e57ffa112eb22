"""The demo world's real-data catalogue: products, customers' countries and the order rhythm.

``load_catalogue()`` reads ``monitor/demo/data/catalogue.json``, an extract of a real
UK online retailer's order lines (2010-12-01..2011-12-09, CC0; see the README next to
it and ``scripts/make_catalogue.py``). The helpers turn it into the draws the world
generator needs: how many orders to expect in an hour, what an order contains and
where its customer lives. Draws take a ``random.Random`` so a seeded world replays.
"""

from __future__ import annotations

import json
from bisect import bisect_right
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import cache, cached_property
from importlib import resources
from itertools import accumulate
from random import Random
from typing import Any
from zoneinfo import ZoneInfo

__all__ = ["MAX_LINES", "MAX_UNITS", "Catalogue", "Product", "load_catalogue", "parse_catalogue"]

MAX_LINES = 40  # the real tail runs to hundreds of lines; a demo order stops here
MAX_UNITS = 24  # the real p99 is 100 (wholesale buyers); a demo line stops here
LONDON = "Europe/London"
_TAIL = "20+"


@dataclass(frozen=True)
class Product:
    """A best seller. ``lines``: its order lines in the source year, the popularity weight."""

    sku: str
    description: str
    price: Decimal
    weekly_units: float
    lines: int = 1


@dataclass(frozen=True)
class Catalogue:
    """The extract as typed values.

    ``rhythm[weekday][hour]`` (Monday = 0, Europe/London local hours) is the share of a
    week's orders arriving in that hour; the 168 shares sum to 1. ``invoices_per_day``
    is the mean over days that had orders; the retailer took none on Saturdays, so a
    week has ``trading_days`` (6) of them.
    """

    products: tuple[Product, ...]
    countries: dict[str, float]
    rhythm: tuple[tuple[float, ...], ...]
    invoices_per_day: float
    lines_per_order: dict[str, float]
    units_per_line: dict[str, float]
    cancellation_share: float

    @property
    def trading_days(self) -> int:
        """Weekdays on which any orders arrive."""
        return sum(1 for day in self.rhythm if any(share > 0 for share in day))

    @property
    def invoices_per_week(self) -> float:
        """Expected orders in a week: ``invoices_per_day × trading_days``."""
        return self.invoices_per_day * self.trading_days

    def arrival_rate(self, at: datetime) -> float:
        """Expected orders per hour in the Europe/London local hour containing ``at``.

        ``invoices_per_week × rhythm[weekday][hour]``: summed over the 168 hours of a
        week this is ``invoices_per_day × trading_days``. (A week with a clock change
        has 167 or 169 local hours, so its total is off by that hour's rate.)
        """
        if at.tzinfo is None or at.utcoffset() is None:
            raise ValueError(f"arrival_rate needs an aware datetime, got naive {at.isoformat()}")
        local = at.astimezone(ZoneInfo(LONDON))
        return self.invoices_per_week * self.rhythm[local.weekday()][local.hour]

    def draw_country(self, rng: Random) -> str:
        """A customer's country, weighted by the real customer shares (may be "Other")."""
        names, cumulative = self._country_weights
        return names[_pick(rng, cumulative)]

    def draw_lines(self, rng: Random) -> list[tuple[str, int]]:
        """An order's lines as ``(sku, units)``: distinct SKUs, most popular most often.

        The line count follows ``lines_per_order`` ("20+" is uniform over 20..MAX_LINES,
        and no order has more lines than the catalogue has products); units follow
        ``units_per_line``, rounded and clamped to 1..MAX_UNITS.
        """
        buckets, bucket_weights = self._bucket_weights
        bucket = buckets[_pick(rng, bucket_weights)]
        count = rng.randint(20, MAX_LINES) if bucket == _TAIL else int(bucket)
        count = min(count, len(self.products))
        cumulative = self._popularity
        chosen: dict[str, int] = {}
        while len(chosen) < count:
            # Rejection keeps the weights honest; orders are small next to the catalogue.
            sku = self.products[_pick(rng, cumulative)].sku
            if sku not in chosen:
                chosen[sku] = self._draw_units(rng)
        return list(chosen.items())

    def _draw_units(self, rng: Random) -> int:
        # Piecewise-linear inverse CDF through the stored quantiles, 1 unit at p0.
        points = self._unit_points
        u = rng.random()
        for (p0, q0), (p1, q1) in zip(points, points[1:]):
            if u <= p1:
                units = q0 + (q1 - q0) * (u - p0) / (p1 - p0)
                break
        else:
            units = points[-1][1]
        return max(1, min(MAX_UNITS, int(units + 0.5)))

    @cached_property
    def _popularity(self) -> list[float]:
        return list(accumulate(float(product.lines) for product in self.products))

    @cached_property
    def _country_weights(self) -> tuple[list[str], list[float]]:
        names = sorted(self.countries)
        return names, list(accumulate(self.countries[name] for name in names))

    @cached_property
    def _bucket_weights(self) -> tuple[list[str], list[float]]:
        buckets = sorted(self.lines_per_order, key=lambda b: int(b.rstrip("+")))
        return buckets, list(accumulate(self.lines_per_order[b] for b in buckets))

    @cached_property
    def _unit_points(self) -> list[tuple[float, float]]:
        quantiles = sorted((int(name[1:]) / 100, value) for name, value in self.units_per_line.items())
        return [(0.0, 1.0), *quantiles, (1.0, quantiles[-1][1])]


def _pick(rng: Random, cumulative: list[float]) -> int:
    """An index drawn with the weights whose running totals are ``cumulative``."""
    return min(bisect_right(cumulative, rng.random() * cumulative[-1]), len(cumulative) - 1)


def parse_catalogue(data: dict[str, Any]) -> Catalogue:
    """The catalogue from the decoded JSON document."""
    return Catalogue(
        products=tuple(
            Product(
                sku=item["sku"],
                description=item["description"],
                price=Decimal(item["price"]),
                weekly_units=float(item["weekly_units"]),
                lines=int(item["lines"]),
            )
            for item in data["skus"]
        ),
        countries={name: float(share) for name, share in data["countries"].items()},
        rhythm=tuple(tuple(float(share) for share in day) for day in data["rhythm"]),
        invoices_per_day=float(data["invoices_per_day"]),
        lines_per_order={name: float(share) for name, share in data["lines_per_order"].items()},
        units_per_line={name: float(value) for name, value in data["units_per_line"].items()},
        cancellation_share=float(data["cancellation_share"]),
    )


@cache
def load_catalogue() -> Catalogue:
    """The shipped catalogue (read once, then cached; treat it as read-only)."""
    # Anchored on ``monitor``, a regular package, so this works whether or not
    # ``monitor.demo`` ships an ``__init__``.
    path = resources.files("monitor") / "demo" / "data" / "catalogue.json"
    text = path.read_text(encoding="utf-8")
    return parse_catalogue(json.loads(text))
