"""The ``sql`` connector kind: any database SQLAlchemy can reach, one table or query per entity.

Lookups are batched ``IN`` queries; changed-since is a range on the ``updated_at``
column; the uniform sample is ``ORDER BY random()`` (portable across SQLite and
PostgreSQL). SQLAlchemy and driver errors become ``monitor.errors`` exceptions:
a database that is down or locked is retried within bounds, a wrong query is not.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from pydantic import Field, field_validator, model_validator
from sqlalchemy import exc as sa_exc
from tenacity import (
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
    wait_exponential,
)

from monitor.errors import ConnectorError, ConnectorUnavailable, QueryError
from monitor.results import ConnectorUsage
from monitor.units import TimeZoneName
from probes.base import (
    ConnectorContext,
    EntityQuery,
    Record,
    StrictModel,
    SystemConfigBase,
    UsageMeter,
)
from probes.timestamps import parse_timestamp

__all__ = ["SqlEntityConfig", "SqlSystemConfig", "SqlConnector", "resolve_url"]


class SqlEntityConfig(StrictModel):
    """An entity is a ``table`` or a ``query`` (whose column aliases are the field names).

    ``timestamps`` says how ``updated_at`` is stored, so changed-since can compare in
    the database: ``native`` (a DATETIME/TIMESTAMP column), ``iso`` (ISO 8601 UTC text
    written in one format, compared as text) or ``epoch`` (seconds since 1970).
    """

    table: str | None = None
    query: str | None = None
    timestamps: Literal["native", "iso", "epoch"] = "native"
    columns: list[str] | None = Field(default=None, description="field names, for `syncwatch check`")

    @model_validator(mode="after")
    def _one_source(self) -> SqlEntityConfig:
        if (self.table is None) == (self.query is None):
            raise ValueError("give exactly one of 'table' or 'query'")
        return self

    def declared_fields(self) -> frozenset[str] | None:
        return frozenset(self.columns) if self.columns is not None else None


class SqlSystemConfig(SystemConfigBase):
    kind: Literal["sql"]
    url: str = Field(description="SQLAlchemy URL; a relative SQLite path is relative to the config file")
    timezone: TimeZoneName = "UTC"  # for naive timestamps read from the database
    retries: int = Field(default=3, ge=1, le=10)
    entities: dict[str, SqlEntityConfig] = Field(min_length=1)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        try:
            sa.engine.make_url(value)
        except sa_exc.ArgumentError:
            raise ValueError("not a SQLAlchemy URL; e.g. sqlite:///erp.db or postgresql+psycopg://host/db") from None
        return value


class SqlConnector:
    def __init__(self, system: str, config: SqlSystemConfig, ctx: ConnectorContext) -> None:
        self.system = system
        self._config = config
        self._ctx = ctx
        self._tz: tzinfo = ZoneInfo(config.timezone) if config.timezone != "UTC" else UTC
        self._engine = sa.create_engine(resolve_url(config.url, ctx.base_dir))
        self._meter = UsageMeter(system)

    @classmethod
    def open(cls, system: str, config: SqlSystemConfig, ctx: ConnectorContext) -> SqlConnector:
        return cls(system, config, ctx)

    # -- the Connector protocol ------------------------------------------------------------

    def read(self, query: EntityQuery, keys: Sequence[str]) -> list[Record]:
        rel = self._relation(query)
        names = self._columns(query)
        key_col = rel.c[query.key]
        records: list[Record] = []
        size = self._config.batch_size
        for start in range(0, len(keys), size):
            batch = list(keys[start : start + size])
            stmt = sa.select(*(rel.c[n] for n in names)).where(key_col.in_(batch))
            for row in self._execute(stmt):
                records.append(self._record(query, dict(zip(names, row, strict=True))))
        return records

    def changed_since(self, query: EntityQuery, since: datetime, limit: int) -> list[str]:
        if query.updated_at is None or limit <= 0:
            return []
        rel = self._relation(query)
        col = rel.c[query.updated_at]
        stmt = (
            sa.select(rel.c[query.key])
            .where(col >= self._bound_time(query.entity, since))
            .order_by(col.desc())
            .limit(limit)
        )
        return [str(row[0]) for row in self._execute(stmt)]

    def sample_keys(self, query: EntityQuery, size: int, rng: random.Random) -> list[str]:
        if size <= 0:
            return []
        rel = self._relation(query)
        # The database draws the sample: reading every key to sample in Python would
        # not scale to large tables. ``rng`` is unused: SQL random() is not seedable portably.
        stmt = sa.select(rel.c[query.key]).order_by(sa.func.random()).limit(size)
        return [str(row[0]) for row in self._execute(stmt)]

    def usage(self) -> ConnectorUsage:
        return self._meter.snapshot()

    def reset_usage(self) -> None:
        self._meter.reset()

    def close(self) -> None:
        self._engine.dispose()

    # -- internals ---------------------------------------------------------------------------

    def _entity(self, name: str) -> SqlEntityConfig:
        try:
            return self._config.entities[name]
        except KeyError:
            raise QueryError(f"no entity {name!r} configured", system=self.system) from None

    def _columns(self, query: EntityQuery) -> list[str]:
        names = [query.key, *query.fields]
        if query.updated_at is not None:
            names.append(query.updated_at)
        return list(dict.fromkeys(names))

    def _relation(self, query: EntityQuery) -> Any:
        entity = self._entity(query.entity)
        names = self._columns(query)
        if entity.table is not None:
            schema, _, table = entity.table.rpartition(".")
            return sa.table(table, *(sa.column(n) for n in names), schema=schema or None)
        return sa.text(entity.query or "").columns(*(sa.column(n) for n in names)).subquery("entity")

    def _bound_time(self, entity: str, since: datetime) -> Any:
        mode = self._entity(entity).timestamps
        since = since.astimezone(UTC)
        if mode == "epoch":
            return since.timestamp()
        if mode == "iso":
            return since.isoformat()
        return sa.literal(since, sa.DateTime(timezone=True))

    def _record(self, query: EntityQuery, row: dict[str, Any]) -> Record:
        problems: dict[str, str] = {}
        updated: datetime | None = None
        if query.updated_at is not None:
            raw = row.get(query.updated_at)
            if raw is None:
                problems[query.updated_at] = "empty"
            else:
                try:
                    updated = parse_timestamp(raw, self._tz)
                except ValueError as exc:
                    problems[query.updated_at] = str(exc)
        fields = {name: row.get(name) for name in query.fields}
        return Record(key=str(row[query.key]), fields=fields, updated_at=updated, problems=problems)

    def _execute(self, stmt: Any) -> list[Sequence[Any]]:
        def once() -> list[Sequence[Any]]:
            try:
                with self._meter.request(), self._engine.connect() as conn:
                    rows: list[Sequence[Any]] = [tuple(r) for r in conn.execute(stmt)]
            except (sa_exc.OperationalError, sa_exc.InterfaceError) as exc:
                if _is_query_problem(exc):
                    self._count("query_error")
                    raise QueryError(_first_line(exc), system=self.system) from exc
                self._count("unavailable")
                raise ConnectorUnavailable(_first_line(exc), system=self.system) from exc
            except sa_exc.SQLAlchemyError as exc:
                self._count("query_error")
                raise QueryError(_first_line(exc), system=self.system) from exc
            self._count("ok")
            return rows

        retrying = Retrying(
            stop=stop_after_attempt(self._config.retries),
            wait=wait_exponential(multiplier=0.2, max=5),
            retry=retry_if_exception_type(ConnectorUnavailable),
            sleep=self._ctx.sleep,
            reraise=True,
        )
        try:
            return retrying(once)
        except ConnectorUnavailable as exc:
            attempts = retrying.statistics.get("attempt_number", 1)
            self._meter.current.retries += max(0, attempts - 1)
            raise ConnectorUnavailable(
                str(exc).removeprefix(f"{self.system}: "), system=self.system, attempts=attempts
            ) from exc
        except ConnectorError:
            raise

    def _count(self, status: str) -> None:
        self._meter.current.by_status[status] = self._meter.current.by_status.get(status, 0) + 1


def resolve_url(url: str, base_dir: Path) -> sa.engine.URL:
    parsed = sa.engine.make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database and parsed.database != ":memory:":
        path = Path(parsed.database)
        if not path.is_absolute():
            parsed = parsed.set(database=str((base_dir / path).resolve()))
    return parsed


def _is_query_problem(exc: sa_exc.DBAPIError) -> bool:
    # SQLite reports a missing table/column as OperationalError; that is our query, not an outage.
    text = str(exc.orig).lower()
    return any(s in text for s in ("no such table", "no such column", "syntax error", "ambiguous"))


def _first_line(exc: Exception) -> str:
    orig = getattr(exc, "orig", None) or exc
    # The driver's message, without SQL text or parameters (they may hold customer keys).
    return f"{type(orig).__name__}: {str(orig).splitlines()[0][:200]}"
