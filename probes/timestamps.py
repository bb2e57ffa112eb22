"""Read ``updated_at`` values as systems write them: datetimes, ISO 8601 text, epoch seconds."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from decimal import Decimal

__all__ = ["parse_timestamp"]


def parse_timestamp(value: object, naive_tz: tzinfo = UTC) -> datetime:
    """An aware UTC datetime, or ValueError (whose message never repeats the value).

    Naive values are read in ``naive_tz`` (a system's configured time zone).
    """
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        try:
            parsed = datetime.fromtimestamp(float(value), UTC)
        except (OverflowError, OSError, ValueError):
            raise ValueError("epoch seconds out of range") from None
    elif isinstance(value, str):
        text = value.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValueError("not an ISO 8601 timestamp") from None
    else:
        raise ValueError(f"expected a timestamp, got {type(value).__name__}")
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=naive_tz)
    return parsed.astimezone(UTC)
