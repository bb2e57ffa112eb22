"""Time as a parameter: the core asks a ``Clock``; only the edges build a real one."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol

__all__ = ["Clock", "SystemClock", "FixedClock", "ScaledClock", "ensure_utc"]


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware, UTC."""
        ...


class SystemClock:
    """The wall clock. Built by the CLI and service only, never inside the core."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class FixedClock:
    """A clock that moves only when told to: for tests, replays and the example."""

    def __init__(self, start: datetime) -> None:
        self._now = ensure_utc(start)

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | float) -> None:
        self._now += delta if isinstance(delta, timedelta) else timedelta(seconds=delta)

    def set(self, when: datetime) -> None:
        self._now = ensure_utc(when)

    # Connectors take ``sleep`` and ``monotonic`` callables; a FixedClock offers both
    # so that retry back-off and rate limiting advance simulated time instead of waiting.
    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    def monotonic(self) -> float:
        return self._now.timestamp()


def ensure_utc(value: datetime) -> datetime:
    """Aware UTC datetime; naive values are taken to be UTC."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def monotonic() -> float:
    return time.monotonic()


class ScaledClock:
    """Simulated time running ``speed`` times faster than the wall, from ``start``.

    For the live demo: a few real minutes show an hour of a brand's day. Sleeping
    is scaled too, so rate limits and back-off keep their simulated meaning.
    """

    def __init__(self, start: datetime, speed: float, paused: bool = False) -> None:
        self._start = ensure_utc(start)
        self._t0: float | None = None if paused else time.monotonic()
        self.speed = speed

    def resume(self) -> None:
        """Start a clock made ``paused``: until now it stood at ``start`` (a slow set-up costs no
        simulated time)."""
        if self._t0 is None:
            self._t0 = time.monotonic()

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self.monotonic())

    def monotonic(self) -> float:
        return 0.0 if self._t0 is None else (time.monotonic() - self._t0) * self.speed

    def sleep(self, seconds: float) -> None:
        time.sleep(max(0.0, seconds) / self.speed)
