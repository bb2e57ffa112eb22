"""Benchmark: probe runs recorded per second by ``Store.record`` into a fresh SQLite file.

Each run holds 100 observations over two targets (about 1 in 20 stale with a field
diff, 1 in 10 a recent change with a lag sample, one unreadable with a problem), a
health snapshot and verdict per target, and divergence changes (one opened, two
updated, one resolved), built from ``monitor.results`` as the store tests build them.
The store is the real one (WAL, synchronous=NORMAL), in a temporary directory.
Prints the best of ``--repeat`` passes (wall and CPU time), one figure a line::

    runs=N observations=N seconds=X cpu_seconds=X ms_per_run=X runs_per_second=X
    observations_per_second=X

Run: ``.venv/bin/python benchmarks/bench_store.py [--runs 500] [--repeat 3] [--postgres URL]``
(``--postgres``: each pass in a fresh schema on that server, dropped afterwards).
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, make_url, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from monitor.results import (  # noqa: E402
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
    Resolution,
    Stream,
    TargetResult,
    Verdict,
)
from monitor.store import Store  # noqa: E402

T0 = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
EVERY = timedelta(minutes=3)
CONTRACT = "stock-wms-to-shopify"
TARGETS = ("shopify", "erp")
PER_TARGET = 50


def observation(target: str, i: int, at: datetime) -> Observation:
    key = f"SKU-{i:05d}"
    updated = at - timedelta(hours=i % 48, seconds=i)
    if i % 20 == 7:
        diff = FieldDiff("available", risk="oversell", direction="target_higher", at_risk=True)
        return Observation(
            target, key, key, Stream.RECENT, Kind.STALE, at, (diff,),
            source_updated_at=updated, target_updated_at=updated - timedelta(minutes=9),
            age_seconds=540.0 + i / 3, out_of_budget=i % 40 == 7,
        )
    if i % 10 == 3:
        return Observation(
            target, key, key, Stream.RECENT, Kind.IN_SYNC, at,
            source_updated_at=updated, target_updated_at=updated + timedelta(seconds=4.25),
            lag_seconds=4.25 + i / 7,
        )
    if i == 42:
        return Observation(
            target, key, key, Stream.UNIFORM, Kind.UNREADABLE, at,
            problems=("target.available: not a number ‘n/a’",),
        )
    return Observation(
        target, key, key, Stream.UNIFORM, Kind.IN_SYNC, at,
        source_updated_at=updated, target_updated_at=updated + timedelta(seconds=40),
    )


def health(target: str, at: datetime, observations: list[Observation]) -> Health:
    divergent = sum(o.kind is Kind.STALE for o in observations)
    return Health(
        contract=CONTRACT, target=target, at=at,
        outcome=Outcome.DIVERGENT if divergent else Outcome.IN_SYNC,
        sampled=len(observations), divergent=divergent,
        out_of_budget=sum(o.out_of_budget for o in observations), unreadable=1,
        by_kind={"in_sync": len(observations) - divergent - 1, "stale": divergent, "unreadable": 1},
        drift_ratio=divergent / len(observations), drift_interval=Interval(0.02, 0.11),
        out_of_budget_ratio=0.02, out_of_budget_interval=Interval(0.0, 0.07),
        lag_p50=12.5, lag_p95=300.0, lag_p95_lower_bound=True, lag_samples=5,
        censored=divergent, at_risk={"oversell": divergent},
    )


def divergence(n: int, at: datetime) -> OpenDivergence:
    key = f"DIV-{n:05d}"
    first = T0 + n * EVERY
    return OpenDivergence(TARGETS[0], key, key, Kind.STALE, first, at, first, ("available",))


def changes(n: int, at: datetime) -> DivergenceChanges:
    """Run ``n`` opens one key, updates the two opened before it, resolves the one before those."""
    gone = n - 3
    resolved = [
        Resolution(
            TARGETS[0], f"DIV-{gone:05d}", f"DIV-{gone:05d}", Kind.STALE, T0 + gone * EVERY, at,
            T0 + gone * EVERY, 3 * EVERY.total_seconds(), EVERY.total_seconds(),
        )
    ] if gone >= 0 else []
    updated = [divergence(m, at) for m in (n - 2, n - 1) if m >= 0]
    return DivergenceChanges(opened=[divergence(n, at)], updated=updated, resolved=resolved)


def probe_result(n: int) -> ProbeResult:
    at = T0 + n * EVERY
    targets = []
    for t, name in enumerate(TARGETS):
        observations = [observation(name, t * PER_TARGET + i, at) for i in range(PER_TARGET)]
        streaks = {"out_of_budget": n % 3, "conflict": 0, "schema_change": 0, "probe_failing": 0}
        verdict = Verdict(
            name, (BreachKind.OUT_OF_BUDGET,) if n % 3 else (), streaks,
            (BreachKind.OUT_OF_BUDGET,) if n % 3 >= 2 else (), 2,
        )
        targets.append(TargetResult(name, observations, health(name, at, observations), verdict))
    return ProbeResult(
        contract=CONTRACT, started_at=at, finished_at=at + timedelta(seconds=3.1),
        outcome=Outcome.DIVERGENT, sampled_by_stream={"recent": 20, "uniform": 80},
        targets=targets, changes=changes(n, at),
        usage=[
            ConnectorUsage("wms", requests=3, by_status={"200": 3}),
            ConnectorUsage("shopify", 2, {"200": 1, "429": 1}, 1, 1, 1.5, 42.0),
        ],
    )


def one_pass(runs: int, postgres: str | None) -> tuple[float, float]:
    """Wall and CPU seconds to record ``runs`` runs into a new store (SQLite, or a fresh
    schema on the PostgreSQL server at ``postgres``, dropped afterwards)."""
    results = [probe_result(n) for n in range(runs)]
    with contextlib.ExitStack() as stack:
        if postgres is None:
            url = f"sqlite:///{stack.enter_context(tempfile.TemporaryDirectory())}/bench.db"
        else:
            url = stack.enter_context(fresh_schema(postgres))
        store = stack.enter_context(Store.open(url))
        wall, cpu = time.perf_counter(), time.process_time()
        for result in results:
            store.record(result)
        return time.perf_counter() - wall, time.process_time() - cpu


@contextlib.contextmanager
def fresh_schema(base: str) -> Iterator[str]:
    """A new PostgreSQL schema on ``base`` for one measurement, dropped afterwards; yields its URL."""
    schema = f"bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    try:
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        yield make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--postgres", metavar="URL", help="a PostgreSQL server (postgresql+psycopg://...) instead of SQLite")
    args = parser.parse_args()
    passes = [one_pass(args.runs, args.postgres) for _ in range(args.repeat)]
    print(f"backend={'postgresql' if args.postgres else 'sqlite'}")
    seconds = min(wall for wall, _ in passes)
    cpu_seconds = min(cpu for _, cpu in passes)
    observations = args.runs * PER_TARGET * len(TARGETS)
    print(f"runs={args.runs}")
    print(f"observations={observations}")
    print(f"seconds={seconds:.3f}")
    print(f"cpu_seconds={cpu_seconds:.3f}")
    print(f"ms_per_run={1000 * seconds / args.runs:.2f}")
    print(f"runs_per_second={args.runs / seconds:.1f}")
    print(f"observations_per_second={observations / seconds:.0f}")


if __name__ == "__main__":
    main()
