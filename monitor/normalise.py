"""Reading field values as comparators see them: numbers, money in minor units, text, enum labels,
timestamps and sets.

Readers take a value and the side it came from and return its normal form, or raise
``UnreadableValue``. Their messages name the value's type, never the value: it may be
customer data.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Literal
from zoneinfo import ZoneInfo

__all__ = [
    "Side",
    "UnreadableValue",
    "read_number",
    "read_money",
    "read_text",
    "text_normaliser",
    "enum_text",
    "timestamp_reader",
    "set_reader",
]

Side = Literal["source", "target"]


class UnreadableValue(ValueError):
    """A value cannot be read under the field's comparator (a schema change, not drift).

    ``side`` says which record it came from; the message describes the value's type only.
    """

    def __init__(self, reason: str, side: Side) -> None:
        super().__init__(reason)
        self.reason = reason
        self.side = side


def _unreadable(expected: str, value: Any, side: Side) -> UnreadableValue:
    return UnreadableValue(f"expected {expected}, got {type(value).__name__}", side)


def read_number(value: Any, side: Side) -> int | float:
    """int, float, Decimal or numeric text → int when integral (exact), else float."""
    cls = value.__class__
    try:
        if cls is int:
            return value  # type: ignore[no-any-return]
        if cls is float:
            number = value
        elif cls is Decimal:
            number = float(value) if value % 1 else int(value)
        elif cls is str:
            text = value.strip()
            if text.isdecimal():  # exact, and no exception to pay for on the common path
                return int(text)
            number = float(text)
        else:
            raise _unreadable("a number", value, side)
    except (ValueError, ArithmeticError):
        raise _unreadable("a number", value, side) from None
    if not math.isfinite(number):
        raise _unreadable("a finite number", value, side)
    return number  # type: ignore[no-any-return]


_CURRENCY_KEYS = ("currencyCode", "currency_code", "currency")
_ONE = Decimal(1)
_HUNDRED = Decimal(100)
_PLAIN_AMOUNTS = frozenset({int, float, str, Decimal})


def _plain_minor(text: str, pence: bool) -> int | None:
    """``"1250"`` pence or ``"12.5"`` pounds without Decimal, which is slow; None for anything else."""
    if pence:
        return int(text) if text.isdecimal() else None
    whole, _, fraction = text.partition(".")
    if whole.isdecimal() and len(fraction) <= 2 and (fraction.isdecimal() or not fraction):
        return int(whole + fraction.ljust(2, "0"))
    return None


def read_money(value: Any, pence: bool, side: Side) -> tuple[int, str | None]:
    """An amount in pence or pounds, or a MoneyV2-like mapping → (minor units, currency or None)."""
    currency: str | None = None
    amount = value
    cls = value.__class__
    if cls is dict or cls not in _PLAIN_AMOUNTS and isinstance(value, Mapping):
        if "amount" not in value:
            raise UnreadableValue("expected a money mapping with an amount, got a mapping without one", side)
        amount = value["amount"]
        for key in _CURRENCY_KEYS:
            code = value.get(key)
            if code is not None:
                if not isinstance(code, str):
                    raise _unreadable("a currency code", code, side)
                currency = code.strip().upper()
                break
    cls = amount.__class__
    if cls is int:
        return (amount if pence else amount * 100), currency
    if cls is str:
        amount = amount.strip()
        minor = _plain_minor(amount, pence)
        if minor is not None:
            return minor, currency
    if cls is float and not pence:
        # Most floats sit near a whole number of pence; only halfway cases need Decimal.
        scaled = amount * 100
        if abs(scaled) < 1e12:
            rounded = round(scaled)
            if abs(scaled - rounded) < 1e-6:
                return rounded, currency
    try:
        if cls is float:
            number = Decimal(repr(amount))  # the shortest repr is what was meant: 1.005, not 1.00499…
        elif cls is Decimal or cls is str:
            number = Decimal(amount)
        else:
            raise _unreadable("a money amount", amount, side)
        if not number.is_finite():
            raise _unreadable("a finite money amount", amount, side)
        scaled = number if pence else number * _HUNDRED
        return int(scaled.quantize(_ONE, rounding=ROUND_HALF_UP)), currency
    except ArithmeticError:  # decimal errors: invalid text, exponents too large to scale
        raise _unreadable("a money amount", amount, side) from None


def read_text(value: Any, side: Side) -> str:
    if isinstance(value, str):
        return value
    raise _unreadable("text", value, side)


def text_normaliser(
    case: Literal["preserve", "fold"],
    whitespace: Literal["preserve", "trim", "collapse"],
    form: Literal["none", "NFC", "NFKC"],
) -> Callable[[str], str]:
    """One function applying Unicode normalisation, then case folding, then the whitespace rule."""
    normalize = unicodedata.normalize
    nf: Literal["NFC", "NFKC"] = "NFKC" if form == "NFKC" else "NFC"  # unused when form is "none"

    def normalise_and_fold(text: str) -> str:
        # casefold can leave text unnormalised (it decomposes some letters): normalise again.
        return normalize(nf, normalize(nf, text).casefold())

    def normalise(text: str) -> str:
        return normalize(nf, text)

    prepare: Callable[[str], str] | None
    if form == "none":
        prepare = str.casefold if case == "fold" else None
    else:
        prepare = normalise_and_fold if case == "fold" else normalise
    if whitespace == "preserve":
        return prepare or str
    if prepare is None:
        return str.strip if whitespace == "trim" else _collapse
    first = prepare

    def then_trim(text: str) -> str:
        return first(text).strip()

    def then_collapse(text: str) -> str:
        return " ".join(first(text).split())

    return then_trim if whitespace == "trim" else then_collapse


def _collapse(text: str) -> str:
    return " ".join(text.split())


def enum_text(value: Any) -> str | None:
    """The text an enum value is compared as, None if it is no enum value.

    YAML ``true:`` and a source ``True`` both read "true"; ``1`` reads "1".
    """
    cls = value.__class__
    if cls is str:
        return value  # type: ignore[no-any-return]
    if cls is bool:
        return "true" if value else "false"
    if cls is int:
        return str(value)
    return None


_TIMESTAMP = "an ISO 8601 timestamp, a datetime or epoch seconds"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_NAIVE_EPOCH = datetime(1970, 1, 1)
_SECOND = timedelta(seconds=1)
_ZERO = timedelta(0)


def timestamp_reader(zone: ZoneInfo) -> Callable[[Any, Side], timedelta]:
    """A reader of ISO 8601 text (``Z`` allowed), datetimes and epoch seconds → time since the epoch.

    Naive values are wall-clock time in ``zone``. The result is a timedelta because
    subtracting those is exact and far cheaper than converting aware datetimes.
    """
    utc = zone.key in ("UTC", "Etc/UTC")

    def read(value: Any, side: Side) -> timedelta:
        cls = value.__class__
        try:
            if cls is str:
                moment = datetime.fromisoformat(value.strip())
            elif isinstance(value, datetime):
                moment = value
            elif cls is int or cls is float:
                seconds: timedelta = _SECOND * value
                return seconds
            else:
                raise _unreadable(_TIMESTAMP, value, side)
            if moment.tzinfo is not None:
                return moment - _EPOCH
            if utc:
                return moment - _NAIVE_EPOCH
            return moment - _NAIVE_EPOCH - (zone.utcoffset(moment) or _ZERO)
        except (ValueError, OverflowError):
            raise _unreadable(_TIMESTAMP, value, side) from None

    return read


def _set_item(item: Any, side: Side) -> str:
    if isinstance(item, str):
        return item
    if item.__class__ is int:
        return str(item)
    raise _unreadable("a list of text items", item, side)


_COLLECTIONS = frozenset({list, tuple, set, frozenset})


def set_reader(separator: str, fold: bool) -> Callable[[Any, Side], set[str]]:
    """A reader of lists or ``separator``-joined text → the set of trimmed, non-empty items."""

    def read(value: Any, side: Side) -> set[str]:
        cls = value.__class__
        if cls is str:
            items: Any = value.split(separator)
        elif cls in _COLLECTIONS:
            items = value
        else:
            raise _unreadable("a list or separated text", value, side)
        try:
            found = {item.strip().casefold() for item in items} if fold else {item.strip() for item in items}
        except AttributeError:  # an item that is not text: rare, so not checked for up front
            items = [_set_item(item, side) for item in items]
            found = {item.strip().casefold() for item in items} if fold else {item.strip() for item in items}
        found.discard("")
        return found

    return read
