"""The ``http`` connector kind: records of an entity from a JSON HTTP API (a WMS, an ERP, a CRM).

The system's config (``probes.http_config``) says, per entity, where the records
are in a response (``records``), where each field is in a record (``fields``),
and which endpoints answer the ``Connector`` protocol's three questions:
``lookup`` (records for keys, batched), ``changed`` (keys changed since a time)
and ``list`` (every key, for the uniform sample); their templates and
pagination live in ``probes.http_paging``. Each request goes through
``probes.http_fetch``: paced to ``api_share`` of the system's rate limit,
retried, and translated into ``monitor.errors``.

For whoever sets up logging: httpx logs each request's full URL at INFO on the
``httpx`` logger, query string included (an ``auth: query`` key, emails in a
lookup filter); keep that logger at WARNING.
"""

from __future__ import annotations

import logging
import random
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from monitor import __version__
from monitor.errors import MalformedResponse, QueryError
from monitor.results import ConnectorUsage
from probes.base import ConnectorContext, EntityQuery, KeyListCache, Record
from probes.http_config import HttpEntityConfig, HttpSystemConfig, build_auth
from probes.http_fetch import Fetcher
from probes.http_paging import AnyPagination, Fetched, PageRequest, iter_pages
from probes.paths import MISSING, JsonPath
from probes.timestamps import parse_timestamp

__all__ = ["HttpConnector", "HttpSystemConfig", "HttpEntityConfig"]

logger = logging.getLogger(__name__)


class HttpConnector:
    """Reads the entities of one system over HTTP; see the module docstring.

    Records without a value for the key field cannot be matched to anything:
    they are skipped and counted in ``skipped_records`` (and logged, without
    values). A response in which every record lacks it is a
    ``MalformedResponse``: the key path no longer fits the API, and reporting
    every key as missing would be false drift.
    """

    def __init__(
        self, system: str, config: HttpSystemConfig, ctx: ConnectorContext, client: httpx.Client
    ) -> None:
        self.system = system
        self.config = config
        self.skipped_records = 0
        self._fetcher = Fetcher(system, config, ctx, client)
        self._zone = ZoneInfo(config.timezone)
        self._lock = threading.Lock()
        self._listings = KeyListCache(config.list_cache, ctx.monotonic)

    @classmethod
    def open(cls, system: str, config: HttpSystemConfig, ctx: ConnectorContext) -> HttpConnector:
        headers = httpx.Headers({"Accept": "application/json", "User-Agent": f"syncwatch/{__version__}"})
        headers.update({name: value.get_secret_value() for name, value in config.headers.items()})
        client = httpx.Client(
            base_url=config.base_url,
            headers=headers,
            auth=build_auth(config.auth),
            timeout=config.timeout.total_seconds(),
            transport=ctx.http_transport(),
            follow_redirects=False,  # a redirect elsewhere would carry our header or query credentials
        )
        return cls(system, config, ctx, client)

    # -- the Connector protocol ------------------------------------------------------------

    def read(self, query: EntityQuery, keys: Sequence[str]) -> list[Record]:
        entity = self._entity(query)
        lookup = entity.lookup
        wanted = list(dict.fromkeys(str(key) for key in keys))
        # The engine normalises case itself: drop only records for keys we did not ask for.
        asked = {key.casefold() for key in wanted}
        size = 1 if lookup.per_key else (lookup.batch_size or self.config.batch_size)
        reader = _Reader(entity, query, self._zone)
        label = f"{query.entity} lookup: GET {lookup.path}"
        records: list[Record] = []
        for start in range(0, len(wanted), size):
            first = lookup.request_for(wanted[start : start + size])
            # A 404 for one key by path is "no such record"; for a batch query it is a wrong path.
            for page in self._pages(label, lookup.pagination, first, entity, missing_ok=lookup.per_key):
                for raw, key in self._keyed(page, reader, label):
                    if key.casefold() in asked:
                        records.append(reader.record(raw, key))
        return records

    def changed_since(self, query: EntityQuery, since: datetime, limit: int) -> list[str]:
        entity = self._entity(query)
        changed = entity.changed
        if changed is None or limit <= 0:
            return []
        reader = _Reader(entity, query, self._zone)
        label = f"{query.entity} changed: GET {changed.path}"
        keys: dict[str, None] = {}
        for page in self._pages(label, changed.pagination, changed.request_for(since), entity):
            for _, key in self._keyed(page, reader, label):
                keys[key] = None
                if len(keys) >= limit:
                    return list(keys)
        return list(keys)

    def sample_keys(self, query: EntityQuery, size: int, rng: random.Random) -> list[str]:
        """A uniform sample of the keys the ``list`` endpoint returns (all of its pages,
        up to ``max_pages``, are read: uniform over what the listing shows, no more)."""
        entity = self._entity(query)
        listing = entity.list
        if listing is None or size <= 0:
            return []
        population = self._listings.get(query.entity)
        if population is None:
            reader = _Reader(entity, query, self._zone)
            label = f"{query.entity} list: GET {listing.path}"
            keys: dict[str, None] = {}
            for page in self._pages(label, listing.pagination, listing.request(), entity):
                keys.update((key, None) for _, key in self._keyed(page, reader, label))
            population = self._listings.put(query.entity, list(keys))
        return rng.sample(population, min(size, len(population)))

    def usage(self) -> ConnectorUsage:
        return self._fetcher.usage()

    def reset_usage(self) -> None:
        self._fetcher.reset_usage()

    def close(self) -> None:
        self._fetcher.close()

    def __enter__(self) -> HttpConnector:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- pages and records ---------------------------------------------------------------------

    def _entity(self, query: EntityQuery) -> HttpEntityConfig:
        try:
            return self.config.entities[query.entity]
        except KeyError:
            known = ", ".join(sorted(self.config.entities)) or "(none)"
            raise QueryError(f"no entity {query.entity!r}; configured: {known}", system=self.system) from None

    def _pages(
        self,
        label: str,
        pagination: AnyPagination,
        first: PageRequest,
        entity: HttpEntityConfig,
        missing_ok: bool = False,
    ) -> Iterator[Fetched]:
        def fetch(request: PageRequest) -> Fetched | None:
            fetched = self._fetcher.get(label, request, missing_ok)
            if fetched is None:
                return None
            return replace(fetched, records=self._records(entity.records, fetched.body, label))

        return iter_pages(pagination, first, fetch, system=self.system, label=label)

    def _records(self, path: JsonPath, body: Any, label: str) -> list[Any]:
        found = None if body is None else path.get(body)
        if found is MISSING:
            raise MalformedResponse(f"{label}: no {path!r} in the response to read records from", system=self.system)
        if found is None:
            return []
        if isinstance(found, list):
            return found
        if isinstance(found, dict):
            return [found]
        raise MalformedResponse(
            f"{label}: records at {path!r} are a {type(found).__name__}, not a list or an object",
            system=self.system,
        )

    def _keyed(self, page: Fetched, reader: _Reader, label: str) -> list[tuple[Any, str]]:
        keyed = [(raw, key) for raw in page.records if (key := reader.key(raw)) is not None]
        skipped = len(page.records) - len(keyed)
        if skipped and not keyed:
            raise MalformedResponse(
                f"{label}: none of {skipped} records has a value for the key "
                f"{reader.query.key!r} (at {reader.key_path!r}); has the response changed shape?",
                system=self.system,
            )
        if skipped:
            with self._lock:
                self.skipped_records += skipped
            logger.warning("%s: %s: skipped %d records without a key value", self.system, label, skipped)
        return keyed


class _Reader:
    """A query's paths, looked up once per call and applied to every record."""

    def __init__(self, entity: HttpEntityConfig, query: EntityQuery, zone: ZoneInfo) -> None:
        self.query = query
        self.key_path = entity.path_for(query.key)
        self.fields = [(name, entity.path_for(name)) for name in query.fields]
        self.updated = (query.updated_at, entity.path_for(query.updated_at)) if query.updated_at else None
        self.zone = zone

    def key(self, raw: Any) -> str | None:
        value = self.key_path.get(raw)
        if value is MISSING or value is None or isinstance(value, dict | list):
            return None
        return str(value)

    def record(self, raw: Any, key: str) -> Record:
        # An absent field is None in ``fields`` and "absent" in ``problems``.
        fields: dict[str, Any] = {}
        problems: dict[str, str] = {}
        for name, path in self.fields:
            value = path.get(raw)
            if value is MISSING:
                problems[name], value = "absent", None
            fields[name] = value
        updated_at = None
        if self.updated is not None:
            name, value = self.updated[0], self.updated[1].get(raw)
            if value is MISSING:
                problems[name] = "absent"
            elif value is None:
                problems[name] = "empty"
            else:
                try:
                    updated_at = _timestamp(value, self.zone)
                except ValueError as exc:
                    problems[name] = str(exc)
        return Record(key=key, fields=fields, updated_at=updated_at, problems=problems)


def _timestamp(value: Any, zone: ZoneInfo) -> datetime:
    if isinstance(value, str) and _EPOCH_TEXT.fullmatch(value.strip()):
        value = float(value)
    try:
        return parse_timestamp(value, zone)
    except (OverflowError, OSError):
        raise ValueError("timestamp out of range") from None


_EPOCH_TEXT = re.compile(r"-?\d+(\.\d+)?")
