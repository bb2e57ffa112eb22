"""The endpoints of an ``http`` entity: what to request (templates) and how to walk the pages.

An entity has up to three endpoints, each a ``path`` and ``params`` relative to
the system's ``base_url``, whose values are templates:

* ``lookup``: ``{key}`` (one key per request; url-encoded in the path) or
  ``{keys}`` (a batch: each key formatted with ``key_format``, e.g. ``'{}'`` for
  Klaviyo's ``any(email,['a@x','b@y'])``, joined by ``separator``).
* ``changed``: ``{since}``, formatted as ``iso``, ``epoch`` or a strftime pattern.
* ``list``: no placeholder; lists every key (uniform sampling).

Templates are filled by plain replacement, not ``str.format``, so other braces
in a parameter (JSON filters) stay as written.

Each endpoint says how its results are paged (``pagination.style``):

* ``none``: one response holds everything.
* ``cursor``: the next cursor is at ``cursor_path`` in the body and is sent back as
  ``cursor_param``; the last page has a null or absent cursor.
* ``page``: numbered pages (``page_param``, from ``start_page``) of ``page_size``
  records (sent as ``size_param`` when set); a short page is the last one.
* ``link``: the RFC 8288 ``Link: <...>; rel="next"`` header.
* ``next_url``: an absolute or relative URL of the next page at ``next_path`` in
  the body (Klaviyo ``links.next``, Salesforce ``nextRecordsUrl``).

``max_pages`` bounds every walk: a response that keeps offering a next page is a
``QueryError``, not an endless loop. A caller that needs only the first records
(``changed_since`` with a limit) stops iterating early and pays for no more pages.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote, urljoin

from pydantic import Field, field_validator, model_validator

from monitor.errors import QueryError
from probes.base import StrictModel
from probes.paths import MISSING, JsonPath

__all__ = [
    "LookupEndpoint",
    "ChangedEndpoint",
    "ListEndpoint",
    "NoPagination",
    "CursorPagination",
    "PagePagination",
    "LinkPagination",
    "NextUrlPagination",
    "Pagination",
    "AnyPagination",
    "PageRequest",
    "Fetched",
    "iter_pages",
]

class _Paging(StrictModel):
    max_pages: int = Field(default=1000, ge=1)


class NoPagination(_Paging):
    style: Literal["none"] = "none"


class CursorPagination(_Paging):
    style: Literal["cursor"]
    cursor_param: str
    cursor_path: JsonPath


class PagePagination(_Paging):
    style: Literal["page"]
    page_param: str = "page"
    size_param: str | None = None
    page_size: int = Field(ge=1)
    start_page: int = 1


class LinkPagination(_Paging):
    style: Literal["link"]


class NextUrlPagination(_Paging):
    style: Literal["next_url"]
    next_path: JsonPath


AnyPagination = NoPagination | CursorPagination | PagePagination | LinkPagination | NextUrlPagination
Pagination = Annotated[AnyPagination, Field(discriminator="style")]


class _Endpoint(StrictModel):
    path: str
    params: dict[str, str] = Field(default_factory=dict)
    pagination: Pagination = Field(default_factory=NoPagination)

    @field_validator("path")
    @classmethod
    def _relative(cls, path: str) -> str:
        if "://" in path or path.startswith("//"):
            raise ValueError(f"{path!r}: give a path relative to base_url, e.g. /api/items")
        if "?" in path:
            raise ValueError(f"{path!r}: put query parameters under params")
        return path

    def _uses(self, placeholder: str) -> bool:
        return placeholder in self.path or any(placeholder in v for v in self.params.values())

    def _fill(self, placeholder: str, in_path: str, in_params: str) -> PageRequest:
        return PageRequest(
            self.path.replace(placeholder, in_path),
            {name: value.replace(placeholder, in_params) for name, value in self.params.items()},
        )


class LookupEndpoint(_Endpoint):
    """Records for keys. ``batch_size`` overrides the system's; a ``{key}`` template means 1."""

    batch_size: int | None = Field(default=None, ge=1, le=1000)
    key_format: str = "{}"
    separator: str = ","

    @model_validator(mode="after")
    def _one_placeholder(self) -> LookupEndpoint:
        single, batch = self._uses("{key}"), self._uses("{keys}")
        if single and batch:
            raise ValueError("use {key} (one key per request) or {keys} (a batch), not both")
        if not single and not batch:
            raise ValueError("path or params must use {key} (one key per request) or {keys} (a batch)")
        try:
            fits = self.key_format.count("{}") == 1 and self.key_format.format("\0").count("\0") == 1
        except (ValueError, IndexError, KeyError):
            fits = False
        if not fits:
            raise ValueError(f"key_format {self.key_format!r} must contain {{}} once, e.g. \"'{{}}'\"")
        return self

    @property
    def per_key(self) -> bool:
        return self._uses("{key}")

    def request_for(self, keys: Sequence[str]) -> PageRequest:
        if self.per_key:
            return self._fill("{key}", quote(keys[0], safe=""), keys[0])
        formatted = [self.key_format.format(key) for key in keys]
        return self._fill(
            "{keys}",
            self.separator.join(quote(key, safe="") for key in formatted),
            self.separator.join(formatted),
        )


class ChangedEndpoint(_Endpoint):
    """Keys changed since a time; ``since_format`` is ``iso``, ``epoch`` or a strftime pattern."""

    since_format: str = "iso"

    @model_validator(mode="after")
    def _since(self) -> ChangedEndpoint:
        if not self._uses("{since}"):
            raise ValueError("path or params must use {since}")
        if self.since_format not in ("iso", "epoch") and "%" not in self.since_format:
            raise ValueError(
                f"since_format {self.since_format!r}: use iso, epoch or a strftime pattern "
                "such as %Y-%m-%dT%H:%M:%S"
            )
        return self

    def request_for(self, since: datetime) -> PageRequest:
        since = since.astimezone(UTC) if since.tzinfo else since.replace(tzinfo=UTC)
        if self.since_format == "iso":
            text = since.isoformat().replace("+00:00", "Z")
        elif self.since_format == "epoch":
            text = str(int(since.timestamp()))
        else:
            text = since.strftime(self.since_format)
        return self._fill("{since}", quote(text, safe=""), text)


class ListEndpoint(_Endpoint):
    """Every key of the entity, for the uniform sample."""

    def request(self) -> PageRequest:
        return PageRequest(self.path, dict(self.params))


@dataclass(frozen=True)
class PageRequest:
    """One request to make: ``target`` is a path (with ``params``) or a next page's absolute URL."""

    target: str
    params: Mapping[str, str] | None = None


@dataclass(frozen=True)
class Fetched:
    """A decoded response: its JSON body, the records found in it, its absolute URL and
    absolute ``rel="next"`` link (if any)."""

    body: Any
    records: list[Any] = field(default_factory=list)
    url: str = ""
    next_link: str | None = None


def iter_pages(
    pagination: AnyPagination,
    first: PageRequest,
    fetch: Callable[[PageRequest], Fetched | None],
    *,
    system: str,
    label: str,
) -> Iterator[Fetched]:
    """Fetch ``first`` and then each next page, yielding them; stop at the last page.

    ``fetch`` returns None for "no such resource" (a 404 on a single-key lookup):
    that ends the walk with no pages. ``label`` names the endpoint in errors.
    """
    request: PageRequest | None = first
    if isinstance(pagination, PagePagination):
        request = PageRequest(first.target, _page_params(pagination, first.params, pagination.start_page))
    pages = 0
    while request is not None:
        if pages == pagination.max_pages:
            raise QueryError(
                f"{label}: more than {pagination.max_pages} pages; narrow the query or raise "
                "pagination.max_pages",
                system=system,
            )
        fetched = fetch(request)
        if fetched is None:
            return
        pages += 1
        yield fetched
        request = _next_request(pagination, first, fetched, pages)


def _next_request(
    pagination: AnyPagination,
    first: PageRequest,
    fetched: Fetched,
    pages: int,
) -> PageRequest | None:
    if isinstance(pagination, CursorPagination):
        cursor = pagination.cursor_path.get(fetched.body)
        if cursor is MISSING or cursor is None or cursor == "":
            return None
        return PageRequest(first.target, {**(first.params or {}), pagination.cursor_param: str(cursor)})
    if isinstance(pagination, PagePagination):
        if len(fetched.records) < pagination.page_size:
            return None
        number = pagination.start_page + pages
        return PageRequest(first.target, _page_params(pagination, first.params, number))
    if isinstance(pagination, LinkPagination):
        return PageRequest(fetched.next_link) if fetched.next_link else None
    if isinstance(pagination, NextUrlPagination):
        url = pagination.next_path.get(fetched.body)
        if url is MISSING or url is None or url == "":
            return None
        return PageRequest(urljoin(fetched.url, str(url)))
    return None


def _page_params(pagination: PagePagination, params: Mapping[str, str] | None, number: int) -> dict[str, str]:
    paged = {**(params or {}), pagination.page_param: str(number)}
    if pagination.size_param:
        paged[pagination.size_param] = str(pagination.page_size)
    return paged
