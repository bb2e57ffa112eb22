"""Recurring times in the configuration: cron expressions in Europe/London and maintenance windows.

Kept apart from ``monitor.alerting.calendar`` (the routing rules over them) so that the config
models can use them without importing the routing code.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.cron import CronTrigger
from pydantic import Field, field_validator

from monitor.units import Duration
from probes.base import StrictModel

__all__ = ["LONDON", "SEARCH_MARGIN", "MaintenanceWindow", "check_cron", "cron_trigger"]

LONDON = ZoneInfo("Europe/London")

_CRON_FIELDS = (
    ("minute", "minute"),
    ("hour", "hour"),
    ("day", "day of month"),
    ("month", "month"),
    ("day_of_week", "day of week"),
)
# Only to ask whether an expression ever fires; cron has no year, so any fixed start will do.
_CRON_PROBE_FROM = datetime(2000, 1, 1, tzinfo=UTC)
# How far before ``at - duration`` the fire-time search starts: far enough to start before a
# spring-forward gap, so that a fire time in the missing hour (which APScheduler puts up to an
# hour after the change) is found as it is when the trigger is followed from one fire to the next.
SEARCH_MARGIN = timedelta(hours=2)


def check_cron(expr: str) -> str:
    """Validate a 5-field crontab expression with APScheduler; the error names the faulty field."""
    parts = expr.split()
    if len(parts) != 5:
        raise ValueError(
            f"cron {expr!r} has {len(parts)} field(s); expected 5 (minute hour day-of-month month day-of-week),"
            " e.g. '0 2 * * *'"
        )
    if any(ch.isdigit() for ch in parts[4]):
        raise ValueError(
            f"cron {expr!r}: write the day of week as names (e.g. mon-fri or sat,sun), not numbers:"
            " APScheduler 3 counts 0 as Monday where crontab counts 0 as Sunday"
        )
    for (name, label), part in zip(_CRON_FIELDS, parts, strict=True):
        try:
            CronTrigger(**{name: part}, timezone=LONDON)
        except ValueError as err:
            raise ValueError(f"cron {expr!r}: {label} field {part!r} is not valid: {err}") from None
    try:
        trigger = CronTrigger.from_crontab(expr, timezone=LONDON)
    except ValueError as err:
        raise ValueError(f"cron {expr!r} is not valid: {err}") from None
    if trigger.get_next_fire_time(None, _CRON_PROBE_FROM) is None:
        raise ValueError(f"cron {expr!r} never fires (no date matches its day and month)")
    return expr


@lru_cache(maxsize=256)
def cron_trigger(expr: str) -> Any:
    return CronTrigger.from_crontab(expr, timezone=LONDON)


class MaintenanceWindow(StrictModel):
    """A recurring window, ``[fire, fire + duration)`` for each fire time of ``cron`` (Europe/London).

    ``contracts`` and ``systems`` narrow what it covers; empty means all.
    """

    name: str = Field(min_length=1)
    cron: str
    duration: Duration
    contracts: list[str] = Field(default_factory=list)
    systems: list[str] = Field(default_factory=list)

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        return check_cron(value)

    @field_validator("duration")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("duration must be more than 0, e.g. 45m")
        return value

    def applies_to(self, contract: str, systems: Iterable[str]) -> bool:
        """Whether the window covers ``contract`` with the given systems (source and targets)."""
        if self.contracts and contract not in self.contracts:
            return False
        return not self.systems or not set(self.systems).isdisjoint(systems)


