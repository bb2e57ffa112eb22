"""The one small interface every connector kind implements.

A connector reads records of an entity from one system. The engine never
branches on the kind; it asks three things:

* ``read(query, keys)``: the records for many keys, batched as the system allows;
  a key with no record is simply absent from the result, a key with two records
  appears twice (the engine calls those ``missing`` and ``duplicate``).
* ``changed_since(query, since, limit)``: keys changed in the system since a time
  (the "recent" sampling stream). Entities without ``updated_at`` return ``[]``.
* ``sample_keys(query, size, rng)``: a uniform random sample of keys.

Failures raise ``monitor.errors.ConnectorError`` subclasses after the
connector's own bounded retries; they are probe errors, never drift.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import httpx
from pydantic import BaseModel, ConfigDict, Field

from monitor.results import ConnectorUsage
from monitor.units import Duration, Share

__all__ = [
    "UsageMeter",
    "KeyListCache",
    "EntityQuery",
    "Record",
    "Connector",
    "ConnectorContext",
    "SystemConfigBase",
    "StrictModel",
]


class StrictModel(BaseModel):
    """Base of every config model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class SystemConfigBase(StrictModel):
    """Settings every system has, whatever its kind.

    ``api_share`` is the share of the system's API rate limit syncwatch may use
    (DESIGN.md section 3): a monitor that eats the integration's rate limit
    breaks what it watches. ``clock_skew`` is how far this system's clock may be
    off ours; a target timestamp within it is not taken as a later write.
    """

    kind: str
    api_share: Share = 0.10
    clock_skew: Duration = timedelta(seconds=2)
    timeout: Duration = timedelta(seconds=10)
    batch_size: int = Field(default=100, ge=1, le=1000)
    # How long a full key listing is reused for uniform samples. Listing every key on
    # every run would spend most of the API share; keys created in between are still
    # found by the "recent" stream.
    list_cache: Duration = timedelta(minutes=15)


@dataclass(frozen=True, slots=True)
class EntityQuery:
    """What the engine wants from one entity: the key field, fields, updated_at field.

    Names are the entity's field names as the connector exposes them (SQL
    columns or query aliases; HTTP field names declared in the system's config).
    """

    entity: str
    key: str
    fields: tuple[str, ...]
    updated_at: str | None = None


@dataclass(frozen=True, slots=True)
class Record:
    """One record as read: its key (as text), field values, and ``updated_at`` (aware UTC).

    ``problems`` maps a field name to why it could not be read as asked
    (absent, wrong type): the engine turns that into an ``unreadable`` observation.
    """

    key: str
    fields: Mapping[str, Any]
    updated_at: datetime | None = None
    problems: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class Connector(Protocol):
    system: str

    def read(self, query: EntityQuery, keys: Sequence[str]) -> list[Record]: ...

    def changed_since(self, query: EntityQuery, since: datetime, limit: int) -> list[str]: ...

    def sample_keys(self, query: EntityQuery, size: int, rng: random.Random) -> list[str]: ...

    def usage(self) -> ConnectorUsage:
        """What this connector has spent since it was opened (or last ``reset_usage``)."""
        ...

    def reset_usage(self) -> None: ...

    def close(self) -> None: ...


def _no_transport() -> httpx.BaseTransport | None:
    return None


@dataclass(frozen=True)
class ConnectorContext:
    """What a connector may take from outside: time and I/O, passed in.

    ``sleep`` and ``monotonic`` drive back-off and rate limiting (tests pass a
    fake clock's, so nothing waits); ``base_dir`` resolves relative paths in the
    config (SQLite files beside the config); ``http_transport`` lets tests use
    ``httpx.MockTransport``.
    """

    sleep: Callable[[float], None]
    monotonic: Callable[[], float]
    base_dir: Path = Path(".")
    http_transport: Callable[[], httpx.BaseTransport | None] = _no_transport


class KeyListCache:
    """Full key listings per entity, reused for ``ttl`` seconds of the connector's clock."""

    def __init__(self, ttl: timedelta, monotonic: Callable[[], float]) -> None:
        self._ttl = ttl.total_seconds()
        self._monotonic = monotonic
        self._lists: dict[str, tuple[float, list[str]]] = {}

    def get(self, entity: str) -> list[str] | None:
        cached = self._lists.get(entity)
        if cached is None or self._monotonic() - cached[0] > self._ttl:
            return None
        return cached[1]

    def put(self, entity: str, keys: list[str]) -> list[str]:
        self._lists[entity] = (self._monotonic(), keys)
        return keys


class UsageMeter:
    """What a connector spent, per calling thread.

    The service runs contracts on a pool of worker threads, and contracts reading the same
    system share its connector (so its rate limit and API share are shared too). A probe
    run is one thread from start to end, so what the run spent is its thread's usage:
    ``reset`` at the start, ``snapshot`` at the end, never mixed with another run's.
    """

    def __init__(self, system: str) -> None:
        self.system = system
        self._local = threading.local()

    @property
    def current(self) -> ConnectorUsage:
        usage: ConnectorUsage | None = getattr(self._local, "usage", None)
        if usage is None:
            usage = self._local.usage = ConnectorUsage(self.system)
        return usage

    def snapshot(self) -> ConnectorUsage:
        u = self.current
        return ConnectorUsage(
            u.system, u.requests, dict(u.by_status), u.retries, u.rate_limit_waits, u.waited_seconds, u.cost_points,
            list(u.durations),
        )

    @contextmanager
    def request(self) -> Iterator[None]:
        """Count one request and how long it took (wall time, whatever the outcome)."""
        usage = self.current
        usage.requests += 1
        started = time.perf_counter()
        try:
            yield
        finally:
            usage.durations.append(time.perf_counter() - started)

    def reset(self) -> None:
        self._local.usage = ConnectorUsage(self.system)
