"""Shopify's search syntax (the ``query:`` argument of connections), parsed and matched against records.

Covers what a sync monitor sends (https://shopify.dev/api/usage/search-syntax):
``sku:X``, ``sku:"X Y"`` / ``sku:'X'`` (quoted), ``sku:AB*`` (prefix),
``name:#1001``, ``email:a@b.co.uk``, ``updated_at:>='2026-11-27T10:00:00Z'``
(also ``>``, ``<``, ``<=``, ``:`` and unquoted; a bare date is that whole UTC
day, ``now`` is the clock's time), a bare word (a case-insensitive substring of
the resource's default fields), terms joined by ``OR``, by ``AND`` or a space
(``AND`` binds tighter), ``NOT x`` / ``-x`` and parentheses. Text matches are
case-insensitive. A term on a field the resource does not know, or with a time
that does not parse, is ignored (it matches everything) and reported as a
warning, which is what Shopify does.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar

__all__ = [
    "Term",
    "Not",
    "All",
    "AnyOf",
    "Expression",
    "Field",
    "parse_search",
    "Matcher",
    "exact_values",
]

R = TypeVar("R")


@dataclass(frozen=True)
class Term:
    """``field:value`` (field None: a bare word); ``comparator`` is ``:``, ``<``, ``<=``, ``>`` or ``>=``."""

    field: str | None
    comparator: str
    value: str
    prefix: bool = False  # an unquoted value ending in ``*``


@dataclass(frozen=True)
class Not:
    inner: Expression


@dataclass(frozen=True)
class All:
    parts: tuple[Expression, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Expression, ...]


Expression = Term | Not | All | AnyOf

_FIELD = re.compile(r"([A-Za-z_][\w.]*):(>=|<=|>|<)?(.*)", re.DOTALL)
_ESCAPED = re.compile(r"\\(.)")  # a backslash and the character it keeps, in a quoted value


# A token: ``(``, ``)`` or a word, which runs to whitespace or a parenthesis, quotes and all they hold
# (a backslash keeps the next character; an unclosed quote runs to the end). \s is str.isspace.
_TOKEN = re.compile(r"""[()]|(?:[^\s()'"]+|"(?:[^"\\]+|\\.)*(?:"|\\?\Z)|'(?:[^'\\]+|\\.)*(?:'|\\?\Z))+""", re.DOTALL)


def _tokens(text: str) -> list[str]:
    """Words (quotes kept, so a quoted ``OR`` stays a word), ``(`` and ``)``."""
    return _TOKEN.findall(text)


def _unquote(value: str) -> tuple[str, bool]:
    """The value without its quotes, and whether it was quoted."""
    if len(value) >= 2 and value[0] in "'\"" and value[-1] == value[0]:
        return _ESCAPED.sub(r"\1", value[1:-1]), True
    return value, False


@functools.lru_cache(maxsize=1 << 14)  # a connector asks for the same keys again and again; terms are immutable
def _term(word: str) -> Expression:
    negated = word.startswith("-") and len(word) > 1
    if negated:
        word = word[1:]
    match = _FIELD.fullmatch(word)
    if match:
        field, comparator, raw = match.group(1).lower(), match.group(2) or ":", match.group(3)
    else:
        field, comparator, raw = None, ":", word
    value, quoted = _unquote(raw)
    prefix = not quoted and value.endswith("*")
    term = Term(field, comparator, value[:-1] if prefix else value, prefix)
    return Not(term) if negated else term


class _Parser:
    def __init__(self, tokens: list[str]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> str | None:
        return self.tokens[self.at] if self.at < len(self.tokens) else None

    def any_of(self) -> Expression | None:
        parts = [part for part in [self.all_of()] if part is not None]
        while self.peek() == "OR":
            self.at += 1
            part = self.all_of()
            if part is not None:
                parts.append(part)
        return _combine(AnyOf, parts)

    def all_of(self) -> Expression | None:
        parts: list[Expression] = []
        while (token := self.peek()) is not None and token not in (")", "OR"):
            if token == "AND":
                self.at += 1
                continue
            part = self.unary()
            if part is not None:
                parts.append(part)
        return _combine(All, parts)

    def unary(self) -> Expression | None:
        token = self.tokens[self.at]
        self.at += 1
        if token == "NOT":
            inner = self.unary() if self.peek() not in (None, ")", "OR") else None
            return Not(inner) if inner is not None else None
        if token == "(":
            inner = self.any_of()
            if self.peek() == ")":
                self.at += 1
            return inner
        return _term(token)


def _combine(kind: type[All] | type[AnyOf], parts: list[Expression]) -> Expression | None:
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else kind(tuple(parts))


_KEYWORDS = frozenset({"OR", "AND", "NOT", "(", ")"})  # tokens the parser reads as more than a term


def parse_search(text: str | None) -> Expression | None:
    """The expression in ``text``; None when it has no terms (everything matches). Never raises:
    Shopify reads a malformed search as best it can (a stray ``)`` is dropped)."""
    if not text:
        return None
    tokens = _tokens(text)
    words = tokens[::2]
    if len(tokens) % 2 and tokens[1::2].count("OR") == len(tokens) // 2 and _KEYWORDS.isdisjoint(words):
        return _combine(AnyOf, [_term(word) for word in words])  # a lookup's ``a OR b OR …``: as _parse reads it
    return _parse(tokens)


def _parse(tokens: list[str]) -> Expression | None:
    parser = _Parser(tokens)
    parts: list[Expression] = []
    while parser.peek() is not None:
        part = parser.any_of()
        if part is not None:
            parts.append(part)
        if parser.peek() == ")":
            parser.at += 1
    return _combine(All, parts)


@dataclass(frozen=True)
class Field(Generic[R]):
    """A searchable field: ``kind`` is ``text``, ``name`` (an order name, ``#`` optional),
    ``time`` or ``number``; ``get`` returns the record's values for it (a text field may have several)."""

    kind: str
    get: Callable[[R], Iterable[Any]]


def exact_values(expression: Expression | None, field: str) -> list[str] | None:
    """The values when the search is only ``field:v`` terms joined by OR (an index can answer it)."""
    if isinstance(expression, Term):
        terms: Iterable[Expression] = [expression]
    elif isinstance(expression, AnyOf):
        terms = expression.parts
    else:
        return None
    values = []
    for term in terms:
        if not (isinstance(term, Term) and term.field == field and term.comparator == ":" and not term.prefix):
            return None
        values.append(term.value)
    return values


Predicate = Callable[[R], bool]


class Matcher(Generic[R]):
    """Matches records against one parsed search; ``warnings`` are Shopify's, in its shape.

    The search is compiled into plain predicates once, as a connection tests every record against it.
    """

    def __init__(
        self,
        expression: Expression | None,
        fields: Mapping[str, Field[R]],
        default: Callable[[R], Iterable[str]],
        now: datetime,
    ) -> None:
        self.expression = expression
        self.warnings: list[dict[str, str]] = []
        self._fields = fields
        self._default = default
        self._now = now
        self._predicate = self._compile(expression) if expression is not None else None

    def __call__(self, record: R) -> bool:
        return self._predicate is None or self._predicate(record)

    def _compile(self, expression: Expression) -> Predicate[R]:
        if isinstance(expression, Term):
            return self._term(expression)
        if isinstance(expression, Not):
            inner = self._compile(expression.inner)
            return lambda record: not inner(record)
        if isinstance(expression, AnyOf):
            one_of = self._one_of(expression)
            if one_of is not None:
                return one_of
        parts = [self._compile(part) for part in expression.parts]
        if isinstance(expression, All):
            return lambda record: all(part(record) for part in parts)
        return lambda record: any(part(record) for part in parts)

    def _one_of(self, expression: AnyOf) -> Predicate[R] | None:
        """``f:a OR f:b OR …``, exact values of one text field, as a set look-up: the same answers as
        trying each term (a value matches one of them), in one pass however many there are."""
        terms = [part for part in expression.parts if isinstance(part, Term)]
        if len(terms) != len(expression.parts) or len({term.field for term in terms}) != 1:
            return None
        if any(term.comparator != ":" or term.prefix for term in terms):
            return None
        field = self._fields.get(terms[0].field or "")
        if field is None or field.kind not in ("text", "name"):
            return None
        name = field.kind == "name"
        wanted = {term.value.casefold().removeprefix("#") if name else term.value.casefold() for term in terms}
        get = field.get

        def matches(record: R) -> bool:
            for value in get(record):
                if value is None:
                    continue
                text = str(value).casefold()
                if (text.removeprefix("#") if name else text) in wanted:
                    return True
            return False

        return matches

    def _term(self, term: Term) -> Predicate[R]:
        if term.field is None:
            phrase = term.value.casefold()
            default = self._default
            return lambda record: any(phrase in text.casefold() for text in default(record))
        field = self._fields.get(term.field)
        if field is None:
            self.warnings.append({"field": term.field, "message": "Invalid search field for this query."})
            return _everything
        get, comparator = field.get, term.comparator
        if field.kind == "time":
            span = _parse_time(term.value, self._now)
            if span is None:
                self.warnings.append({"field": term.field, "message": f"Invalid date: {term.value}"})
                return _everything
            return lambda record: any(_compare_time(value, comparator, span) for value in get(record))
        if field.kind == "number":
            try:
                number = int(term.value.rsplit("/", 1)[-1])  # a gid works as well as the number
            except ValueError:
                return _nothing
            return lambda record: any(_compare(value, comparator, number) for value in get(record))
        name = field.kind == "name"
        wanted = term.value.casefold()
        if name:
            wanted = wanted.removeprefix("#")

        def matches(record: R) -> bool:
            for value in get(record):
                if value is None:
                    continue
                text = str(value).casefold()
                if name:
                    text = text.removeprefix("#")
                if comparator != ":":
                    if _compare(text, comparator, wanted):
                        return True
                elif text.startswith(wanted) if term.prefix else text == wanted:
                    return True
            return False

        return matches


def _everything(record: Any) -> bool:
    return True


def _nothing(record: Any) -> bool:
    return False


def _parse_time(value: str, now: datetime) -> tuple[datetime, datetime] | None:
    """The span ``[start, end)`` a time value names: a second, or a whole (UTC) day for a bare date."""
    if value.lower() == "now":
        start = now.astimezone(UTC).replace(microsecond=0)
        return start, start + timedelta(seconds=1)
    try:
        day = date.fromisoformat(value)
    except ValueError:
        pass
    else:
        start = datetime(day.year, day.month, day.day, tzinfo=UTC)
        return start, start + timedelta(days=1)
    try:
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1:] in "Zz" else value)
    except ValueError:
        return None
    start = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).astimezone(UTC).replace(microsecond=0)
    return start, start + timedelta(seconds=1)


def _compare_time(value: datetime | None, comparator: str, span: tuple[datetime, datetime]) -> bool:
    # Shopify keeps whole seconds, so a record's time is compared as its whole second: as the span's
    # ends are whole seconds, comparing the exact time against them gives the same answers.
    if value is None:
        return False
    start, end = span
    if comparator == ">":
        return value >= end
    if comparator == ">=":
        return value >= start
    if comparator == "<":
        return value < start
    if comparator == "<=":
        return value < end
    return start <= value < end


def _compare(value: Any, comparator: str, wanted: Any) -> bool:
    if value is None:
        return False
    if comparator == ">":
        return bool(value > wanted)
    if comparator == ">=":
        return bool(value >= wanted)
    if comparator == "<":
        return bool(value < wanted)
    if comparator == "<=":
        return bool(value <= wanted)
    return bool(value == wanted)
