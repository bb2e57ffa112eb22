"""Field comparators: whether a source and a target value agree under a contract's rules.

Each ``compare:`` kind has a config model (one arm of ``FieldSpec``) and a
comparator compiled from it once by ``build_comparator``. A comparator is a plain
callable ``(source, target) -> EQUAL | difference`` for the hot path: every choice
(normaliser, unit, time zone) is made at build time. Reading values lives in
``monitor.normalise``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Annotated, Any, ClassVar, Literal, Union
from zoneinfo import ZoneInfo

from pydantic import BeforeValidator, Field, field_validator, model_validator

from monitor.normalise import (
    Side,
    UnreadableValue,
    enum_text,
    read_money,
    read_number,
    read_text,
    set_reader,
    text_normaliser,
    timestamp_reader,
)
from monitor.units import Duration, Share, TimeZoneName
from probes.base import StrictModel

__all__ = [
    "EQUAL",
    "TARGET_HIGHER",
    "TARGET_LOWER",
    "DIFFERS",
    "Difference",
    "RiskWhen",
    "Comparator",
    "UnreadableValue",
    "ExactSpec",
    "NumberSpec",
    "MoneySpec",
    "TextSpec",
    "EnumSpec",
    "TimestampSpec",
    "SetSpec",
    "FieldSpec",
    "build_comparator",
    "field_risk_applies",
]

Difference = Literal["target_higher", "target_lower", "differs"]
RiskWhen = Literal["any", "target_higher", "target_lower"]

# Equal is None so that a result reads as "the difference, if any": ``if diff: ...``.
EQUAL: None = None
TARGET_HIGHER: Difference = "target_higher"
TARGET_LOWER: Difference = "target_lower"
DIFFERS: Difference = "differs"  # unequal, and no order applies (unordered kind, None, other currency)

Comparator = Callable[[Any, Any], Difference | None]

_DEFAULT_RISK_WHEN: dict[str, RiskWhen] = {"oversell": "target_higher", "undersell": "target_lower"}


class _FieldSpecBase(StrictModel):
    """Keys every field has, whatever its comparator."""

    _ordered: ClassVar[bool] = False

    risk: str | None = None
    risk_when: RiskWhen | None = None
    critical: bool = False
    local_writes: Literal["allowed", "forbidden"] = "forbidden"

    @model_validator(mode="after")
    def _risk_when_needs_order(self) -> _FieldSpecBase:
        if self.risk_when not in (None, "any") and not self._ordered:
            ordered = "number, money or timestamp"
            raise ValueError(f"risk_when: {self.risk_when} needs an ordered comparator ({ordered})")
        return self

    @property
    def effective_risk_when(self) -> RiskWhen:
        """``risk_when`` as given, else the risk's default.

        ``oversell`` defaults to ``target_higher``, ``undersell`` to ``target_lower``, others to ``any``.
        """
        if self.risk_when is not None:
            return self.risk_when
        return _DEFAULT_RISK_WHEN.get(self.risk or "", "any")

    def _build(self) -> Comparator:
        raise NotImplementedError


def _one_none(read: Callable[[Any, Side], Any], s: Any, t: Any) -> Difference | None:
    """Both None are equal; one None differs, once the other side proves readable."""
    if s is t:
        return EQUAL
    if s is None:
        read(t, "target")
    else:
        read(s, "source")
    return DIFFERS


class ExactSpec(_FieldSpecBase):
    compare: Literal["exact"]

    def _build(self) -> Comparator:
        def compare(s: Any, t: Any) -> Difference | None:
            return EQUAL if s == t else DIFFERS

        return compare


_NATIVE_NUMBERS = frozenset({int, float})
# Float subtraction is off by a few ulps: 1.01 - 1.00 must still be within a 0.01 tolerance.
_FLOAT_SLACK = 1e-12


class NumberSpec(_FieldSpecBase):
    _ordered: ClassVar[bool] = True

    compare: Literal["number"]
    tolerance: float = Field(default=0.0, ge=0)
    relative: Share = 0.0

    def _build(self) -> Comparator:
        tolerance, relative, native = self.tolerance, self.relative, _NATIVE_NUMBERS
        loose = bool(tolerance or relative)

        def compare(s: Any, t: Any) -> Difference | None:
            a: Any
            b: Any
            if s.__class__ in native and t.__class__ in native:
                a, b = s, t
            elif s is None or t is None:
                return _one_none(read_number, s, t)
            else:
                a, b = read_number(s, "source"), read_number(t, "target")
            if a == b:
                return EQUAL
            if loose:
                larger = max(abs(a), abs(b))
                bound = max(tolerance, relative * larger)
                if abs(b - a) <= bound + _FLOAT_SLACK * max(larger, bound):
                    return EQUAL
            if b > a:
                return TARGET_HIGHER
            if b < a:
                return TARGET_LOWER
            raise UnreadableValue("expected a number, got a float NaN", "source" if a != a else "target")

        return compare


class MoneySpec(_FieldSpecBase):
    _ordered: ClassVar[bool] = True

    compare: Literal["money"]
    source_unit: Literal["pence", "pounds"] = "pounds"
    target_unit: Literal["pence", "pounds"] = "pounds"
    currency: str | None = Field(default=None, pattern=r"^[A-Za-z]{3}$")
    tolerance: int = Field(default=0, ge=0, description="in pence (minor units)")

    @field_validator("currency")
    @classmethod
    def _upper(cls, value: str | None) -> str | None:
        return value.upper() if value else value

    def _build(self) -> Comparator:
        s_pence, t_pence = self.source_unit == "pence", self.target_unit == "pence"
        s_scale, t_scale = (1 if s_pence else 100), (1 if t_pence else 100)
        tolerance, expected = self.tolerance, self.currency

        def read(value: Any, side: Side) -> tuple[int, str | None]:
            return read_money(value, s_pence if side == "source" else t_pence, side)

        def compare(s: Any, t: Any) -> Difference | None:
            if s.__class__ is int and t.__class__ is int:
                diff = t * t_scale - s * s_scale
            elif s is None or t is None:
                return _one_none(read, s, t)
            else:
                a, s_cur = (s * s_scale, None) if s.__class__ is int else read_money(s, s_pence, "source")
                b, t_cur = (t * t_scale, None) if t.__class__ is int else read_money(t, t_pence, "target")
                if s_cur and t_cur and s_cur != t_cur:
                    return DIFFERS  # amounts in different currencies have no order
                if expected and (s_cur and s_cur != expected or t_cur and t_cur != expected):
                    return DIFFERS
                diff = b - a
            if -tolerance <= diff <= tolerance:
                return EQUAL
            return TARGET_HIGHER if diff > 0 else TARGET_LOWER

        return compare


class TextSpec(_FieldSpecBase):
    compare: Literal["text"]
    case: Literal["preserve", "fold"] = "preserve"
    whitespace: Literal["preserve", "trim", "collapse"] = "trim"
    unicode: Literal["none", "NFC", "NFKC"] = "NFC"

    def _build(self) -> Comparator:
        normalise = text_normaliser(self.case, self.whitespace, self.unicode)

        def compare(s: Any, t: Any) -> Difference | None:
            if s.__class__ is not str or t.__class__ is not str:
                if s is None or t is None:
                    return _one_none(read_text, s, t)
                s, t = read_text(s, "source"), read_text(t, "target")
            return EQUAL if s == t or normalise(s) == normalise(t) else DIFFERS

        return compare


def _map_keys_as_text(value: Any) -> Any:
    if not isinstance(value, Mapping):
        return value  # pydantic says what a map should be
    normalised: dict[str, Any] = {}
    for key, target in value.items():
        text = enum_text(key)
        if text is None:
            raise ValueError(f"map key {key!r} must be text, an integer or true/false")
        if text in normalised:
            raise ValueError(f"map key {text!r} is given twice")
        if isinstance(target, list | tuple):
            target = [enum_text(item) or item for item in target]
        normalised[text] = enum_text(target) or target
    return normalised


class EnumSpec(_FieldSpecBase):
    compare: Literal["enum"]
    map: Annotated[dict[str, str | list[str]], BeforeValidator(_map_keys_as_text)] = Field(
        default_factory=dict
    )
    case: Literal["preserve", "fold"] = "preserve"
    unmapped: Literal["compare", "error"] = "compare"

    @model_validator(mode="after")
    def _check_table(self) -> EnumSpec:
        self._table()
        return self

    def _table(self) -> dict[str, frozenset[str]]:
        fold = self.case == "fold"
        table: dict[str, frozenset[str]] = {}
        for key, target in self.map.items():
            if target == []:
                raise ValueError(f"map[{key!r}] lists no acceptable target value")
            targets = [target] if isinstance(target, str) else target
            accepted = frozenset(v.casefold() if fold else v for v in targets)
            key = key.casefold() if fold else key
            if table.get(key, accepted) != accepted:
                raise ValueError(f"map keys {key!r} differ only in case but map to different values")
            table[key] = accepted
        return table

    def _build(self) -> Comparator:
        fold, table, strict = self.case == "fold", self._table(), self.unmapped == "error"

        def read(value: Any, side: Side) -> str:
            text = enum_text(value)
            if text is None:
                kind = type(value).__name__
                raise UnreadableValue(f"expected an enum value (text, integer or boolean), got {kind}", side)
            return text.casefold() if fold else text

        def compare(s: Any, t: Any) -> Difference | None:
            if s is None or t is None:
                return _one_none(read, s, t)
            a = s if s.__class__ is str and not fold else read(s, "source")
            b = t if t.__class__ is str and not fold else read(t, "target")
            accepted = table.get(a)
            if accepted is None:
                if strict:
                    raise UnreadableValue("source value is not in the enum map", "source")
                return EQUAL if a == b else DIFFERS
            return EQUAL if b in accepted else DIFFERS

        return compare


_ZERO = timedelta(0)


class TimestampSpec(_FieldSpecBase):
    _ordered: ClassVar[bool] = True

    compare: Literal["timestamp"]
    tolerance: Duration = _ZERO
    source_tz: TimeZoneName = "UTC"
    target_tz: TimeZoneName = "UTC"

    def _build(self) -> Comparator:
        read_s = timestamp_reader(ZoneInfo(self.source_tz))
        read_t = read_s if self.target_tz == self.source_tz else timestamp_reader(ZoneInfo(self.target_tz))
        tolerance = self.tolerance

        def read(value: Any, side: Side) -> timedelta:
            return read_s(value, side) if side == "source" else read_t(value, side)

        def compare(s: Any, t: Any) -> Difference | None:
            if read_s is read_t and s == t and s is not None:
                read_s(s, "source")  # equal values in one zone: one read proves both readable
                return EQUAL
            if s is None or t is None:
                return _one_none(read, s, t)
            diff = read_t(t, "target") - read_s(s, "source")
            if -tolerance <= diff <= tolerance:
                return EQUAL
            return TARGET_HIGHER if diff > _ZERO else TARGET_LOWER

        return compare


class SetSpec(_FieldSpecBase):
    compare: Literal["set"]
    separator: str = Field(default=",", min_length=1)
    case: Literal["preserve", "fold"] = "preserve"

    def _build(self) -> Comparator:
        read = set_reader(self.separator, self.case == "fold")

        def compare(s: Any, t: Any) -> Difference | None:
            if s.__class__ is str and s == t:
                return EQUAL
            if s is None or t is None:
                return _one_none(read, s, t)
            return EQUAL if read(s, "source") == read(t, "target") else DIFFERS

        return compare


# The one list of comparator kinds; pydantic names the valid ones for an unknown ``compare:``.
FieldSpec = Annotated[
    Union[ExactSpec, NumberSpec, MoneySpec, TextSpec, EnumSpec, TimestampSpec, SetSpec],
    Field(discriminator="compare"),
]


def build_comparator(spec: FieldSpec) -> Comparator:
    """Compile a field's spec once, then call the result per record pair.

    ``comparator(source, target)`` returns ``EQUAL`` (None), ``TARGET_HIGHER``, ``TARGET_LOWER``
    or ``DIFFERS``, and raises ``UnreadableValue`` when a value cannot be read under the spec.
    """
    return spec._build()


def field_risk_applies(spec: FieldSpec, difference: Difference | None) -> bool:
    """Whether the field's ``risk`` applies to this difference (oversell only when the target is higher).

    ``differs`` has no direction to rule out, so a directional risk applies to it.
    """
    if difference is EQUAL or spec.risk is None:
        return False
    when = spec.effective_risk_when
    return when == "any" or difference == DIFFERS or difference == when
