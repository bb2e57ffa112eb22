"""Fixtures and builders for tests/test_store.py: a store on SQLite or PostgreSQL, results by hand.

PostgreSQL is used when ``SYNCWATCH_TEST_POSTGRES_URL`` is set (e.g.
``postgresql+psycopg://postgres@127.0.0.1:5432/syncwatch_test``); each test gets a
fresh schema, dropped afterwards, so tests are independent.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import create_engine, func, make_url, select, text
from sqlalchemy.orm import Session

from monitor.results import (
    DIVERGENT_KINDS,
    BreachKind,
    ConnectorUsage,
    DivergenceChanges,
    FieldDiff,
    Health,
    Interval,
    Kind,
    Observation,
    OpenDivergence,
    Outcome,
    ProbeResult,
    Stream,
    TargetResult,
    Verdict,
)
from monitor.store import Store
from monitor.store.models import Base

__all__ = [
    "POSTGRES_ENV",
    "T0",
    "store_url_fixture",
    "store_fixture",
    "obs",
    "make_result",
    "opened",
    "count_rows",
    "CONTRACT",
    "WMS",
    "SHOPIFY",
]

POSTGRES_ENV = "SYNCWATCH_TEST_POSTGRES_URL"
T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday morning
CONTRACT = "stock-wms-to-shopify"
WMS, SHOPIFY = "wms", "shopify"


@pytest.fixture(
    name="store_url", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def store_url_fixture(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """An empty database: a SQLite file in a directory not yet made, or a fresh PG schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store') / 'var' / 'syncwatch.db'}"
        return
    base = os.environ.get(POSTGRES_ENV)
    if not base:
        pytest.skip(f"{POSTGRES_ENV} is not set: no PostgreSQL server to test the store against")
    schema = f"syncwatch_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = make_url(base).update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(name="store")
def store_fixture(store_url: str) -> Iterator[Store]:
    opened = Store.open(store_url)
    try:
        yield opened
    finally:
        opened.close()


def count_rows(store: Store, table: str) -> int:
    with Session(store.engine) as session:
        return session.scalar(select(func.count()).select_from(Base.metadata.tables[table])) or 0


def obs(
    target: str,
    key: str,
    kind: Kind = Kind.IN_SYNC,
    at: datetime = T0,
    *,
    stream: Stream = Stream.UNIFORM,
    fields: tuple[str, ...] = (),
    **extra: object,
) -> Observation:
    """An observation with a FieldDiff per name in ``fields``; ``extra`` sets other attributes."""
    diffs = tuple(FieldDiff(field=name) for name in fields)
    made = Observation(
        target=target,
        key=key,
        key_display=key,
        stream=stream,
        kind=kind,
        observed_at=at,
        diffs=diffs,
    )
    return replace(made, **extra)  # type: ignore[arg-type]


def opened(
    key: str,
    at: datetime = T0,
    *,
    kind: Kind = Kind.STALE,
    first_seen: datetime | None = None,
    fields: tuple[str, ...] = ("available",),
) -> OpenDivergence:
    """A divergence of ``key`` in the WMS target as the engine reports it, last seen at ``at``."""
    return OpenDivergence(
        target=WMS,
        key=key,
        key_display=key,
        kind=kind,
        first_seen=first_seen or at,
        last_seen=at,
        source_updated_at=T0 - timedelta(minutes=5),
        fields=fields,
    )


def _health(contract: str, target: str, at: datetime, observations: list[Observation]) -> Health:
    sampled = [o for o in observations if o.stream is not Stream.FOLLOWUP]
    divergent = sum(o.kind in DIVERGENT_KINDS for o in sampled)
    by_kind: dict[str, int] = {}
    for o in sampled:
        by_kind[str(o.kind)] = by_kind.get(str(o.kind), 0) + 1
    n = len(sampled)
    return Health(
        contract=contract,
        target=target,
        at=at,
        outcome=Outcome.DIVERGENT if divergent else Outcome.IN_SYNC,
        sampled=n,
        divergent=divergent,
        out_of_budget=sum(o.out_of_budget for o in sampled),
        conflicts=sum(o.kind is Kind.CONFLICT for o in sampled),
        by_kind=by_kind,
        drift_ratio=divergent / n if n else None,
        drift_interval=Interval(0.0, 0.5) if n else None,
        out_of_budget_ratio=0.0 if n else None,
        out_of_budget_interval=Interval(0.0, 0.25) if n else None,
        lag_p50=12.5,
        lag_p95=300.0,
        lag_p95_lower_bound=True,
        lag_samples=3,
        censored=divergent,
        at_risk={"oversell": 1} if divergent else {},
    )


def make_result(
    at: datetime,
    observations: list[Observation],
    *,
    contract: str = CONTRACT,
    changes: DivergenceChanges | None = None,
    streaks: dict[str, dict[str, int]] | None = None,
    targets: tuple[str, ...] = (),
) -> ProbeResult:
    """A probe run at ``at`` of ``contract`` with these observations, grouped by target.

    ``streaks`` gives each target's verdict streaks (condition -> runs); a condition
    with a streak of 2 or more is breaching (``hold`` is 2).
    """
    names = list(dict.fromkeys([*targets, *(o.target for o in observations)]))
    streaks = streaks or {}
    results = []
    for name in names:
        mine = [o for o in observations if o.target == name]
        held = streaks.get(name, {})
        verdict = Verdict(
            target=name,
            conditions=tuple(BreachKind(c) for c, runs in held.items() if runs > 0),
            streaks=held,
            breaching=tuple(BreachKind(c) for c, runs in held.items() if runs >= 2),
            hold=2,
        )
        results.append(TargetResult(name, mine, _health(contract, name, at, mine), verdict))
    divergent = any(o.kind in DIVERGENT_KINDS for o in observations)
    return ProbeResult(
        contract=contract,
        started_at=at,
        finished_at=at + timedelta(seconds=4),
        outcome=Outcome.DIVERGENT if divergent else Outcome.IN_SYNC,
        sampled_by_stream={"recent": 2, "uniform": max(len(observations) - 2, 0)},
        targets=results,
        changes=changes or DivergenceChanges(),
        usage=[
            ConnectorUsage(system="wms", requests=3, by_status={"ok": 3}),
            ConnectorUsage(
                system="shopify",
                requests=2,
                by_status={"ok": 1, "429": 1},
                retries=1,
                rate_limit_waits=1,
                waited_seconds=1.5,
                cost_points=42.0,
            ),
        ],
    )
