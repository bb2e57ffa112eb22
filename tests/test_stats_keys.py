"""Wilson intervals, censored quantiles, key mapping and masking."""

from __future__ import annotations

import pytest

from monitor.config.models import KeyMap
from monitor.keys import KeyMapper, KeyProtector, mask_email, mask_key
from monitor.stats import censored_quantile, wilson_interval


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [
        # Reference values computed from the Wilson score formula with z = 1.96.
        (0, 10, 0.0, 0.2775),
        (1, 10, 0.0179, 0.4042),
        (5, 10, 0.2366, 0.7634),
        (14, 300, 0.0280, 0.0768),
        (10, 10, 0.7225, 1.0),
    ],
)
def test_wilson_interval_matches_reference_values(k: int, n: int, low: float, high: float) -> None:
    interval = wilson_interval(k, n)
    assert interval is not None
    assert interval.low == pytest.approx(low, abs=1e-4)
    assert interval.high == pytest.approx(high, abs=1e-4)


def test_wilson_interval_of_nothing_is_none_and_bad_counts_raise() -> None:
    assert wilson_interval(0, 0) is None
    with pytest.raises(ValueError):
        wilson_interval(5, 3)


def test_censored_quantile_exact_when_censored_values_lie_above() -> None:
    q = censored_quantile([10, 20, 30, 40], [500], 0.5)
    assert q is not None and q.value == 30 and not q.lower_bound


def test_censored_quantile_is_a_lower_bound_when_a_censored_value_decides() -> None:
    q = censored_quantile([10, 20], [15, 16], 0.95)
    assert q is not None and q.value == 20 and q.lower_bound
    only_open = censored_quantile([], [120.0], 0.5)
    assert only_open is not None and only_open.value == 120 and only_open.lower_bound


def test_censored_quantile_nearest_rank() -> None:
    values = list(range(1, 101))
    assert censored_quantile(values, [], 0.95).value == 95  # type: ignore[union-attr]
    assert censored_quantile(values, [], 0.5).value == 50  # type: ignore[union-attr]
    assert censored_quantile([], [], 0.5) is None


def test_key_mapper_templates() -> None:
    mapper = KeyMapper(KeyMap.model_validate({"from": "#{n}", "to": "SO-{n}"}))
    assert mapper("#1001") == "SO-1001"
    assert mapper("1001") is None
    assert KeyMapper(None)("#1001") == "#1001"
    two = KeyMapper(KeyMap.model_validate({"from": "{shop}-{n}", "to": "{n}/{shop}"}))
    assert two("UK-77") == "77/UK"


def test_key_map_must_capture_what_it_uses() -> None:
    with pytest.raises(ValueError, match="'to' uses m"):
        KeyMap.model_validate({"from": "#{n}", "to": "SO-{m}"})


def test_personal_keys_are_hashed_with_the_store_secret_and_masked() -> None:
    a = KeyProtector(personal=True, secret=b"a" * 32)
    b = KeyProtector(personal=True, secret=b"b" * 32)
    email = "jo.bloggs@example.co.uk"
    assert a.stored(email).startswith("h:") and email not in a.stored(email)
    assert a.stored(email) == a.stored(email)
    assert a.stored(email) != b.stored(email)
    assert a.display(email) == "j***@e***.co.uk"
    plain = KeyProtector(personal=False, secret=b"a" * 32)
    assert plain.stored("85123A") == "85123A" and plain.display("85123A") == "85123A"


@pytest.mark.parametrize(
    ("raw", "masked"),
    [("amelia.001@mail.example.com", "a***@m***.example.com"), ("x@y", "x***@y***"), ("AB", "***"), ("secret", "s***t")],
)
def test_masks(raw: str, masked: str) -> None:
    assert (mask_email(raw) if "@" in raw else mask_key(raw)) == masked


def test_timestamps_out_of_range_are_unreadable_not_a_crash() -> None:
    from probes.timestamps import parse_timestamp

    with pytest.raises(ValueError, match="out of range"):
        parse_timestamp(10**20)
    assert parse_timestamp("2026-11-27T12:00:00Z").isoformat() == "2026-11-27T12:00:00+00:00"
    assert parse_timestamp(0).year == 1970
