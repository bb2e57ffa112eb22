"""Alert-routing time rules across the Europe/London clock changes of 2026.

Calendar used below (worked out by hand):
    Fri 27 Mar, Sat 28 Mar, Sun 29 Mar: clocks go forward at 01:00 UTC (01:00 GMT -> 02:00 BST),
    Mon 30 Mar. Fri 23 Oct, Sat 24 Oct, Sun 25 Oct: clocks go back at 01:00 UTC
    (02:00 BST -> 01:00 GMT), Mon 26 Oct. London = UTC in winter (GMT), UTC+1 in summer (BST).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta, timezone

import pytest
from pydantic import ValidationError

from monitor.alerting.calendar import (
    MaintenanceWindow,
    active_window,
    add_working_time,
    in_working_hours,
    next_working_start,
    silenced,
    window_end,
    working_time_between,
)
from monitor.config.models import WorkingHours
from monitor.results import BreachKind, Silence

BST = timezone(timedelta(hours=1))


def utc(month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, second, tzinfo=UTC)


def overnight(days: str, start: time, end: time) -> WorkingHours:
    # The config model rejects end <= start today; the calendar rules support it.
    return WorkingHours.model_construct(days=days, start=start, end=end)


OFFICE = WorkingHours(days="mon-fri", start=time(9, 0), end=time(17, 30))
EVERY_DAY_8_TO_6 = WorkingHours(days="mon-sun", start=time(8, 0), end=time(18, 0))


# --- working hours -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        # Sat 28 Mar, GMT: 08:00 London is 08:00 UTC.
        (utc(3, 28, 7, 59), False),
        (utc(3, 28, 8, 0), True),
        (utc(3, 28, 17, 59), True),
        (utc(3, 28, 18, 0), False),
        # Sun 29 Mar, BST from 01:00 UTC: 08:00 London is 07:00 UTC, 18:00 is 17:00 UTC.
        (utc(3, 29, 6, 59), False),
        (utc(3, 29, 7, 0), True),
        (utc(3, 29, 16, 59), True),
        (utc(3, 29, 17, 0), False),
        # Sat 24 Oct, BST: 08:00 London is 07:00 UTC.
        (utc(10, 24, 6, 59), False),
        (utc(10, 24, 7, 0), True),
        # Sun 25 Oct, GMT from 01:00 UTC: 08:00 London is 08:00 UTC again.
        (utc(10, 25, 7, 30), False),
        (utc(10, 25, 8, 0), True),
        (utc(10, 25, 17, 59), True),
        (utc(10, 25, 18, 0), False),
    ],
)
def test_working_hours_follow_london_time_on_both_change_days(at: datetime, expected: bool) -> None:
    assert in_working_hours(EVERY_DAY_8_TO_6, at) is expected


def test_other_offsets_are_converted_not_misread() -> None:
    # 08:30+01:00 is 07:30 UTC: before 08:00 GMT on Sat 28 Mar.
    assert not in_working_hours(EVERY_DAY_8_TO_6, datetime(2026, 3, 28, 8, 30, tzinfo=BST))
    # 08:30+01:00 on Sun 29 Mar is 08:30 BST: inside.
    assert in_working_hours(EVERY_DAY_8_TO_6, datetime(2026, 3, 29, 8, 30, tzinfo=BST))


def test_a_0900_to_1730_day_on_a_change_day_keeps_its_length() -> None:
    hours = WorkingHours(days="sun", start=time(9), end=time(17, 30))
    # 09:00 BST = 08:00 UTC to 17:30 BST = 16:30 UTC: 8h30m, as any day (the change, at 01:00 UTC,
    # is outside these hours; the shifts that straddle it are tested below).
    assert working_time_between(hours, utc(3, 29), utc(3, 30)) == timedelta(hours=8, minutes=30)
    assert next_working_start(hours, utc(3, 29)) == utc(3, 29, 8, 0)
    # Autumn: 09:00 GMT = 09:00 UTC to 17:30 GMT = 17:30 UTC.
    assert working_time_between(hours, utc(10, 25), utc(10, 26)) == timedelta(hours=8, minutes=30)
    assert next_working_start(hours, utc(10, 25)) == utc(10, 25, 9, 0)
    # The Sunday before the spring change is all GMT: 09:00-17:30 UTC.
    assert next_working_start(hours, utc(3, 22)) == utc(3, 22, 9, 0)


def test_weekend_is_outside_office_hours_and_the_next_start_is_monday() -> None:
    assert not in_working_hours(OFFICE, utc(3, 28, 12))  # Saturday noon
    assert not in_working_hours(OFFICE, utc(3, 29, 12))  # Sunday noon
    # Fri 27 Mar 18:00 GMT -> Mon 30 Mar 09:00 BST = 08:00 UTC.
    assert next_working_start(OFFICE, utc(3, 27, 18)) == utc(3, 30, 8, 0)
    # Fri 23 Oct 17:00 UTC = 18:00 BST -> Mon 26 Oct 09:00 GMT = 09:00 UTC.
    assert next_working_start(OFFICE, utc(10, 23, 17)) == utc(10, 26, 9, 0)
    # Inside working hours the answer is the instant itself: Mon 30 Mar 10:00 UTC = 11:00 BST.
    assert next_working_start(OFFICE, utc(3, 30, 10)) == utc(3, 30, 10)
    # Fri 17:00-17:30 UTC (GMT) plus Mon 08:00-09:00 UTC (09:00-10:00 BST).
    assert working_time_between(OFFICE, utc(3, 27, 17), utc(3, 30, 9)) == timedelta(hours=1, minutes=30)


def test_end_of_day_is_exclusive() -> None:
    # Fri 27 Mar 17:30 GMT = 17:30 UTC.
    assert in_working_hours(OFFICE, utc(3, 27, 17, 29, 59))
    assert not in_working_hours(OFFICE, utc(3, 27, 17, 30))


def test_overnight_shift_is_shorter_in_spring_and_longer_in_autumn() -> None:
    nights = overnight("sat", time(22), time(6))
    # Sat 28 Mar 22:00 GMT = 22:00 UTC to Sun 29 Mar 06:00 BST = 05:00 UTC: 7 hours.
    assert working_time_between(nights, utc(3, 28), utc(3, 30)) == timedelta(hours=7)
    assert in_working_hours(nights, utc(3, 28, 22))
    assert in_working_hours(nights, utc(3, 29, 4, 59))
    assert not in_working_hours(nights, utc(3, 29, 5))  # 06:00 BST
    assert not in_working_hours(nights, utc(3, 29, 21, 30))  # Sunday night: not a listed day
    # Sat 24 Oct 22:00 BST = 21:00 UTC to Sun 25 Oct 06:00 GMT = 06:00 UTC: 9 hours.
    assert working_time_between(nights, utc(10, 24), utc(10, 26)) == timedelta(hours=9)
    assert in_working_hours(nights, utc(10, 24, 21))
    assert in_working_hours(nights, utc(10, 25, 5, 59))
    assert not in_working_hours(nights, utc(10, 25, 6))
    # The shift belongs to the day it starts: from Sunday morning the next one is next Saturday.
    assert next_working_start(nights, utc(10, 25, 6)) == utc(10, 31, 22)  # 31 Oct is GMT


def test_end_equal_to_start_is_a_24_hour_shift_of_23_or_25_hours_on_change_days() -> None:
    sundays = overnight("sun", time(0), time(0))
    # Sun 29 Mar 00:00 GMT = 00:00 UTC to Mon 00:00 BST = Sun 23:00 UTC.
    assert working_time_between(sundays, utc(3, 23), utc(3, 31)) == timedelta(hours=23)
    assert not in_working_hours(sundays, utc(3, 29, 23, 30))  # 00:30 BST Monday
    # Sun 25 Oct 00:00 BST = Sat 23:00 UTC to Mon 00:00 GMT = 00:00 UTC.
    assert working_time_between(sundays, utc(10, 19), utc(10, 27)) == timedelta(hours=25)
    assert in_working_hours(sundays, utc(10, 24, 23))
    assert not in_working_hours(sundays, utc(10, 24, 22, 59))


def test_start_time_in_the_missing_hour_is_read_as_gmt() -> None:
    # 01:30 does not exist on 29 Mar; read as GMT it is 01:30 UTC = 02:30 BST.
    early = WorkingHours(days="sun", start=time(1, 30), end=time(5))
    assert next_working_start(early, utc(3, 29)) == utc(3, 29, 1, 30)
    assert not in_working_hours(early, utc(3, 29, 1, 15))  # 02:15 BST
    assert in_working_hours(early, utc(3, 29, 1, 30))
    # Until 05:00 BST = 04:00 UTC: 2h30m.
    assert working_time_between(early, utc(3, 29), utc(3, 30)) == timedelta(hours=2, minutes=30)


def test_start_time_in_the_repeated_hour_is_its_first_occurrence() -> None:
    # 01:30 happens twice on 25 Oct; the first is 01:30 BST = 00:30 UTC. 03:00 GMT = 03:00 UTC.
    early = WorkingHours(days="sun", start=time(1, 30), end=time(3))
    assert next_working_start(early, utc(10, 25)) == utc(10, 25, 0, 30)
    assert not in_working_hours(early, utc(10, 25, 0, 29))
    assert working_time_between(early, utc(10, 25), utc(10, 26)) == timedelta(hours=2, minutes=30)


@pytest.mark.parametrize(
    "hours",
    [OFFICE, EVERY_DAY_8_TO_6, overnight("fri-sun", time(22), time(6)), overnight("sat,sun", time(1, 30), time(1, 30))],
)
def test_in_working_hours_agrees_with_next_working_start(hours: WorkingHours) -> None:
    for start in (utc(3, 27), utc(10, 23)):
        for step in range(4 * 24 * 4):  # every 15 minutes over four days
            at = start + timedelta(minutes=15 * step)
            assert in_working_hours(hours, at) is (next_working_start(hours, at) == at), at


def test_add_working_time_skips_the_weekend() -> None:
    # Fri 27 Mar 17:00 UTC + 1h: 30m on Friday, 30m from Mon 08:00 UTC (09:00 BST).
    assert add_working_time(OFFICE, utc(3, 27, 17), timedelta(hours=1)) == utc(3, 30, 8, 30)
    assert add_working_time(OFFICE, utc(3, 28, 12), timedelta(0)) == utc(3, 28, 12)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        in_working_hours(OFFICE, datetime(2026, 3, 30, 10))


# --- maintenance windows -------------------------------------------------------------------


def window(cron: str, duration: str = "45m", name: str = "erp-nightly") -> MaintenanceWindow:
    return MaintenanceWindow.model_validate({"name": name, "cron": cron, "duration": duration})


ERP = window("0 2 * * *")


@pytest.mark.parametrize(
    ("at", "active"),
    [
        # 10 Mar (GMT): 02:00-02:45 UTC.
        (utc(3, 10, 1, 59), False),
        (utc(3, 10, 2, 0), True),
        (utc(3, 10, 2, 44, 59), True),
        (utc(3, 10, 2, 45), False),
        # 15 Jun (BST): 02:00-02:45 BST = 01:00-01:45 UTC.
        (utc(6, 15, 0, 59), False),
        (utc(6, 15, 1, 0), True),
        (utc(6, 15, 1, 44), True),
        (utc(6, 15, 1, 45), False),
    ],
)
def test_nightly_window_is_in_london_time(at: datetime, active: bool) -> None:
    assert (active_window([ERP], at) is ERP) is active


def test_0200_window_on_the_spring_change_starts_at_the_change() -> None:
    # 02:00 London does exist on 29 Mar: it is 02:00 BST, the instant of the change, 01:00 UTC.
    # (It is 01:00-01:59 that is missing.)
    assert active_window([ERP], utc(3, 29, 0, 59)) is None
    assert active_window([ERP], utc(3, 29, 1, 0)) is ERP
    assert window_end(ERP, utc(3, 29, 1, 30)) == utc(3, 29, 1, 45)
    assert active_window([ERP], utc(3, 29, 1, 45)) is None


def test_window_in_the_missing_hour_opens_that_far_past_the_change() -> None:
    # 01:00 does not exist on 29 Mar; read as GMT it is 01:00 UTC (02:00 BST, the change itself).
    one = window("0 1 * * *")
    assert active_window([one], utc(3, 29, 0, 59)) is None
    assert window_end(one, utc(3, 29, 1, 0)) == utc(3, 29, 1, 45)
    # 01:30 read as GMT is 01:30 UTC (02:30 BST). A 5-minute window: 01:30-01:35 UTC.
    half_past = window("30 1 * * *", "5m")
    assert active_window([half_past], utc(3, 29, 1, 29)) is None
    assert window_end(half_past, utc(3, 29, 1, 32)) == utc(3, 29, 1, 35)
    assert active_window([half_past], utc(3, 29, 1, 35)) is None
    # Either side of the change the same cron is 01:30 GMT = 01:30 UTC and 01:30 BST = 00:30 UTC.
    assert window_end(half_past, utc(3, 28, 1, 31)) == utc(3, 28, 1, 35)
    assert window_end(half_past, utc(3, 30, 0, 31)) == utc(3, 30, 0, 35)


def test_window_in_the_repeated_hour_opens_twice() -> None:
    # 01:00 happens twice on 25 Oct: 01:00 BST = 00:00 UTC, then 01:00 GMT = 01:00 UTC.
    one = window("0 1 * * *")
    assert window_end(one, utc(10, 25, 0, 10)) == utc(10, 25, 0, 45)
    assert active_window([one], utc(10, 25, 0, 50)) is None
    assert window_end(one, utc(10, 25, 1, 10)) == utc(10, 25, 1, 45)
    assert active_window([one], utc(10, 25, 1, 45)) is None
    # The 02:00 window happens once, at 02:00 GMT = 02:00 UTC.
    assert active_window([ERP], utc(10, 25, 1, 30)) is None
    assert window_end(ERP, utc(10, 25, 2, 0)) == utc(10, 25, 2, 45)


@pytest.mark.parametrize(
    ("cron", "day", "minutes"),
    [
        ("0 1 * * *", utc(3, 29), 45),  # once, 01:00-01:45 UTC
        ("0 1 * * *", utc(10, 25), 90),  # twice: 00:00-00:45 and 01:00-01:45 UTC
        ("0 2 * * *", utc(3, 29), 45),  # 01:00-01:45 UTC
        ("0 2 * * *", utc(10, 25), 45),  # 02:00-02:45 UTC
    ],
)
def test_minutes_inside_the_window_on_change_days(cron: str, day: datetime, minutes: int) -> None:
    nightly = window(cron)
    inside = sum(active_window([nightly], day + timedelta(minutes=m)) is not None for m in range(24 * 60))
    assert inside == minutes


def test_overlapping_occurrences_report_the_latest() -> None:
    hourly = window("0 * * * *", "90m", name="hourly")
    # 10 Mar (GMT) 10:20 UTC: fires at 09:00 and 10:00 both cover it; the 10:00 one ends at 11:30.
    assert window_end(hourly, utc(3, 10, 10, 20)) == utc(3, 10, 11, 30)


def test_of_several_active_windows_the_one_ending_last_is_returned() -> None:
    short = window("0 2 * * *", "15m", name="short")
    long = window("0 2 * * *", "2h", name="long")
    assert active_window([short, long], utc(3, 10, 2, 5)) is long
    assert active_window([short, long], utc(3, 10, 2, 20)) is long
    assert active_window([short], utc(3, 10, 2, 20)) is None


def test_window_scope() -> None:
    scoped = MaintenanceWindow.model_validate(
        {"name": "erp", "cron": "0 2 * * *", "duration": "45m", "systems": ["erp"], "contracts": ["orders"]}
    )
    assert scoped.applies_to("orders", ["shopify", "erp"])
    assert not scoped.applies_to("orders", ["shopify", "wms"])
    assert not scoped.applies_to("stock", ["erp"])
    assert ERP.applies_to("anything", [])
    assert ERP.duration == timedelta(minutes=45)


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 2 * *", "'0 2 * *' has 4 field(s); expected 5"),
        ("0 2 * * * *", "has 6 field(s); expected 5"),
        ("0 25 * * *", "hour field '25' is not valid"),
        ("x 2 * * *", "minute field 'x' is not valid"),
        ("0 2 * * 1-5", "day of week as names"),
        ("0 0 31 2 *", "never fires"),
    ],
)
def test_bad_cron_is_refused_naming_the_problem(cron: str, message: str) -> None:
    with pytest.raises(ValidationError, match=re.escape(message)):
        window(cron)


def test_window_duration_must_be_positive() -> None:
    with pytest.raises(ValidationError, match="duration must be more than 0"):
        window("0 2 * * *", "0s")


def test_weekday_names_work() -> None:
    weekdays = window("0 2 * * mon-fri")
    assert active_window([weekdays], utc(3, 27, 2, 10)) is weekdays  # Friday (GMT)
    assert active_window([weekdays], utc(3, 28, 2, 10)) is None  # Saturday


# --- silences ------------------------------------------------------------------------------


def test_silence_matches_exactly_and_only_while_active() -> None:
    s = Silence(1, utc(6, 1, 9), utc(6, 1, 11), "sam", "ERP migration", contract="orders", target="erp")
    oob, conflict = BreachKind.OUT_OF_BUDGET, BreachKind.CONFLICT
    assert silenced([s], "orders", "erp", oob, utc(6, 1, 9)) is s  # start inclusive
    assert silenced([s], "orders", "erp", conflict, utc(6, 1, 10, 59)) is s  # kind unset: any
    assert silenced([s], "orders", "erp", oob, utc(6, 1, 11)) is None  # end exclusive
    assert silenced([s], "orders", "erp", oob, utc(6, 1, 8, 59)) is None
    assert silenced([s], "orders", "wms", oob, utc(6, 1, 10)) is None
    assert silenced([s], "orders-eu", "erp", oob, utc(6, 1, 10)) is None


def test_of_several_silences_the_one_ending_last_is_returned() -> None:
    a = Silence(1, utc(6, 1, 9), utc(6, 1, 10), "sam", "", kind=BreachKind.CONFLICT)
    b = Silence(2, utc(6, 1, 8), utc(6, 1, 12), "sam", "", contract="orders")
    assert silenced([a, b], "orders", "erp", BreachKind.CONFLICT, utc(6, 1, 9, 30)) is b
    assert silenced([a, b], "stock", "erp", BreachKind.CONFLICT, utc(6, 1, 9, 30)) is a



HALF_HOUR = timedelta(minutes=30)
