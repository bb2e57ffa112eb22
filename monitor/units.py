"""The small value languages of contracts: durations (``5m``), shares (``0.5%``), runs (``2 runs``).

Each is a pydantic ``Annotated`` type, so a contract field declared ``Duration``
accepts ``5m`` or ``90s`` and rejects ``5 minutes`` with a message saying what
would be valid.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

__all__ = [
    "Duration",
    "Share",
    "Runs",
    "parse_duration",
    "parse_share",
    "parse_runs",
    "format_duration",
    "TimeZoneName",
]

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(value: Any) -> timedelta:
    """``"5m"``, ``"1h30m"``, ``"250ms"``, ``"2d"``; a bare number is seconds."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration; use e.g. 30s, 5m, 2h, 1d")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"{value!r} is negative; a duration is 0 or more")
        return timedelta(seconds=value)
    text = str(value).strip().replace(" ", "")
    pos, total = 0, 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if not text or pos != len(text):
        raise ValueError(f"{value!r} is not a duration; use e.g. 30s, 5m, 2h, 1d or 1h30m")
    return timedelta(seconds=total)


def parse_share(value: Any) -> float:
    """``"0.5%"`` → 0.005; a bare number between 0 and 1 is a fraction."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a share; use e.g. 0.5% or 10%")
    if isinstance(value, int | float):
        share = float(value)
    else:
        text = str(value).strip()
        if not text.endswith("%"):
            raise ValueError(f"{value!r} is not a share; use a percentage such as 0.5% or 10%")
        try:
            share = float(text[:-1]) / 100.0
        except ValueError:
            raise ValueError(f"{value!r} is not a share; use a percentage such as 0.5% or 10%") from None
    if not 0.0 <= share <= 1.0:
        raise ValueError(f"{value!r} is outside 0%..100%")
    return share


_RUNS = re.compile(r"^(\d+)\s*(runs?)?$")


def parse_runs(value: Any) -> int:
    """``"2 runs"``, ``"1 run"`` or ``2`` → 2 (at least 1)."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a number of runs; use e.g. 2 runs")
    if isinstance(value, int):
        runs = value
    else:
        match = _RUNS.match(str(value).strip())
        if not match:
            raise ValueError(f"{value!r} is not a number of runs; use e.g. 2 runs")
        runs = int(match.group(1))
    if runs < 1:
        raise ValueError(f"{value!r}: hold must be at least 1 run")
    return runs


def format_duration(seconds: float | timedelta | None) -> str:
    """Short human form: ``4m 05s``, ``3h 20m``, ``2d 4h``; ``-`` for None."""
    if seconds is None:
        return "-"
    if isinstance(seconds, timedelta):
        seconds = seconds.total_seconds()
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {(s % 3600) // 60:02d}m"
    return f"{s // 86400}d {(s % 86400) // 3600}h"


def _dump_duration(value: timedelta) -> str:
    return f"{value.total_seconds():g}s"


Duration = Annotated[timedelta, BeforeValidator(parse_duration), PlainSerializer(_dump_duration)]
Share = Annotated[float, BeforeValidator(parse_share)]
Runs = Annotated[int, BeforeValidator(parse_runs)]


def check_zone_name(value: str) -> str:
    """An IANA time zone name (``UTC``, ``Europe/London``); ``BST`` and friends are not."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(f"unknown time zone {value!r}; use an IANA name such as UTC or Europe/London") from None
    return value


TimeZoneName = Annotated[str, AfterValidator(check_zone_name)]
