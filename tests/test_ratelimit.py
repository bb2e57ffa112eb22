"""The token bucket, on a fake clock: nothing really sleeps."""

from __future__ import annotations

import pytest

from probes.ratelimit import TokenBucket
from tests.support import FakeClock


def bucket(clock: FakeClock, rate: float, capacity: float) -> TokenBucket:
    return TokenBucket(rate, capacity, monotonic=clock.monotonic, sleep=clock.sleep)


def test_a_full_bucket_lets_a_burst_through_without_waiting() -> None:
    clock = FakeClock(1000.0)
    b = bucket(clock, rate=1.0, capacity=3)
    assert [b.acquire() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert clock.sleeps == []


def test_an_empty_bucket_waits_for_the_refill() -> None:
    clock = FakeClock(1000.0)
    b = bucket(clock, rate=0.1, capacity=1)
    waits = [b.acquire() for _ in range(5)]
    assert waits == pytest.approx([0.0, 10.0, 10.0, 10.0, 10.0])
    assert clock.now - 1000.0 == pytest.approx(40.0)


def test_time_passing_between_requests_refills_the_bucket() -> None:
    clock = FakeClock(1000.0)
    b = bucket(clock, rate=2.0, capacity=2)
    b.acquire(2)
    clock.now += 0.5  # one token back
    assert b.acquire() == 0.0
    assert b.acquire() == pytest.approx(0.5)


def test_refill_never_exceeds_capacity() -> None:
    clock = FakeClock(1000.0)
    b = bucket(clock, rate=10.0, capacity=5)
    clock.now += 3600
    assert b.available == pytest.approx(5.0)


def test_a_cost_larger_than_capacity_waits_for_the_deficit() -> None:
    clock = FakeClock(1000.0)
    b = bucket(clock, rate=10.0, capacity=5)
    assert b.acquire(25) == pytest.approx(2.0)  # 5 there, 20 more at 10/s
    assert b.available == pytest.approx(0.0)


def test_set_available_resyncs_from_the_server() -> None:
    clock = FakeClock(1000.0)
    b = bucket(clock, rate=100.0, capacity=1000)
    b.set_available(50)  # the server says only 50 points are left
    assert b.acquire(150) == pytest.approx(1.0)
    b.set_available(5000)  # more than we may hold: capped
    assert b.available == pytest.approx(1000.0)


def test_a_sleep_that_does_not_advance_time_still_terminates() -> None:
    clock = FakeClock(1000.0)
    b = TokenBucket(1.0, 1, monotonic=clock.monotonic, sleep=lambda s: None)
    b.acquire()
    assert b.acquire() == pytest.approx(1.0)
    assert b.acquire() == pytest.approx(2.0)  # still in debt: waits longer, does not loop


@pytest.mark.parametrize(("rate", "capacity"), [(0, 1), (-1, 1), (1, 0)])
def test_rate_and_capacity_must_be_positive(rate: float, capacity: float) -> None:
    with pytest.raises(ValueError):
        bucket(FakeClock(1000.0), rate, capacity)


def test_a_negative_cost_is_refused() -> None:
    with pytest.raises(ValueError):
        bucket(FakeClock(1000.0), 1.0, 1).acquire(-1)
