"""The time rules of alert routing: working hours, maintenance windows, silences.

Pure functions over aware datetimes: nothing here reads the clock, callers pass
``at`` or ``now``. Naive datetimes are refused. Results are aware UTC.

Local times (working hours, cron expressions) are Europe/London wall times.
Where the clocks change, a wall time is read as Python and APScheduler read it
(``fold=0``):

* a time in the hour that does not exist when the clocks go forward
  (01:00-01:59 on the last Sunday of March) is read as GMT, so it lands that
  far past the change: 01:30 is 02:30 BST (01:30 UTC). 02:00 does exist: it is
  the instant of the change (01:00 UTC).
* a time in the hour that happens twice when the clocks go back
  (01:00-01:59 on the last Sunday of October) means its first occurrence (BST),
  for working hours. Cron fire times are APScheduler's: it fires at both
  occurrences, so a maintenance window in that hour opens twice.

Working hours whose ``end`` is not after ``start`` (22:00-06:00) are an overnight
shift: it starts on each listed day and ends on the next day; ``end == start``
is a 24-hour shift. (``WorkingHours`` in the config currently rejects
``end <= start``; the rules here already support it.)
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import cast

from monitor.config.models import WorkingHours, parse_days
from monitor.config.schedule import LONDON, SEARCH_MARGIN, MaintenanceWindow, check_cron, cron_trigger
from monitor.results import BreachKind, Silence

__all__ = [
    "LONDON",
    "in_working_hours",
    "next_working_start",
    "working_time_between",
    "add_working_time",
    "MaintenanceWindow",
    "check_cron",
    "active_window",
    "window_end",
    "silenced",
]


def _utc(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC)


# --- working hours -------------------------------------------------------------------------


def _wall(day: date, at: time) -> datetime:
    """London wall time ``at`` on ``day`` as a UTC instant (``fold=0``: see the module docstring)."""
    return datetime.combine(day, at.replace(tzinfo=None, fold=0), tzinfo=LONDON).astimezone(UTC)


def _shift(hours: WorkingHours, day: date) -> tuple[datetime, datetime]:
    """The shift starting on ``day`` as ``[start, end)`` in UTC (may be empty across a clock change)."""
    end_day = day if hours.end > hours.start else day + timedelta(days=1)
    return _wall(day, hours.start), _wall(end_day, hours.end)


def _shifts_from(hours: WorkingHours, day: date) -> Iterator[tuple[datetime, datetime]]:
    """Non-empty shifts starting on ``day`` or later, in order (they never overlap)."""
    days = parse_days(hours.days)
    while True:
        if day.weekday() in days:
            start, end = _shift(hours, day)
            if start < end:
                yield start, end
        day += timedelta(days=1)


def _first_day(at: datetime) -> date:
    # An overnight shift that started the previous local day may still be running.
    return at.astimezone(LONDON).date() - timedelta(days=1)


def in_working_hours(hours: WorkingHours, at: datetime) -> bool:
    """Whether ``at`` falls in a shift ``[start, end)`` of ``hours``."""
    at = _utc(at, "at")
    for start, end in _shifts_from(hours, _first_day(at)):
        if end > at:
            return start <= at
    raise AssertionError("unreachable: _shifts_from never ends")


def next_working_start(hours: WorkingHours, at: datetime) -> datetime:
    """The first instant at or after ``at`` inside working hours (``at`` itself when already inside), UTC."""
    at = _utc(at, "at")
    for start, end in _shifts_from(hours, _first_day(at)):
        if end > at:
            return max(start, at)
    raise AssertionError("unreachable: _shifts_from never ends")


def working_time_between(hours: WorkingHours, start: datetime, end: datetime) -> timedelta:
    """How much of ``[start, end)`` is working time (elapsed time, not wall-clock difference)."""
    start, end = _utc(start, "start"), _utc(end, "end")
    total = timedelta(0)
    for shift_start, shift_end in _shifts_from(hours, _first_day(start)):
        if shift_start >= end:
            break
        overlap = min(shift_end, end) - max(shift_start, start)
        if overlap > timedelta(0):
            total += overlap
    return total


def add_working_time(hours: WorkingHours, start: datetime, amount: timedelta) -> datetime:
    """The instant by which ``amount`` of working time has passed since ``start`` (UTC)."""
    start = _utc(start, "start")
    if amount < timedelta(0):
        raise ValueError(f"amount must not be negative, got {amount}")
    remaining = amount
    if not remaining:
        return start
    for shift_start, shift_end in _shifts_from(hours, _first_day(start)):
        if shift_end <= start:
            continue
        begin = max(shift_start, start)
        if remaining <= shift_end - begin:
            return begin + remaining
        remaining -= shift_end - begin
    raise AssertionError("unreachable: _shifts_from never ends")


# --- maintenance windows -------------------------------------------------------------------

def _occurrence(window: MaintenanceWindow, at: datetime) -> tuple[datetime, datetime] | None:
    """The latest ``[fire, fire + duration)`` containing ``at`` (UTC), if any."""
    trigger = cron_trigger(window.cron)
    since = at - window.duration
    fire = cast("datetime | None", trigger.get_next_fire_time(None, (since - SEARCH_MARGIN).astimezone(LONDON)))
    latest: datetime | None = None
    # Follow the trigger from fire to fire, as a scheduler does (previous fire time given):
    # asking afresh from an arbitrary instant can skip fires APScheduler puts in a DST gap.
    while fire is not None and fire.astimezone(UTC) <= at:
        if fire.astimezone(UTC) > since:
            latest = fire.astimezone(UTC)
        fire = cast("datetime | None", trigger.get_next_fire_time(fire, fire))
    if latest is None:
        return None
    return latest, latest + window.duration


def window_end(window: MaintenanceWindow, at: datetime) -> datetime | None:
    """When the occurrence of ``window`` containing ``at`` ends (UTC); None when ``at`` is outside it.

    With overlapping occurrences, the one that started last.
    """
    found = _occurrence(window, _utc(at, "at"))
    return found[1] if found else None


def active_window(windows: Iterable[MaintenanceWindow], at: datetime) -> MaintenanceWindow | None:
    """The window ``at`` falls in, or None; of several, the one whose occurrence ends last.

    Scope is the caller's: pass only windows that ``applies_to`` the breach.
    """
    at = _utc(at, "at")
    best: tuple[datetime, MaintenanceWindow] | None = None
    for window in windows:
        found = _occurrence(window, at)
        if found and (best is None or found[1] > best[0]):
            best = (found[1], window)
    return best[1] if best else None


# --- silences ------------------------------------------------------------------------------


def silenced(
    silences: Iterable[Silence], contract: str, target: str, kind: BreachKind, at: datetime
) -> Silence | None:
    """The silence muting this breach at ``at`` (``Silence.matches``), or None; of several, the
    one ending last."""
    at = _utc(at, "at")
    best: Silence | None = None
    for silence in silences:
        if silence.matches(contract, target, kind, at) and (best is None or silence.ends_at > best.ends_at):
            best = silence
    return best
