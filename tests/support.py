"""Shared test helpers: an in-memory connector and contract/config builders."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.config.models import Contract
from monitor.errors import ConnectorError
from monitor.results import ConnectorUsage
from probes.base import EntityQuery, Record
from probes.sql import SqlSystemConfig

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


class FakeClock:
    """Monotonic seconds that move only when slept on; records each sleep."""

    def __init__(self, start: float = 0.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class MemoryConnector:
    """A Connector over dicts: ``rows[entity] = [{field: value}, ...]``. Can be told to fail."""

    def __init__(self, system: str, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.system = system
        self.rows = rows
        self.fail: ConnectorError | None = None
        self.fold_keys = False  # match keys case-insensitively, as email-keyed CRMs do
        self.reads = 0
        self._usage = ConnectorUsage(system)

    def _check(self) -> None:
        self._usage.requests += 1
        if self.fail is not None:
            raise self.fail

    def read(self, query: EntityQuery, keys: Sequence[str]) -> list[Record]:
        self._check()
        self.reads += 1
        norm = str.casefold if self.fold_keys else str
        wanted = {norm(k) for k in keys}
        out = []
        for row in self.rows.get(query.entity, []):
            if norm(str(row[query.key])) in wanted:
                problems = {f: "absent" for f in query.fields if f not in row}
                upd = row.get(query.updated_at) if query.updated_at else None
                out.append(Record(str(row[query.key]), {f: row.get(f) for f in query.fields}, upd, problems))
        return out

    def changed_since(self, query: EntityQuery, since: datetime, limit: int) -> list[str]:
        self._check()
        rows = [r for r in self.rows.get(query.entity, []) if query.updated_at and r.get(query.updated_at) and r[query.updated_at] >= since]
        rows.sort(key=lambda r: r[query.updated_at], reverse=True)
        return [str(r[query.key]) for r in rows[:limit]]

    def sample_keys(self, query: EntityQuery, size: int, rng: random.Random) -> list[str]:
        self._check()
        keys = [str(r[query.key]) for r in self.rows.get(query.entity, [])]
        return rng.sample(keys, min(size, len(keys)))

    def usage(self) -> ConnectorUsage:
        return self._usage

    def reset_usage(self) -> None:
        self._usage = ConnectorUsage(self.system)

    def close(self) -> None:
        pass


def contract(**overrides: Any) -> Contract:
    body: dict[str, Any] = {
        "contract": "stock",
        "owner": "priya",
        "source": {"system": "wms", "entity": "stock", "key": "sku", "updated_at": "updated_at"},
        "targets": [{"system": "shop", "entity": "inventory", "key": "sku", "updated_at": "updated_at"}],
        "fields": {"available": {"compare": "number", "risk": "oversell"}},
        "budget": {"latency": "5m", "drift": "1%", "hold": "2 runs"},
        "sampling": {"every": "1m", "size": 1000, "recent": "50%"},
    }
    body.update(overrides)
    return Contract.model_validate(body)


def systems(skew: str = "2s") -> dict[str, SqlSystemConfig]:
    cfg = {"kind": "sql", "url": "sqlite://", "clock_skew": skew, "entities": {"stock": {"table": "t"}, "inventory": {"table": "t"}}}
    return {"wms": SqlSystemConfig.model_validate(cfg), "shop": SqlSystemConfig.model_validate(cfg)}


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
