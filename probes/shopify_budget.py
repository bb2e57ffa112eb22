"""syncwatch's share of a Shopify shop's GraphQL query-cost budget.

Shopify gives each app and shop a bucket of ``maximumAvailable`` points that
refills at ``restoreRate`` points/s. A query takes its requested cost up front
and gets back the difference to its actual cost; one that does not fit in what
is left is refused (``THROTTLED``). Every response reports the bucket in
``extensions.cost``. ``CostBudget`` keeps two rules before each query:

* **Our share.** A ``TokenBucket`` refilling at ``api_share × restoreRate``
  points/s, holding ``api_share × maximumAvailable``. We reserve the query's
  expected requested cost (at most the bucket's capacity: a query needs no more
  than a full bucket to go, and most of its estimate comes back) and, once the
  response says what it cost, charge the difference to the actual cost (a
  refund when lower). Over time we spend at most our share of the points
  Shopify actually charged.
* **The shop's bucket.** Never send a query Shopify would refuse: when the
  shop's ``currentlyAvailable`` (the last report, refilled at its
  ``restoreRate`` since) is below the query's requested cost, wait
  ``(cost - available) / restoreRate`` first. The integration we watch shares
  that bucket; a throttled monitor would only spend its points on refusals.

The expected requested cost of a query is what Shopify last reported for the
same shape (operation and size), else our estimate (``probes.shopify_queries``),
which is an upper bound. Nothing is known before the first response: the first
query goes unpaced (it costs at most ``max_cost_per_query``) and our bucket
starts with what it spent already taken out.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from probes.ratelimit import TokenBucket

__all__ = ["CostReport", "CostBudget"]

_DUST = 1e-6  # seconds: float error from projecting the refill, not worth a sleep


@dataclass(frozen=True, slots=True)
class CostReport:
    """``extensions.cost`` of one response; a value Shopify left out (or sent null) is None."""

    requested: float | None
    actual: float | None
    maximum: float | None
    available: float | None
    restore_rate: float | None

    @classmethod
    def from_body(cls, body: Any) -> CostReport | None:
        extensions = body.get("extensions") if isinstance(body, dict) else None
        cost = extensions.get("cost") if isinstance(extensions, dict) else None
        if not isinstance(cost, dict):
            return None
        status = cost.get("throttleStatus")
        status = status if isinstance(status, dict) else {}
        return cls(
            _number(cost.get("requestedQueryCost")),
            _number(cost.get("actualQueryCost")),
            _number(status.get("maximumAvailable")),
            _number(status.get("currentlyAvailable")),
            _number(status.get("restoreRate")),
        )


@dataclass(slots=True)
class _ShopBucket:
    maximum: float
    available: float
    restore_rate: float
    at: float  # our monotonic time of the report


class CostBudget:
    """See the module docstring. ``restore_rate`` (points/s), when configured, replaces the
    shop's reported rate for our share; the shop's own bucket is always projected at its own."""

    def __init__(
        self,
        share: float,
        restore_rate: float | None,
        *,
        monotonic: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.share = share
        self.restore_rate = restore_rate
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._bucket: TokenBucket | None = None
        self._shop: _ShopBucket | None = None
        self._requested: dict[Hashable, float] = {}

    @property
    def bucket(self) -> TokenBucket | None:
        """Our share's bucket, once the first response has said how large the shop's is."""
        return self._bucket

    def expected(self, shape: Hashable, estimate: float) -> float:
        """The requested cost Shopify last reported for ``shape``, else ``estimate``."""
        with self._lock:
            return self._requested.get(shape, estimate)

    def before(self, cost: float) -> tuple[float, float]:
        """Wait until a query of requested ``cost`` may go; return (points reserved, seconds waited)."""
        reserved = waited = 0.0
        bucket = self._bucket
        if bucket is not None:
            reserved = min(cost, bucket.capacity)
            waited += bucket.acquire(reserved)
        with self._lock:
            shop = self._shop
            wait = 0.0
            if shop is not None and shop.restore_rate > 0:
                elapsed = max(0.0, self._monotonic() - shop.at)
                available = min(shop.maximum, shop.available + elapsed * shop.restore_rate)
                need = min(cost, shop.maximum)  # a full bucket is the most there will ever be
                wait = max(0.0, need - available) / shop.restore_rate
        if wait > _DUST:
            self._sleep(wait)
            waited += wait
        return reserved, waited

    def after(self, shape: Hashable, reserved: float, report: CostReport | None) -> float:
        """Settle a query that was answered: learn from ``report``, charge our bucket the actual
        cost instead of ``reserved``; return the points Shopify charged. Without a report
        (no answer, or one without cost) the reservation stands: the query may have run."""
        if report is None:
            return 0.0
        actual = report.actual or 0.0  # null when refused (THROTTLED): nothing charged
        with self._lock:
            now = self._monotonic()
            if report.requested is not None:
                self._requested[shape] = report.requested
            maximum, available, rate = report.maximum, report.available, report.restore_rate
            if maximum is not None and available is not None and rate is not None:
                self._shop = _ShopBucket(maximum, available, rate, now)
            if self._bucket is None:
                self._bucket = self._new_bucket()  # full, less this query's cost (nothing was reserved)
            if self._bucket is not None:
                self._bucket.set_available(self._bucket.available + reserved - actual)
        return actual

    def refund(self, reserved: float) -> None:
        """Give back a reservation for a query the shop refused unread (a bare 429)."""
        with self._lock:
            if self._bucket is not None:
                self._bucket.set_available(self._bucket.available + reserved)

    def throttle_wait(self, report: CostReport | None) -> float | None:
        """Seconds until a refused (THROTTLED) query would fit in the shop's bucket, per ``report``."""
        if report is None or report.requested is None or report.available is None or not report.restore_rate:
            return None
        need = report.requested if report.maximum is None else min(report.requested, report.maximum)
        # At least one point's worth: a refusal "nearly" in budget must not burn the attempts at once.
        return max(1.0, need - report.available) / report.restore_rate

    def _new_bucket(self) -> TokenBucket | None:
        shop = self._shop
        rate = self.restore_rate or (shop.restore_rate if shop is not None else None)
        if shop is None or not rate or shop.maximum <= 0 or self.share <= 0:
            return None
        return TokenBucket(
            rate * self.share, shop.maximum * self.share, monotonic=self._monotonic, sleep=self._sleep
        )


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
