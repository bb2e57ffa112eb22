"""Comparators: equality, direction and unreadable values per ``compare:`` kind, and their config."""

from __future__ import annotations

import unicodedata
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
import yaml
from pydantic import TypeAdapter, ValidationError

from monitor.compare import (
    DIFFERS,
    EQUAL,
    TARGET_HIGHER,
    TARGET_LOWER,
    Comparator,
    EnumSpec,
    FieldSpec,
    NumberSpec,
    UnreadableValue,
    build_comparator,
    field_risk_applies,
)

_SPEC = TypeAdapter(FieldSpec)


def spec(**config: Any) -> FieldSpec:
    return _SPEC.validate_python(config)


def comparator(**config: Any) -> Comparator:
    return build_comparator(spec(**config))


def from_yaml(text: str) -> Comparator:
    return build_comparator(_SPEC.validate_python(yaml.safe_load(text)))


# --- exact ---------------------------------------------------------------------------------


def test_exact_compares_with_equality_and_no_coercion() -> None:
    same = comparator(compare="exact")
    assert same("SKU-1", "SKU-1") is EQUAL
    assert same("SKU-1", "SKU-2") == DIFFERS
    assert same("1", 1) == DIFFERS
    assert same("SKU-1", "sku-1") == DIFFERS


# --- number --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        (12, 12, EQUAL),
        (12, 12.0, EQUAL),
        (12, 13, TARGET_HIGHER),
        (12, 11, TARGET_LOWER),
        ("12", 12, EQUAL),
        (" 3.5 ", 3.5, EQUAL),
        (Decimal("3.50"), "3.5", EQUAL),
        (Decimal("4"), 4, EQUAL),
        ("-2", -3, TARGET_LOWER),
        ("1e3", 1000, EQUAL),
        ("12345678901234567891", 12345678901234567890, TARGET_LOWER),  # exact, not via float
    ],
)
def test_number_equality_and_direction(source: Any, target: Any, expected: str | None) -> None:
    assert comparator(compare="number")(source, target) == expected


def test_number_absolute_tolerance_holds_at_the_boundary() -> None:
    weight = comparator(compare="number", tolerance=0.01)
    assert weight(1.00, 1.01) is EQUAL  # 1.01 - 1.00 is 0.010000000000000009 in floats
    assert weight(1.01, 1.00) is EQUAL
    assert weight("1.00", "1.01") is EQUAL
    assert weight(1.00, 1.0101) == TARGET_HIGHER
    assert weight(1.00, 0.9899) == TARGET_LOWER


def test_number_relative_tolerance_is_a_share_of_the_larger_value() -> None:
    weight = comparator(compare="number", relative="1%")
    assert weight(100, 101) is EQUAL
    assert weight(100, 99) is EQUAL
    assert weight(100, 101.02) == TARGET_HIGHER
    assert weight(100, 98.9) == TARGET_LOWER
    assert weight(0, 0.001) == TARGET_HIGHER  # relative alone gives no slack around zero


def test_number_uses_the_larger_of_absolute_and_relative_tolerance() -> None:
    weight = comparator(compare="number", tolerance=0.5, relative="1%")
    assert weight(1, 1.5) is EQUAL  # absolute wins for small values
    assert weight(1000, 1010) is EQUAL  # relative wins for large values
    assert weight(1000, 1010.5) == TARGET_HIGHER


@pytest.mark.parametrize("junk", ["abc", "12 units", "", True, [1], {"n": 1}, "nan", "inf", float("nan")])
def test_number_refuses_what_is_not_a_finite_number(junk: Any) -> None:
    for compare in (comparator(compare="number"), comparator(compare="number", tolerance=1)):
        with pytest.raises(UnreadableValue) as caught:
            compare(1, junk)
        assert caught.value.side == "target"
        with pytest.raises(UnreadableValue) as caught:
            compare(junk, 1)
        assert caught.value.side == "source"


# --- money ---------------------------------------------------------------------------------

PENCE_TO_POUNDS = {"compare": "money", "source_unit": "pence", "target_unit": "pounds"}


@pytest.mark.parametrize(
    ("source", "target", "expected"),
    [
        (1250, "12.50", EQUAL),
        (1250, "12.5", EQUAL),
        (1250, 12.5, EQUAL),
        (1250, Decimal("12.50"), EQUAL),
        ("1250", " 12.50 ", EQUAL),
        (1200, 12, EQUAL),
        (1250, 12.51, TARGET_HIGHER),
        (1250, "12.49", TARGET_LOWER),
        (1251, "12.505", EQUAL),  # half up
        (101, 1.005, EQUAL),  # the float means 1.005, although it is stored as 1.00499...
        (1250, "12.504", EQUAL),
        (-1250, "-12.50", EQUAL),
        (1999, 19.99, EQUAL),
    ],
)
def test_money_converts_both_sides_to_pence(source: Any, target: Any, expected: str | None) -> None:
    assert comparator(**PENCE_TO_POUNDS)(source, target) == expected


def test_money_defaults_to_pounds_on_both_sides() -> None:
    price = comparator(compare="money")
    assert price(12.5, "12.50") is EQUAL
    assert price(12, 1200) == TARGET_HIGHER


@pytest.mark.parametrize("key", ["currencyCode", "currency_code", "currency"])
def test_money_reads_shopify_moneyv2_mappings(key: str) -> None:
    price = comparator(**PENCE_TO_POUNDS, currency="GBP")
    assert price(1250, {"amount": "12.50", key: "GBP"}) is EQUAL
    assert price(1250, {"amount": "12.50", key: "gbp"}) is EQUAL
    assert price(1250, {"amount": "12.51", key: "GBP"}) == TARGET_HIGHER


def test_money_in_another_currency_differs_without_direction() -> None:
    price = comparator(compare="money", currency="GBP")
    pounds, euros = {"amount": "12.50", "currencyCode": "GBP"}, {"amount": "12.50", "currencyCode": "EUR"}
    assert price(pounds, euros) == DIFFERS
    assert price(12.50, euros) == DIFFERS  # not the contract's currency
    assert price(euros, euros) == DIFFERS
    anything = comparator(compare="money")
    assert anything({"amount": "1", "currency": "USD"}, {"amount": "5", "currency": "EUR"}) == DIFFERS
    assert anything({"amount": "1", "currency": "USD"}, {"amount": "1", "currency": "USD"}) is EQUAL


def test_money_tolerance_is_in_pence_and_holds_at_the_boundary() -> None:
    price = comparator(**PENCE_TO_POUNDS, tolerance=1)
    assert price(1250, "12.51") is EQUAL
    assert price(1250, "12.49") is EQUAL
    assert price(1250, "12.52") == TARGET_HIGHER
    assert price(1250, "12.48") == TARGET_LOWER


@pytest.mark.parametrize(
    "junk",
    ["£12.50", "twelve", "", "NaN", "Infinity", "1e999999", float("inf"), True, [12], {"price": "12.50"}, {"amount": None}],
)
def test_money_refuses_what_is_not_an_amount(junk: Any) -> None:
    with pytest.raises(UnreadableValue):
        comparator(**PENCE_TO_POUNDS)(1250, junk)


def test_money_currency_must_be_a_three_letter_code() -> None:
    with pytest.raises(ValidationError, match="currency"):
        spec(compare="money", currency="POUNDS")
    with pytest.raises(ValidationError, match="source_unit"):
        spec(compare="money", source_unit="cents")
    assert spec(compare="money", currency="gbp").currency == "GBP"  # type: ignore[union-attr]


# --- text ----------------------------------------------------------------------------------


def test_text_defaults_trim_whitespace_and_preserve_case() -> None:
    title = comparator(compare="text")
    assert title("  Blue Shirt ", "Blue Shirt") is EQUAL
    assert title("Blue Shirt", "blue shirt") == DIFFERS
    assert title("Blue  Shirt", "Blue Shirt") == DIFFERS


def test_text_case_fold_and_whitespace_collapse() -> None:
    title = comparator(compare="text", case="fold", whitespace="collapse")
    assert title(" Blue \t Shirt\n", "BLUE SHIRT") is EQUAL
    assert title("Straße", "STRASSE") is EQUAL  # casefold, not lower
    assert title("Blue Shirt", "Blue Shirts") == DIFFERS


def test_text_whitespace_preserve_keeps_every_space() -> None:
    assert comparator(compare="text", whitespace="preserve")("Blue ", "Blue") == DIFFERS


def test_text_unicode_normalisation() -> None:
    composed, decomposed = "Caf\u00e9", "Cafe\u0301"
    assert unicodedata.normalize("NFC", decomposed) == composed
    assert comparator(compare="text")(composed, decomposed) is EQUAL  # NFC by default
    assert comparator(compare="text", unicode="none")(composed, decomposed) == DIFFERS
    assert comparator(compare="text", unicode="NFKC")("\ufb01sh", "fish") is EQUAL  # the "fi" ligature
    assert comparator(compare="text")("\ufb01sh", "fish") == DIFFERS
    # Canonical caseless matching: casefold decomposes "ΐ", so it is normalised again after folding.
    assert comparator(compare="text", case="fold")("\u0390", "\u03aa\u0301") is EQUAL
    folded = comparator(compare="text", case="fold", unicode="NFKC", whitespace="collapse")
    assert folded("CAFE\u0301\u00a0\ufb01SH", "café fish") is EQUAL


def test_text_refuses_values_that_are_not_text() -> None:
    with pytest.raises(UnreadableValue, match="expected text, got int"):
        comparator(compare="text")("12", 12)


# --- enum ----------------------------------------------------------------------------------

STATUS = {
    "compare": "enum",
    "map": {"DESPATCHED": "FULFILLED", "NEW": ["UNFULFILLED", "PENDING_FULFILLMENT"]},
    "risk": "wismo",
}


def test_enum_maps_source_values_to_target_values() -> None:
    status = comparator(**STATUS)
    assert status("DESPATCHED", "FULFILLED") is EQUAL
    assert status("DESPATCHED", "UNFULFILLED") == DIFFERS
    assert status("DESPATCHED", "DESPATCHED") == DIFFERS  # mapped values must show the target's word
    assert status("NEW", "UNFULFILLED") is EQUAL
    assert status("NEW", "PENDING_FULFILLMENT") is EQUAL
    assert status("NEW", "FULFILLED") == DIFFERS


def test_enum_unmapped_values_compare_as_they_are_by_default() -> None:
    status = comparator(**STATUS)
    assert status("CANCELLED", "CANCELLED") is EQUAL
    assert status("CANCELLED", "cancelled") == DIFFERS
    assert status("CANCELLED", "FULFILLED") == DIFFERS


def test_enum_unmapped_error_makes_an_unknown_source_value_unreadable() -> None:
    status = comparator(**STATUS, unmapped="error")
    assert status("NEW", "UNFULFILLED") is EQUAL
    with pytest.raises(UnreadableValue) as caught:
        status("CANCELLED", "CANCELLED")
    assert "CANCELLED" not in str(caught.value)
    assert caught.value.side == "source"


def test_enum_yaml_boolean_keys_match_boolean_source_values() -> None:
    consent = from_yaml(
        "{compare: enum, map: {true: SUBSCRIBED, false: UNSUBSCRIBED}, risk: compliance, critical: true}"
    )
    assert consent(True, "SUBSCRIBED") is EQUAL
    assert consent(False, "UNSUBSCRIBED") is EQUAL
    assert consent(True, "UNSUBSCRIBED") == DIFFERS
    assert consent("true", "SUBSCRIBED") is EQUAL


def test_enum_yaml_integer_keys_match_integer_and_text_source_values() -> None:
    stage = from_yaml("{compare: enum, map: {1: OPEN, 2: [CLOSED, ARCHIVED]}}")
    assert stage(1, "OPEN") is EQUAL
    assert stage("2", "ARCHIVED") is EQUAL
    assert stage(2, "OPEN") == DIFFERS


def test_enum_case_fold_applies_to_map_and_values() -> None:
    status = comparator(**STATUS, case="fold")
    assert status("despatched", "Fulfilled") is EQUAL
    assert status("Cancelled", "CANCELLED") is EQUAL


@pytest.mark.parametrize("junk", [1.5, [1], {"a": 1}])
def test_enum_refuses_values_that_are_no_enum_value(junk: Any) -> None:
    with pytest.raises(UnreadableValue):
        comparator(**STATUS)(junk, "FULFILLED")


def test_enum_map_keys_given_twice_are_a_config_error() -> None:
    with pytest.raises(ValidationError, match="given twice"):
        spec(compare="enum", map={True: "A", "true": "B"})
    with pytest.raises(ValidationError, match="differ only in case"):
        spec(compare="enum", map={"New": "A", "NEW": "B"}, case="fold")
    with pytest.raises(ValidationError, match="no acceptable target"):
        spec(compare="enum", map={"NEW": []})


# --- timestamp -----------------------------------------------------------------------------

LONDON = {"compare": "timestamp", "source_tz": "Europe/London"}


def test_timestamp_naive_london_summer_time_is_an_hour_ahead_of_utc() -> None:
    shipped = comparator(**LONDON)
    assert shipped("2024-06-01T12:00:00", "2024-06-01T11:00:00Z") is EQUAL
    assert shipped("2024-06-01T12:00:00", "2024-06-01T12:00:00Z") == TARGET_HIGHER
    assert shipped(datetime(2024, 6, 1, 12), datetime(2024, 6, 1, 11, tzinfo=timezone.utc)) is EQUAL


def test_timestamp_naive_london_winter_time_is_utc() -> None:
    shipped = comparator(**LONDON)
    assert shipped("2024-01-15T12:00:00", "2024-01-15T12:00:00Z") is EQUAL
    assert shipped("2024-01-15T12:00:00", "2024-01-15T11:00:00Z") == TARGET_LOWER


def test_timestamp_target_zone_applies_to_naive_target_values() -> None:
    shipped = comparator(compare="timestamp", target_tz="Europe/London")
    assert shipped("2024-06-01T11:00:00Z", "2024-06-01T12:00:00") is EQUAL
    both = comparator(compare="timestamp", source_tz="America/New_York", target_tz="Europe/London")
    assert both("2024-06-01T07:00:00", "2024-06-01T12:00:00") is EQUAL
    assert both("2024-06-01T12:00:00", "2024-06-01T12:00:00") == TARGET_LOWER  # same text, other zones


def test_timestamp_reads_iso_offsets_and_epoch_seconds() -> None:
    moment = comparator(compare="timestamp")
    assert moment("2024-06-01T11:00:00Z", "2024-06-01T12:00:00+01:00") is EQUAL
    assert moment("2024-06-01T11:00:00Z", "2024-06-01T11:00:00") is EQUAL  # naive is UTC by default
    assert moment(1717239600, "2024-06-01T11:00:00Z") is EQUAL
    assert moment(1717239600.5, datetime(2024, 6, 1, 11, 0, 0, 500000, tzinfo=timezone.utc)) is EQUAL
    assert moment(1717239600, 1717239601) == TARGET_HIGHER


def test_timestamp_tolerance_holds_at_the_boundary() -> None:
    moment = comparator(compare="timestamp", tolerance="1s")
    assert moment("2024-06-01T11:00:00Z", "2024-06-01T11:00:01Z") is EQUAL
    assert moment("2024-06-01T11:00:01Z", "2024-06-01T11:00:00Z") is EQUAL
    assert moment("2024-06-01T11:00:00Z", "2024-06-01T11:00:01.000001Z") == TARGET_HIGHER
    assert moment("2024-06-01T11:00:00Z", "2024-06-01T10:59:58.999999Z") == TARGET_LOWER


@pytest.mark.parametrize("junk", ["yesterday", "2024-13-45T00:00:00", "", True, [2024], float("nan"), 10**20])
def test_timestamp_refuses_what_is_not_a_time(junk: Any) -> None:
    moment = comparator(**LONDON)
    with pytest.raises(UnreadableValue):
        moment("2024-06-01T12:00:00", junk)
    with pytest.raises(UnreadableValue):
        moment(junk, junk)
    with pytest.raises(UnreadableValue):
        comparator(compare="timestamp")(junk, junk)  # equal junk in one zone is still junk


def test_timestamp_zone_names_are_checked_when_the_config_is_read() -> None:
    with pytest.raises(ValidationError, match="unknown time zone 'Europe/Londn'"):
        spec(compare="timestamp", source_tz="Europe/Londn")
    with pytest.raises(ValidationError, match="unknown time zone"):
        spec(compare="timestamp", target_tz="../etc/passwd")
    five_minutes = spec(compare="timestamp", tolerance="5m")
    assert five_minutes.tolerance == timedelta(minutes=5)  # type: ignore[union-attr]


# --- set -----------------------------------------------------------------------------------


def test_set_ignores_order_duplicates_spaces_and_empty_items() -> None:
    tags = comparator(compare="set")
    assert tags("sale, new,summer", "summer,sale,new") is EQUAL
    assert tags("sale,sale,new,", ["new", " sale "]) is EQUAL
    assert tags(("a", "b"), {"b", "a"}) is EQUAL
    assert tags("", []) is EQUAL
    assert tags("sale,new", "sale") == DIFFERS
    assert tags("Sale", "sale") == DIFFERS


def test_set_separator_and_case_fold() -> None:
    tags = comparator(compare="set", separator=";", case="fold")
    assert tags("Sale; NEW", "new;sale") is EQUAL
    assert tags("sale,new", "sale;new") == DIFFERS


@pytest.mark.parametrize("junk", [12, {"a": 1}, [{"a": 1}], [None]])
def test_set_refuses_what_is_not_a_list(junk: Any) -> None:
    with pytest.raises(UnreadableValue):
        comparator(compare="set")(junk, "a")


# --- None and unreadable values, for every kind --------------------------------------------

ALL_KINDS: list[dict[str, Any]] = [
    {"compare": "exact"},
    {"compare": "number"},
    {"compare": "number", "tolerance": 1},
    PENCE_TO_POUNDS,
    {"compare": "text"},
    STATUS,
    LONDON,
    {"compare": "set"},
]
READABLE = {"exact": "x", "number": 3, "money": 300, "text": "x", "enum": "NEW", "timestamp": 0, "set": "a,b"}


@pytest.mark.parametrize("config", ALL_KINDS, ids=lambda c: c["compare"])
def test_none_equals_none_and_differs_from_any_value(config: dict[str, Any]) -> None:
    compare = comparator(**config)
    value = READABLE[config["compare"]]
    assert compare(None, None) is EQUAL
    assert compare(None, value) == DIFFERS
    assert compare(value, None) == DIFFERS


SECRET = "jane.doe@example.com 07700 900123"
JUNK = {
    "number": SECRET,
    "money": SECRET,
    "text": {"email": SECRET},
    "enum": {"email": SECRET},
    "timestamp": SECRET,
    "set": {"email": SECRET},
}


@pytest.mark.parametrize("config", [c for c in ALL_KINDS if c["compare"] in JUNK], ids=lambda c: c["compare"])
def test_unreadable_values_say_which_side_and_type_but_never_the_value(config: dict[str, Any]) -> None:
    compare, junk = comparator(**config), JUNK[config["compare"]]
    value = READABLE[config["compare"]]
    for source, target, side in ((value, junk, "target"), (junk, value, "source"), (None, junk, "target")):
        with pytest.raises(UnreadableValue) as caught:
            compare(source, target)
        assert isinstance(caught.value, ValueError)
        assert caught.value.side == side
        assert "expected" in str(caught.value)
        assert "jane" not in str(caught.value) and "07700" not in repr(caught.value.args)


# --- config --------------------------------------------------------------------------------


def test_contract_fields_parse_into_their_models() -> None:
    fields = TypeAdapter(dict[str, FieldSpec]).validate_python(
        yaml.safe_load(
            """
            available: {compare: number, risk: oversell}
            weight:    {compare: number, tolerance: 0.01, relative: 1%}
            price:     {compare: money, source_unit: pence, target_unit: pounds, currency: GBP}
            shipped_at: {compare: timestamp, tolerance: 1s, source_tz: Europe/London}
            tags:      {compare: set, separator: ",", case: fold}
            title:     {compare: text, case: fold, whitespace: collapse, unicode: NFKC}
            sku:       {compare: exact, local_writes: allowed}
            """
        )
    )
    assert isinstance(fields["available"], NumberSpec)
    assert fields["weight"].relative == pytest.approx(0.01)  # type: ignore[union-attr]
    assert fields["shipped_at"].tolerance == timedelta(seconds=1)  # type: ignore[union-attr]
    assert fields["sku"].local_writes == "allowed"
    assert fields["title"].local_writes == "forbidden"
    assert not fields["title"].critical


def test_an_unknown_key_is_an_error_naming_it() -> None:
    with pytest.raises(ValidationError) as caught:
        spec(compare="number", tolerence=0.01)
    assert caught.value.errors()[0]["type"] == "extra_forbidden"
    assert caught.value.errors()[0]["loc"][-1] == "tolerence"


def test_an_unknown_kind_is_an_error_naming_the_valid_ones() -> None:
    with pytest.raises(ValidationError) as caught:
        spec(compare="fuzzy")
    message = str(caught.value)
    for kind in ("exact", "number", "money", "text", "enum", "timestamp", "set"):
        assert f"'{kind}'" in message


@pytest.mark.parametrize(
    "config",
    [
        {"compare": "number", "tolerance": -1},
        {"compare": "number", "relative": "150%"},
        {"compare": "money", "tolerance": -1},
        {"compare": "timestamp", "tolerance": "soon"},
        {"compare": "text", "case": "upper"},
        {"compare": "set", "separator": ""},
        {"compare": "exact", "risk_when": "always"},
        {"compare": "exact", "local_writes": "sometimes"},
    ],
)
def test_invalid_options_are_config_errors(config: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        spec(**config)


def test_specs_are_frozen() -> None:
    number = spec(compare="number")
    with pytest.raises(ValidationError):
        number.tolerance = 1  # type: ignore[misc,union-attr]


# --- risk ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("risk", "risk_when", "effective"),
    [
        ("oversell", None, "target_higher"),
        ("undersell", None, "target_lower"),
        ("wismo", None, "any"),
        (None, None, "any"),
        ("oversell", "any", "any"),
        ("revenue", "target_lower", "target_lower"),
    ],
)
def test_risk_when_defaults_follow_the_risk(risk: str | None, risk_when: str | None, effective: str) -> None:
    assert spec(compare="number", risk=risk, risk_when=risk_when).effective_risk_when == effective


def test_oversell_applies_only_when_the_target_shows_more() -> None:
    available = spec(compare="number", risk="oversell")
    assert field_risk_applies(available, TARGET_HIGHER)
    assert not field_risk_applies(available, TARGET_LOWER)
    assert not field_risk_applies(available, EQUAL)
    assert field_risk_applies(available, DIFFERS)  # e.g. one side None: cannot rule it out


def test_an_undirected_risk_applies_to_any_difference_and_no_risk_never() -> None:
    status = spec(**STATUS)
    assert field_risk_applies(status, DIFFERS)
    assert not field_risk_applies(status, EQUAL)
    assert not field_risk_applies(spec(compare="number"), TARGET_HIGHER)


def test_a_directional_risk_when_needs_an_ordered_comparator() -> None:
    with pytest.raises(ValidationError, match="ordered comparator"):
        spec(compare="enum", map={}, risk="oversell", risk_when="target_higher")
    assert isinstance(spec(compare="enum", risk="oversell"), EnumSpec)  # the default is not an error
