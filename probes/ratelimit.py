"""A token bucket that keeps syncwatch inside its share of a system's API rate limit.

Why ours and not a library: it must run on an injected clock (``monotonic`` and
``sleep`` come from the ``ConnectorContext``, so tests and the demo replay pass a
fake clock and nothing waits), and it must be resynced from what a server
reports about its own bucket (Shopify's ``throttleStatus.currentlyAvailable``)
through ``set_available``. A library would have to offer both, and none is
installed for it; the algorithm is a few lines.

``acquire`` reserves first and then waits out the debt: the bucket may go
below zero, and the caller sleeps until it would be back at zero. That keeps
``acquire`` to one ``sleep`` call and makes it terminate even with a ``sleep``
that does not move the clock.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

__all__ = ["TokenBucket"]


class TokenBucket:
    """``rate_per_second`` tokens refill continuously up to ``capacity``; a request costs tokens.

    The bucket starts full. ``acquire(cost)`` returns the seconds it waited
    (0.0 when tokens were there). Safe to share between threads: the
    bookkeeping is locked, the waiting is not.
    """

    def __init__(
        self,
        rate_per_second: float,
        capacity: float,
        *,
        monotonic: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError(f"rate_per_second must be positive, not {rate_per_second!r}")
        if capacity <= 0:
            raise ValueError(f"capacity must be positive, not {capacity!r}")
        self.rate_per_second = float(rate_per_second)
        self.capacity = float(capacity)
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._updated = monotonic()

    @property
    def available(self) -> float:
        """Tokens available now (negative while earlier reservations are being waited out)."""
        with self._lock:
            self._refill()
            return self._tokens

    def acquire(self, cost: float = 1.0) -> float:
        """Take ``cost`` tokens, sleeping until they are there; return the seconds waited."""
        if cost < 0:
            raise ValueError(f"cost must be 0 or more, not {cost!r}")
        with self._lock:
            self._refill()
            self._tokens -= cost
            wait = -self._tokens / self.rate_per_second if self._tokens < 0 else 0.0
        if wait > 0:
            self._sleep(wait)
        return wait

    def set_available(self, tokens: float) -> None:
        """Resync from server-reported state: ``tokens`` are available as of now (capped at capacity)."""
        with self._lock:
            self._tokens = min(float(tokens), self.capacity)
            self._updated = self._monotonic()

    def _refill(self) -> None:
        now = self._monotonic()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate_per_second)
        self._updated = now
