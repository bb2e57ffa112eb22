"""How the simulated APIs write times, each in its own wire format, cached for the world's UTC times.

The world keeps times in UTC and reads of the same record format the same instants again and
again; a cache keyed by the (UTC) datetime is safe because equal UTC values print alike.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime

__all__ = ["wire_format"]


def wire_format(render: Callable[[datetime], str], keep_offset: bool = False) -> Callable[[datetime | None], str | None]:
    """A formatter: None stays None; the world's UTC times go through a cache; any other time is
    converted to UTC first, unless ``keep_offset`` (then rendered as it is)."""
    cached = functools.lru_cache(maxsize=1 << 16)(render)

    def fmt(value: datetime | None) -> str | None:
        if value is None:
            return None
        if value.tzinfo is UTC:
            return cached(value)
        return render(value if keep_offset else value.astimezone(UTC))

    return fmt
