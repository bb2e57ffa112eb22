"""Rate limits and traffic counters shared by the simulated APIs, on an injected clock.

A simulator admits a request only if every one of its windows has room
(Klaviyo: 75 a second *and* 750 a minute); otherwise it answers 429 with
``Retry-After``. Windows are fixed and aligned to the clock (a minute window
starts at :00), so the wait is exact: the seconds until the fullest window
resets, rounded up to whole seconds as ``Retry-After`` is sent. Refused
requests do not count against the windows. Time comes from the clock the
simulated world runs on, so a connector that sleeps on the same fake clock
really does wait the window out.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.clock import Clock

__all__ = ["Window", "WindowLimiter", "TrafficCounters", "STORM_RETRY_AFTER"]

# What a simulator in a ``rate_storm`` asks clients to wait: under syncwatch's default
# ``retries.max_retry_after`` (120s), so the connector retries and then gives up as RateLimited.
STORM_RETRY_AFTER = 30


@dataclass(frozen=True)
class Window:
    """At most ``limit`` requests in each fixed window of ``seconds``."""

    limit: int
    seconds: int

    def __post_init__(self) -> None:
        if self.limit < 1 or self.seconds < 1:
            raise ValueError(f"a window needs limit >= 1 and seconds >= 1, not {self}")


class WindowLimiter:
    """Counts admitted requests in fixed windows; ``admit`` says whether one more fits."""

    def __init__(self, clock: Clock, windows: Sequence[Window]) -> None:
        self._clock = clock
        self._windows = tuple(windows)
        self._starts = [-math.inf] * len(self._windows)
        self._counts = [0] * len(self._windows)
        self._lock = threading.Lock()

    def admit(self) -> int | None:
        """None when the request is admitted (and counted); else the ``Retry-After`` seconds."""
        now = self._clock.now().timestamp()
        with self._lock:
            waits: list[float] = []
            for i, window in enumerate(self._windows):
                start = math.floor(now / window.seconds) * window.seconds
                if start != self._starts[i]:
                    self._starts[i], self._counts[i] = start, 0
                if self._counts[i] >= window.limit:
                    waits.append(start + window.seconds - now)
            if waits:
                return max(1, math.ceil(max(waits)))
            for i in range(len(self._windows)):
                self._counts[i] += 1
            return None


class TrafficCounters:
    """What a simulator was asked: requests and 429s by endpoint, and every status sent.

    Endpoints are labelled by their route template (``GET /api/Order/Search``),
    so counts stay few and comparable however the requests were parameterised.
    """

    def __init__(self) -> None:
        self.requests: Counter[str] = Counter()
        self.throttled: Counter[str] = Counter()
        self.statuses: Counter[int] = Counter()
        self._lock = threading.Lock()

    def record(self, endpoint: str, status: int) -> None:
        with self._lock:
            self.requests[endpoint] += 1
            self.statuses[status] += 1
            if status == 429:
                self.throttled[endpoint] += 1

    @property
    def total(self) -> int:
        with self._lock:
            return sum(self.requests.values())
