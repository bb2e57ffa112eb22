"""Reads for reports over a stretch of time (the weekly summary, the audit): light rows, one
query each, only the columns the figures need, so that a week of 100,000 runs reads in seconds.
``Store.week_*`` call these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Text, and_, func, or_, select, type_coerce
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from monitor.clock import ensure_utc
from monitor.results import Incident
from monitor.store.mapping import incident_from_row
from monitor.store.models import DivergenceRow, HealthSnapshotRow, IncidentRow

__all__ = ["WeekSnapshot", "WeekConflict", "snapshots", "snapshot_totals", "incidents", "conflicts"]


@dataclass(frozen=True, slots=True)
class WeekSnapshot:
    """A health snapshot (one contract × target × run), as the reports need it."""

    run_id: int
    contract: str
    target: str
    at: datetime
    failed: bool  # the run could not read (outcome error)
    sampled: int
    out_of_budget: int
    unreadable: int
    conflicts: int
    lag_p50: float | None
    lag_p95: float | None
    lag_p95_lower_bound: bool
    by_kind: dict[str, Any]
    at_risk: dict[str, Any]
    error_reason: str | None


@dataclass(frozen=True, slots=True)
class WeekConflict:
    """A conflict divergence seen in the stretch: which target wrote which fields of which key."""

    contract: str
    target: str
    key: str
    fields: list[str]
    first_seen: datetime
    last_seen: datetime


_S = HealthSnapshotRow
_EMPTY = frozenset({"{}", "[]", "null", ""})


def _json(value: Any) -> Any:
    """A JSON column read as raw text (SQLite) or already decoded (psycopg): decoded once, with orjson."""
    if isinstance(value, str | bytes):
        return None if value in _EMPTY else orjson.loads(value)
    return value


def _when(value: Any) -> datetime:
    """A timestamp read raw: SQLite's text (UTC, as the store writes it) or a driver's datetime."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC)
    return ensure_utc(value)


def snapshots(engine: Engine, start: datetime, end: datetime, contract: str | None = None) -> list[WeekSnapshot]:
    """The week's snapshots, unordered. JSON and times are read raw and decoded here: through the
    ORM types, decoding 150,000 rows' JSON cost more than the query."""
    stmt = select(
        _S.run_id, _S.contract, _S.target, type_coerce(_S.at, Text), _S.outcome, _S.sampled, _S.out_of_budget,
        _S.unreadable, _S.conflicts, _S.lag_p50, _S.lag_p95, _S.lag_p95_lower_bound, type_coerce(_S.by_kind, Text),
        type_coerce(_S.at_risk, Text), _S.error_reason,
    ).where(_S.at >= start, _S.at < end)
    if contract is not None:
        stmt = stmt.where(_S.contract == contract)
    out: list[WeekSnapshot] = []
    with engine.connect() as conn:
        # Streamed in batches: PostgreSQL's driver would otherwise hold the whole result at once.
        for row in conn.execution_options(yield_per=10_000).execute(stmt):
            out.append(WeekSnapshot(
                run_id=row[0], contract=row[1], target=row[2], at=_when(row[3]), failed=row[4] == "error",
                sampled=row[5], out_of_budget=row[6], unreadable=row[7], conflicts=row[8], lag_p50=row[9],
                lag_p95=row[10], lag_p95_lower_bound=bool(row[11]), by_kind=_json(row[12]) or {},
                at_risk=_json(row[13]) or {}, error_reason=row[14],
            ))
    return out


def snapshot_totals(engine: Engine, start: datetime, end: datetime) -> tuple[int, int]:
    """(sampled, out of budget) over the runs that could read, in [start, end)."""
    stmt = select(func.coalesce(func.sum(_S.sampled), 0), func.coalesce(func.sum(_S.out_of_budget), 0)).where(
        _S.at >= start, _S.at < end, _S.outcome != "error")
    with engine.connect() as conn:
        sampled, oob = conn.execute(stmt).one()
    return int(sampled), int(oob)


def incidents(engine: Engine, start: datetime, end: datetime) -> list[Incident]:
    """Incidents open at any time in [start, end)."""
    stmt = select(IncidentRow).where(
        IncidentRow.opened_at < end,
        or_(IncidentRow.resolved_at.is_(None), IncidentRow.resolved_at >= start),
    ).order_by(IncidentRow.opened_at, IncidentRow.id)
    with Session(engine) as session:
        return [incident_from_row(row) for row in session.scalars(stmt)]


def conflicts(engine: Engine, start: datetime, end: datetime) -> list[WeekConflict]:
    """Conflict divergences seen in [start, end)."""
    d = DivergenceRow
    stmt = select(d.contract, d.target, d.key, d.fields, d.first_seen, d.last_seen).where(
        and_(d.kind == "conflict", d.first_seen < end, d.last_seen >= start))
    with engine.connect() as conn:
        return [WeekConflict(r[0], r[1], r[2], list(r[3] or []), ensure_utc(r[4]), ensure_utc(r[5]))
                for r in conn.execute(stmt)]
