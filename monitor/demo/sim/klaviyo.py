"""A CRM shaped like Klaviyo's profiles API, answering from the demo world's ``WorldState.crm``.

``GET /api/profiles`` answers JSON:API (``application/vnd.api+json``) as
Klaviyo does. Requests need ``Authorization: Klaviyo-API-Key <key>`` (else
401) and a ``revision`` header (else 400). Query parameters:

* ``filter``: ``equals(email,'a@b.co.uk')``, ``any(email,['a@b','c@d'])`` (emails
  match case-insensitively) and the same on ``id``; ``greater-than``,
  ``greater-or-equal``, ``less-than``, ``less-or-equal`` on ``updated`` and
  ``created`` (``2026-11-27T10:00:00Z``); several conditions comma-separated or
  in ``and(...)``. Anything else is a 400 naming the ``filter`` parameter.
* ``page[size]`` (default 20, 1 to 100) and ``page[cursor]``: an opaque keyset
  cursor, so pages stay stable while profiles change; ``links.next`` and
  ``links.prev`` are absolute URLs (built from the request's ``Host``) or null.
* ``sort``: ``id``, ``created``, ``updated``, ``email``, each optionally ``-``.
* ``additional-fields[profile]=subscriptions``: only then do profiles carry
  ``subscriptions.email.marketing``, as Klaviyo's do.
* ``fields[profile]``: a sparse fieldset of attribute names (dotted for nested ones).

Profiles with the same email are separate records, as in a real CRM. Custom
``properties`` hold only what was set: a profile with no ``last_order`` has no
such key. Timestamps are ``2026-11-27T10:00:00+00:00``.

Faults for system ``"crm"``: ``outage`` is a 503, ``rate_storm`` a 429 to
everything; ``renamed[("crm", "profiles")] = (old, new)`` renames an attribute
(dotted paths reach into ``properties`` or ``subscriptions``). The limits are
Klaviyo's: ``burst_per_second`` and ``steady_per_minute`` on the clock, a 429
``throttled`` error with ``Retry-After`` past either.
"""

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from monitor.clock import Clock
from monitor.demo.sim.ratelimits import (
    STORM_RETRY_AFTER,
    TrafficCounters,
    Window,
    WindowLimiter,
)
from monitor.demo.sim.router import strip_prefix
from monitor.demo.sim.timestamps import wire_format
from monitor.demo.state import Profile, WorldState
from monitor.loopback import LoopbackRequest, LoopbackResponse
from probes.timestamps import parse_timestamp

__all__ = ["KlaviyoSimulator", "MAX_PAGE_SIZE"]

SYSTEM = "crm"
MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 20
_JSONAPI = {"Content-Type": "application/vnd.api+json"}
_REVISION = re.compile(r"\d{4}-\d{2}-\d{2}(\.pre)?")
_CALL = re.compile(r"([a-z-]+)\(\s*([a-z_]+)\s*,(.*)\)", re.DOTALL)
_QUOTED = re.compile(r"""\s*(?:'([^']*)'|"([^"]*)")\s*""")
# What ``_split`` looks at: a quoted run (to its closing quote, or the end), a bracket, a comma.
_MARKS = re.compile(r"""'[^']*(?:'|\Z)|"[^"]*(?:"|\Z)|[()\[\],]""")
_TIMES: dict[str, Callable[[Profile], datetime]] = {"updated": lambda p: p.updated, "created": lambda p: p.created}
_TEXTS: dict[str, Callable[[Profile], str]] = {"email": lambda p: p.email.casefold(), "id": lambda p: p.id}
_COMPARE: dict[str, Callable[[datetime, datetime], bool]] = {
    "greater-than": lambda a, b: a > b,
    "greater-or-equal": lambda a, b: a >= b,
    "less-than": lambda a, b: a < b,
    "less-or-equal": lambda a, b: a <= b,
}
_Condition = Callable[[Profile], bool]
# Standard attributes the demo world does not model: sent as null, as Klaviyo sends unset ones.
_UNSET_ATTRIBUTES = (
    "phone_number", "external_id", "anonymous_id", "organization", "locale", "title", "image", "last_event_date"
)


class _Invalid(Exception):
    """A 400 ``invalid`` error about one query parameter."""

    def __init__(self, parameter: str, detail: str) -> None:
        super().__init__(detail)
        self.parameter, self.detail = parameter, detail


class KlaviyoSimulator:
    """A LoopbackServer handler for the Klaviyo-shaped CRM; see the module docstring.

    ``prefix`` is the path it is mounted under (``/crm`` behind a ``Router``);
    ``counters`` holds what it was asked.
    """

    system = SYSTEM

    def __init__(
        self,
        state: WorldState,
        clock: Clock,
        *,
        api_key: str,
        burst_per_second: int = 75,
        steady_per_minute: int = 750,
        prefix: str = "",
    ) -> None:
        self.state = state
        self.prefix = prefix
        self.counters = TrafficCounters()
        self._api_key = api_key
        self._limiter = WindowLimiter(clock, [Window(burst_per_second, 1), Window(steady_per_minute, 60)])

    def __call__(self, request: LoopbackRequest) -> LoopbackResponse:
        path = strip_prefix(request.path, self.prefix)
        endpoint = "GET /api/profiles" if path in ("/api/profiles", "/api/profiles/") else None
        response = self._answer(request, endpoint)
        self.counters.record(endpoint or "(no such endpoint)", response.status)
        return response

    def _answer(self, request: LoopbackRequest, endpoint: str | None) -> LoopbackResponse:
        with self.state.lock:
            outage = SYSTEM in self.state.faults.outage
            storm = SYSTEM in self.state.faults.rate_storm
        if outage:
            return _error(503, "service_unavailable", "Service unavailable.", "Please try again later.")
        if storm:
            return _throttled(STORM_RETRY_AFTER)
        auth = request.headers.get("authorization")
        if not auth:
            return _error(401, "not_authenticated", "Authentication credentials were not provided.", "Missing API key.")
        if auth != f"Klaviyo-API-Key {self._api_key}":
            return _error(401, "authentication_failed", "Incorrect authentication credentials.", "Invalid API key.")
        if not _REVISION.fullmatch(request.headers.get("revision", "")):
            detail = "The 'revision' header is required, as a date such as 2026-04-15."
            return _error(400, "invalid", "Invalid input.", detail, header="revision")
        retry_after = self._limiter.admit()
        if retry_after is not None:
            return _throttled(retry_after)
        if endpoint is None:
            return _error(404, "not_found", "Not found.", f"No endpoint at {request.path}.")
        if request.method != "GET":
            return _error(405, "method_not_allowed", "Method not allowed.", f"{request.method} is not allowed here.")
        try:
            return self._list(request)
        except _Invalid as exc:
            return _error(400, "invalid", "Invalid input.", exc.detail, parameter=exc.parameter)

    def _list(self, request: LoopbackRequest) -> LoopbackResponse:
        conditions = _parse_filter(request.param("filter"))
        size = _page_size(request.param("page[size]"))
        sort = _Sort.parse(request.param("sort"))
        cursor = _Cursor.decode(request.param("page[cursor]"), sort)
        shape = _Shape.parse(request)
        with self.state.lock:
            rows = [p for p in self.state.crm.profiles if all(condition(p) for condition in conditions)]
            rows.sort(key=sort.key, reverse=sort.descending)
            keys = [sort.key(p) for p in rows]
            start = cursor.start(keys, size, sort.descending) if cursor else 0
            page = rows[start : start + size]
            data = [self._resource(p, request, shape) for p in page]
        links: dict[str, str | None] = {"self": _self_url(request), "next": None, "prev": None}
        if page and start + len(page) < len(rows):
            links["next"] = _page_url(request, _Cursor("next", sort.field, sort.key(page[-1])).encode())
        if page and start > 0:
            links["prev"] = _page_url(request, _Cursor("prev", sort.field, sort.key(page[0])).encode())
        return LoopbackResponse(body={"data": data, "links": links}, headers=_JSONAPI)

    def _resource(self, profile: Profile, request: LoopbackRequest, shape: _Shape) -> dict[str, Any]:
        attributes: dict[str, Any] = {
            "email": profile.email,
            "first_name": profile.first_name,
            "last_name": profile.last_name,
            "created": _timestamp(profile.created),
            "updated": _timestamp(profile.updated),
            **dict.fromkeys(_UNSET_ATTRIBUTES),
            "location": dict.fromkeys(("address1", "address2", "city", "country", "region", "zip", "timezone", "ip")),
            "properties": _properties(profile),
        }
        if shape.subscriptions:
            attributes["subscriptions"] = {"email": {"marketing": _marketing(profile)}}
        rename = self.state.faults.renamed.get((SYSTEM, "profiles"))
        if rename is not None:
            _move(attributes, rename[0], rename[1])
        if shape.fields is not None:
            attributes = _pick(attributes, shape.fields)
        root = _root_url(request, self.prefix)
        return {
            "type": "profile",
            "id": profile.id,
            "attributes": attributes,
            "links": {"self": f"{root}/api/profiles/{profile.id}/"},
        }


@dataclass(frozen=True)
class _Shape:
    """What to put in each profile: subscriptions or not, and the sparse fieldset."""

    subscriptions: bool
    fields: tuple[str, ...] | None

    @classmethod
    def parse(cls, request: LoopbackRequest) -> _Shape:
        extra = _names(request.param("additional-fields[profile]"))
        unknown = set(extra) - {"subscriptions"}
        if unknown:
            names = ", ".join(sorted(unknown))
            raise _Invalid("additional-fields[profile]", f"{names}: only 'subscriptions' is simulated.")
        fields = request.param("fields[profile]")
        return cls("subscriptions" in extra, _names(fields) if fields is not None else None)


@dataclass(frozen=True)
class _Sort:
    field: str
    descending: bool

    @classmethod
    def parse(cls, text: str | None) -> _Sort:
        name = (text or "id").strip()
        field = name.removeprefix("-")
        if field not in _TIMES and field not in _TEXTS:
            raise _Invalid("sort", f"'{name}' is not a valid sort; use id, created, updated or email, optionally -.")
        return cls(field, name.startswith("-"))

    def key(self, profile: Profile) -> tuple[Any, str]:
        value = _TIMES[self.field](profile) if self.field in _TIMES else _TEXTS[self.field](profile)
        return (value, profile.id)  # the id breaks ties, so every cursor position is unique


@dataclass(frozen=True)
class _Cursor:
    """A keyset position: the sort key of the last (``next``) or first (``prev``) profile shown."""

    direction: str
    field: str
    key: tuple[Any, str]

    def encode(self) -> str:
        value = self.key[0].isoformat() if isinstance(self.key[0], datetime) else self.key[0]
        text = "::".join((self.direction, self.field, value, self.key[1]))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str | None, sort: _Sort) -> _Cursor | None:
        if not text:
            return None
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            direction, field, value, profile_id = raw.split("::")
            key: tuple[Any, str] = (parse_timestamp(value) if field in _TIMES else value, profile_id)
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise _Invalid("page[cursor]", "The page cursor is invalid.") from None
        if direction not in ("next", "prev") or field != sort.field:
            raise _Invalid("page[cursor]", "The page cursor does not belong to this sort.")
        return cls(direction, field, key)

    def start(self, keys: list[tuple[Any, str]], size: int, descending: bool) -> int:
        """Where the page starts in ``keys`` (sorted as presented)."""

        def before(a: tuple[Any, str], b: tuple[Any, str]) -> bool:
            return a > b if descending else a < b

        if self.direction == "next":
            return next((i for i, key in enumerate(keys) if before(self.key, key)), len(keys))
        end = next((i for i, key in enumerate(keys) if not before(key, self.key)), len(keys))
        return max(0, end - size)


# -- filter --------------------------------------------------------------------------------------


def _parse_filter(text: str | None) -> list[_Condition]:
    return [_condition(part) for part in _split(text)] if text else []


def _split(text: str) -> list[str]:
    """``text`` split at the commas outside quotes, parentheses and brackets."""
    parts, depth, start = [], 0, 0
    for mark in _MARKS.finditer(text):
        token = mark.group()
        if token == "(" or token == "[":
            depth += 1
        elif token == ")" or token == "]":
            depth -= 1
        elif token == "," and depth == 0:
            parts.append(text[start : mark.start()])
            start = mark.end()
    return [*parts, text[start:]]


def _condition(text: str) -> _Condition:
    text = text.strip()
    if text.startswith("and(") and text.endswith(")"):
        parts = [_condition(part) for part in _split(text[4:-1])]
        return lambda p: all(part(p) for part in parts)
    call = _CALL.fullmatch(text)
    if call is None:
        raise _Invalid("filter", "Invalid filter: expected conditions such as equals(email,'a@b.co.uk').")
    op, field, raw = call.group(1), call.group(2), call.group(3).strip()
    value: str | list[str]
    if raw.startswith("[") and raw.endswith("]"):
        quoted = [_QUOTED.fullmatch(item) for item in _split(raw[1:-1])]
        if not all(quoted):
            raise _Invalid("filter", f"{op}({field},[…]) takes a list of quoted strings.")
        value = [next(group for group in item.groups() if group is not None) for item in quoted if item]
    elif single := _QUOTED.fullmatch(raw):
        value = next(group for group in single.groups() if group is not None)
    else:
        value = raw.replace(" ", "+")  # an unencoded "+00:00" arrives as a space
    if field in _TEXTS and op in ("equals", "any"):
        if (op == "any") != isinstance(value, list):
            raise _Invalid("filter", f"{op}({field},…) takes {'a list' if op == 'any' else 'one string'}.")
        fold = str.casefold if field == "email" else str
        wanted = {fold(item) for item in (value if isinstance(value, list) else [value])}
        text_of = _TEXTS[field]
        return lambda p: text_of(p) in wanted
    if field in _TIMES and op in _COMPARE and isinstance(value, str):
        try:
            when = parse_timestamp(value)
        except ValueError:
            raise _Invalid("filter", f"{op}({field},…) needs a datetime such as 2026-11-27T10:00:00Z.") from None
        time_of, compare = _TIMES[field], _COMPARE[op]
        return lambda p: compare(time_of(p), when)
    raise _Invalid("filter", f"'{op}' on '{field}' is not a supported filter for profiles.")


# -- parts of a response ---------------------------------------------------------------------------


def _marketing(profile: Profile) -> dict[str, Any]:
    unsubscribed = profile.consent == "UNSUBSCRIBED"
    return {
        "can_receive_email_marketing": profile.consent == "SUBSCRIBED",
        "consent": profile.consent,
        "consent_timestamp": _timestamp(profile.consent_timestamp),
        "last_updated": _timestamp(profile.consent_timestamp),
        "method": "API" if profile.consent_timestamp else None,
        "method_detail": None,
        "custom_method_detail": None,
        "double_optin": None,
        "suppression": (
            [{"reason": "UNSUBSCRIBE", "timestamp": _timestamp(profile.consent_timestamp)}] if unsubscribed else []
        ),
        "list_suppressions": [],
    }


def _properties(profile: Profile) -> dict[str, Any]:
    """Custom properties exist only once set: Klaviyo sends no key for one never written."""
    values = {"last_order": profile.last_order, "last_order_status": profile.last_order_status}
    return {name: value for name, value in values.items() if value is not None}


def _move(attributes: dict[str, Any], old: str, new: str) -> None:
    """Rename the attribute at dotted path ``old`` to ``new`` (if there is one)."""
    *parents, name = old.split(".")
    holder: Any = attributes
    for part in parents:
        holder = holder.get(part) if isinstance(holder, dict) else None
    if not isinstance(holder, dict) or name not in holder:
        return
    value = holder.pop(name)
    *parents, name = new.split(".")
    target = attributes
    for part in parents:
        target = target.setdefault(part, {})
    target[name] = value


def _pick(attributes: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    picked: dict[str, Any] = {}
    for path in paths:
        *parents, name = path.split(".")
        source: Any = attributes
        target = picked
        for part in parents:
            source = source.get(part) if isinstance(source, dict) else None
            target = target.setdefault(part, {})
        if isinstance(source, dict) and name in source:
            target[name] = source[name]
    return picked


def _page_size(text: str | None) -> int:
    if text is None:
        return DEFAULT_PAGE_SIZE
    if not text.isdigit() or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise _Invalid("page[size]", f"page[size] must be an integer from 1 to {MAX_PAGE_SIZE}.")
    return int(text)


def _names(text: str | None) -> tuple[str, ...]:
    return tuple(name.strip() for name in (text or "").split(",") if name.strip())


# Klaviyo writes ISO 8601 with the time's own offset.
_timestamp = wire_format(lambda value: value.isoformat(timespec="seconds"), keep_offset=True)


def _root_url(request: LoopbackRequest, prefix: str) -> str:
    return f"http://{request.headers.get('host', '127.0.0.1')}{prefix}"


def _self_url(request: LoopbackRequest) -> str:
    url = f"http://{request.headers.get('host', '127.0.0.1')}{request.path}"
    return f"{url}?{request.raw_query}" if request.raw_query else url


def _page_url(request: LoopbackRequest, cursor: str) -> str:
    query = {name: values for name, values in request.query.items() if name != "page[cursor]"}
    query["page[cursor]"] = [cursor]
    return f"http://{request.headers.get('host', '127.0.0.1')}{request.path}?{urlencode(query, doseq=True)}"


def _error(
    status: int,
    code: str,
    title: str,
    detail: str,
    *,
    parameter: str | None = None,
    header: str | None = None,
    headers: dict[str, str] | None = None,
) -> LoopbackResponse:
    source = {"parameter": parameter} if parameter else {"header": header} if header else {"pointer": "/data/"}
    error = {"id": str(uuid.uuid4()), "status": status, "code": code, "title": title, "detail": detail}
    return LoopbackResponse(status, {"errors": [{**error, "source": source}]}, {**_JSONAPI, **(headers or {})})


def _throttled(retry_after: int) -> LoopbackResponse:
    detail = f"Request was throttled. Expected available in {retry_after} second{'s' * (retry_after != 1)}."
    return _error(429, "throttled", "Request was throttled.", detail, headers={"Retry-After": str(retry_after)})
