"""End to end on real parts: SQLite databases, a loopback HTTP server, the shipped config, the store.

The example world injects divergences on purpose; the probes must find exactly
those (right keys, right kinds, right budget verdicts), and lag measured across
runs must fall within one probe interval of the true lag.
"""

from __future__ import annotations

import random
import shutil
import sqlite3
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.clock import FixedClock
from monitor.config import load_config
from monitor.example.server import CRM_KEY, SHOP_TOKEN, ExampleApi
from monitor.example.world import World, build_world
from monitor.loopback import LoopbackRequest, LoopbackResponse, LoopbackServer
from monitor.results import Kind, Outcome
from monitor.runner import Prober
from monitor.store import Store
from probes.base import ConnectorContext
from tests.support import T0, at

ROOT = Path(__file__).parent.parent


@pytest.fixture
def example(tmp_path: Path) -> Iterator[tuple[World, Prober, FixedClock]]:
    for name in ("syncwatch.yaml", "rules"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
    world = build_world(tmp_path / ".syncwatch" / "example", T0)
    api = ExampleApi(world)
    clock = FixedClock(T0)
    with LoopbackServer(api) as server:
        api.base_url = server.url
        env = {"SYNCWATCH_EXAMPLE_URL": server.url, "EXAMPLE_SHOP_TOKEN": SHOP_TOKEN, "EXAMPLE_CRM_KEY": CRM_KEY}
        config = load_config(tmp_path / "syncwatch.yaml", environ=env)
        store = Store.open(f"sqlite:///{tmp_path / 'sw.db'}")
        ctx = ConnectorContext(sleep=clock.sleep, monotonic=clock.monotonic, base_dir=tmp_path)
        prober = Prober(config, store, clock, ctx, random.Random(5))
        try:
            yield world, prober, clock
        finally:
            prober.close()
            store.close()


def test_probes_find_exactly_the_injected_divergences(example: tuple[World, Prober, FixedClock]) -> None:
    world, prober, clock = example
    found = set()
    for name in prober.config.contracts:
        clock.set(T0)
        result = prober.probe(name)
        assert result.outcome is Outcome.DIVERGENT
        for target in result.targets:
            for obs in target.observations:
                if obs.kind is not Kind.IN_SYNC:
                    found.add((name, target.target, obs.key_display if not obs.key.startswith("h:") else obs.key, obs.kind.value, obs.out_of_budget))
    secret = prober.store.key_secret()
    from monitor.keys import KeyProtector

    protect = KeyProtector(True, secret)
    expected = {
        (t.contract, t.target, protect.stored(t.key.casefold()) if "@" in t.key else t.key, t.kind, t.out_of_budget)
        for t in world.truth
    }
    assert found == expected


def test_breach_needs_hold_runs_and_the_store_remembers(example: tuple[World, Prober, FixedClock]) -> None:
    _, prober, clock = example
    first = prober.probe("consent-shop-to-crm")
    assert first.targets[0].verdict.breaching == ()  # hold: 2 runs
    clock.advance(timedelta(minutes=10))
    second = prober.probe("consent-shop-to-crm")
    assert [k.value for k in second.targets[0].verdict.breaching] == ["out_of_budget"]
    # Divergences were followed, not reopened: first seen stays at the first run.
    opened = {d.key: d.first_seen for d in prober.store.open_divergences("consent-shop-to-crm")}
    assert len(opened) == 4 and set(opened.values()) == {first.started_at}


def test_no_customer_email_is_stored_in_clear(example: tuple[World, Prober, FixedClock], tmp_path: Path) -> None:
    world, prober, _ = example
    prober.probe("consent-shop-to-crm")
    prober.store.close()
    dump = "\n".join(sqlite3.connect(tmp_path / "sw.db").iterdump())
    assert "h:" in dump
    for email in world.customers:
        assert email.casefold() not in dump.casefold()


# -- lag across runs, against the truth ------------------------------------------------------------

LAGS = {f"SKU{i:02d}": lag for i, lag in enumerate([20, 45, 70, 100, 130, 170, 230, 290, 350, 480, 700, 900])}
PROBE_EVERY = 60
CHANGE_AT = 30  # every SKU changes in the WMS at T0 + 30 s


class LaggingShop:
    """The shop's inventory applies each WMS change ``LAGS[sku]`` seconds after it happened."""

    def __init__(self, clock: FixedClock) -> None:
        self.clock = clock

    def __call__(self, request: LoopbackRequest) -> LoopbackResponse:
        wanted = (request.param("sku") or "").split(",")
        now = (self.clock.now() - T0).total_seconds()
        rows: list[dict[str, Any]] = []
        for sku in wanted:
            if sku not in LAGS:
                continue
            synced = now >= CHANGE_AT + LAGS[sku]
            rows.append({
                "sku": sku,
                "available": 20 if synced else 10,
                "updated_at": at(CHANGE_AT + LAGS[sku] if synced else -86400).isoformat(),
            })
        return LoopbackResponse(body={"inventory": rows})


def _lag_config(tmp_path: Path, url: str) -> Path:
    (tmp_path / "rules" / "contracts").mkdir(parents=True)
    (tmp_path / "rules" / "owners.yaml").write_text("owners:\n  priya: {name: Priya, slack: U04PRIYA01}\n")
    (tmp_path / "rules" / "contracts" / "stock.yaml").write_text(
        "contract: stock\nowner: priya\n"
        "source: {system: wms, entity: stock, key: sku, updated_at: last_updated, fields: {available: level}}\n"
        "targets: [{system: shop, entity: inventory, key: sku, updated_at: updated_at}]\n"
        "fields: {available: {compare: number}}\n"
        "budget: {latency: 5m, drift: 1%, hold: 1 run}\n"
        "sampling: {every: 1m, size: 50, recent: 50%}\n"
    )
    (tmp_path / "syncwatch.yaml").write_text(
        "systems:\n"
        "  wms: {kind: sql, url: 'sqlite:///wms.db', entities: {stock: {table: stock_levels, timestamps: iso}}}\n"
        "  shop:\n"
        "    kind: http\n"
        f"    base_url: '{url}'\n"
        "    clock_skew: 0s\n"
        "    entities: {inventory: {records: inventory, lookup: {path: /inventory, params: {sku: '{keys}'}}}}\n"
    )
    return tmp_path / "syncwatch.yaml"


def test_lag_is_measured_within_one_probe_interval_of_the_truth(tmp_path: Path) -> None:
    clock = FixedClock(T0)
    with sqlite3.connect(tmp_path / "wms.db") as db:
        db.execute("CREATE TABLE stock_levels (sku TEXT PRIMARY KEY, level INTEGER, last_updated TEXT)")
        db.executemany("INSERT INTO stock_levels VALUES (?, 20, ?)", [(s, at(CHANGE_AT).isoformat()) for s in LAGS])
    db.close()
    with LoopbackServer(LaggingShop(clock)) as server:
        config = load_config(_lag_config(tmp_path, server.url))
        store = Store.open(f"sqlite:///{tmp_path / 'sw.db'}")
        prober = Prober(config, store, clock, ConnectorContext(clock.sleep, clock.monotonic, tmp_path), random.Random(1))
        resolved: dict[str, float] = {}
        stale_seen: dict[str, list[tuple[float, bool]]] = {}
        try:
            for run in range(1, 20):
                clock.set(at(run * PROBE_EVERY))
                result = prober.probe("stock")
                for res in result.changes.resolved:
                    resolved[res.key] = res.lag_seconds
                    assert res.resolution_seconds == PROBE_EVERY
                for obs in result.targets[0].observations:
                    if obs.kind is Kind.STALE:
                        stale_seen.setdefault(obs.key, []).append((obs.age_seconds or 0, obs.out_of_budget))
        finally:
            prober.close()
            store.close()
    for sku, true_lag in LAGS.items():
        if true_lag < PROBE_EVERY - CHANGE_AT:
            assert sku not in resolved  # synced before the first probe saw it: never divergent
            continue
        assert true_lag <= resolved[sku] < true_lag + PROBE_EVERY, sku
    # While behind, each stale record was out of budget exactly when older than 5 minutes.
    for sku, seen in stale_seen.items():
        assert all(oob == (age > 300) for age, oob in seen), sku
    assert any(oob for seen in stale_seen.values() for _, oob in seen)


def test_observations_past_retention_are_pruned_and_health_is_kept(example: tuple[World, Prober, FixedClock]) -> None:
    _, prober, clock = example
    first = prober.probe("orders-shop-to-erp")
    first_id = prober.store.runs("orders-shop-to-erp", limit=1)[0].id
    assert len(prober.store.observations(first_id)) == 120
    clock.advance(timedelta(days=31))  # retention in the shipped config: 30 days
    prober.probe("orders-shop-to-erp")
    assert prober.store.observations(first_id) == []
    assert len(prober.store.runs("orders-shop-to-erp")) == 2
    assert first.started_at < prober.store.latest_health("orders-shop-to-erp")[0].at
