"""The service: jobs from the config, reloads, metrics, and the HTTP endpoints, on a real
SQLite world and store (the scheduler started paused: the tests run the jobs themselves)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.clock import FixedClock
from monitor.config import load_config
from monitor.results import Outcome
from monitor.service.app import build_app
from monitor.service.http import HttpServer
from monitor.service.runtime import ProbeService
from monitor.store import Store
from probes.base import ConnectorContext
from tests.service_support import SqlWorld, build_sql_world
from tests.store_fixtures import store_url_fixture  # noqa: F401  (the store_url fixture)
from tests.support import T0


@pytest.fixture
def world(tmp_path: Path) -> SqlWorld:
    w = build_sql_world(tmp_path)
    old, now = T0 - timedelta(minutes=30), T0 - timedelta(seconds=20)
    rows: dict[str, tuple[int, object, int | None, object]] = {
        f"SKU{i:03d}": (10, now, 10, now + timedelta(seconds=5)) for i in range(45)
    }
    for i in range(45, 50):  # the shop missed a change 30 minutes ago: stale, out of budget
        rows[f"SKU{i:03d}"] = (3, old, 8, old - timedelta(hours=1))
    w.set_stock(rows)  # type: ignore[arg-type]
    return w


@pytest.fixture
def service(world: SqlWorld, store_url: str) -> Iterator[tuple[ProbeService, FixedClock]]:
    """The service over the SQLite world, its store on SQLite and (when configured) PostgreSQL."""
    clock = FixedClock(T0)
    config = load_config(world.config_path)
    store = Store.open(store_url)
    ctx = ConnectorContext(sleep=clock.sleep, monotonic=clock.monotonic, base_dir=config.base_dir)
    svc = ProbeService(config, store, clock, ctx, watch_every=timedelta(seconds=1))
    svc.start(paused=True)
    try:
        yield svc, clock
    finally:
        svc.stop()
        store.close()


@contextmanager
def _client(svc: ProbeService) -> Iterator[httpx.Client]:
    """The service's app served by uvicorn on loopback, and a client for it."""
    server = HttpServer(build_app(svc), "127.0.0.1", 0)
    server.start()
    try:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            yield client
    finally:
        server.stop()


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


def test_jobs_are_built_from_the_config(service: tuple[ProbeService, FixedClock]) -> None:
    svc, _ = service
    jobs = {job.id: job for job in svc.jobs()}
    assert set(jobs) == {"probe:stock", "syncwatch:watch-config"}
    job = jobs["probe:stock"]
    assert job.trigger.interval == timedelta(minutes=1)
    assert job.trigger.jitter == pytest.approx(3.0)  # 5% of the interval
    assert job.coalesce is True and job.max_instances == 1 and job.misfire_grace_time == 30
    assert job.args == ("stock",)


def test_endpoints_show_what_the_probes_found(service: tuple[ProbeService, FixedClock]) -> None:
    svc, clock = service
    first = svc.run_contract("stock")
    clock.advance(60)
    second = svc.run_contract("stock")
    assert first is not None and second is not None
    assert second.targets[0].verdict.breaching  # 5 of 50 out of budget, twice: a breach
    with _client(svc) as client:
        _check_endpoints(client)


def _check_endpoints(client: httpx.Client) -> None:
    assert client.get("/healthz").text == "ok\n"
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {
        "ready": True, "checks": {"config": "ok", "scheduler": "ok", "store": "ok"}}

    api = client.get("/api/contracts").json()["contracts"]
    assert [c["contract"] for c in api] == ["stock"]
    stock = api[0]
    assert stock["state"] == "red" and stock["owner"] == "Priya Shah" and stock["owner_slack"] == "U04PRIYA01"
    target = stock["targets"][0]
    assert target["breaching"] == ["out_of_budget"] and target["open_divergences"] == {"stale": 5}
    assert target["out_of_budget_ratio"] == pytest.approx(0.1) and target["sampled"] == 50

    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    html = page.text
    assert '<meta http-equiv="refresh"' in html and "<script" not in html
    assert "stock</span> → shop" in html and 'class="state red"' in html and "breach: out of budget" in html
    assert "10.0%" in html and "5 stale" in html and "Priya Shah" in html

    metrics = client.get("/metrics")
    assert metrics.headers["content-type"].startswith("text/plain")
    samples = _samples(metrics.text)
    labels = {"contract": "stock", "target": "shop"}
    assert _value(samples, "syncwatch_breach", kind="out_of_budget", **labels) == 1
    assert _value(samples, "syncwatch_breach", kind="conflict", **labels) == 0
    assert _value(samples, "syncwatch_records_sampled_total", **labels) == 100
    assert _value(samples, "syncwatch_records_out_of_budget_total", **labels) == 10
    assert _value(samples, "syncwatch_divergences_open", kind="stale", **labels) == 5
    assert _value(samples, "syncwatch_incidents_open", kind="out_of_budget", state="open", **labels) == 1
    assert _value(samples, "syncwatch_incidents_open", kind="conflict", state="open", **labels) == 0
    assert _value(samples, "syncwatch_oldest_open_divergence_age_seconds", **labels) == 31 * 60
    assert _value(samples, "syncwatch_out_of_budget_ratio", **labels) == pytest.approx(0.1)
    assert _value(samples, "syncwatch_latency_budget_seconds", contract="stock") == 300
    assert _value(samples, "syncwatch_drift_budget_ratio", contract="stock") == pytest.approx(0.02)
    assert _value(samples, "syncwatch_probe_runs_total", contract="stock", outcome="divergent") == 2
    assert _value(samples, "syncwatch_last_success_timestamp_seconds", contract="stock") == (T0.timestamp() + 60)
    assert _value(samples, "syncwatch_connector_requests_total", system="wms", status="ok") >= 2
    # Every request timed: as many durations as requests.
    requests = sum(v for (n, lab), v in samples.items() if n == "syncwatch_connector_requests_total" and ("system", "wms") in lab)
    assert _value(samples, "syncwatch_connector_request_duration_seconds_count", system="wms") == requests
    # 45 in-sync records gave a lag sample each run (5 s each), and the 300 s budget is a bucket edge.
    assert _value(samples, "syncwatch_sync_lag_seconds_count", **labels) == 90
    assert _value(samples, "syncwatch_sync_lag_seconds_bucket", le="300.0", **labels) == 90
    # Nothing personal or free-text in any label.
    assert not re.search(r'="[^"]*(SKU0|@|Traceback)', metrics.text)


def test_a_system_that_cannot_be_read_is_a_probe_error_in_the_metrics(
    service: tuple[ProbeService, FixedClock], world: SqlWorld
) -> None:
    svc, _ = service
    (world.root / "wms.db").unlink()
    (world.root / "wms.db").mkdir()  # a directory: SQLite cannot open it
    result = svc.run_contract("stock")
    assert result is not None and result.outcome is Outcome.ERROR
    with _client(svc) as client:
        samples = _samples(client.get("/metrics").text)
        state = client.get("/api/contracts").json()["contracts"][0]["state"]
    assert _value(samples, "syncwatch_probe_runs_total", contract="stock", outcome="error") == 1
    assert sum(v for (name, labels), v in samples.items() if name == "syncwatch_probe_errors_total") == 1
    assert ("syncwatch_last_success_timestamp_seconds", (("contract", "stock"),)) not in samples
    assert state == "amber"  # one failed run: not yet a probe_failing breach (hold 2)


def test_contract_files_reload_and_a_bad_edit_keeps_the_running_config(
    service: tuple[ProbeService, FixedClock], world: SqlWorld
) -> None:
    svc, _ = service
    added = world.write_contract("stock-b", every="5m")
    assert svc.reload("test") is True
    assert {j.id for j in svc.jobs()} >= {"probe:stock", "probe:stock-b"}
    assert svc.metrics.registry.get_sample_value("syncwatch_probe_interval_seconds", {"contract": "stock-b"}) == 300

    added.write_text(added.read_text().replace("drift: 2%", "drift: lots"))
    assert svc.reload("test") is False
    assert svc.last_reload_error is not None and "stock-b.yaml" in svc.last_reload_error
    assert "budget.drift" in svc.last_reload_error
    assert set(svc.config.contracts) == {"stock", "stock-b"}  # still running the last good config

    added.unlink()
    assert svc.reload("test") is True
    assert {j.id for j in svc.jobs() if j.id.startswith("probe:")} == {"probe:stock"}
    assert svc.metrics.registry.get_sample_value("syncwatch_probe_interval_seconds", {"contract": "stock-b"}) is None
    assert svc.last_reload_error is None


def test_an_edited_contract_file_is_noticed_by_the_watch(
    service: tuple[ProbeService, FixedClock], world: SqlWorld
) -> None:
    svc, _ = service
    world.write_contract("stock", every="2m")
    svc.check_files()
    assert svc.config.contracts["stock"].sampling.every == timedelta(minutes=2)
    job = next(j for j in svc.jobs() if j.id == "probe:stock")
    assert job.trigger.interval == timedelta(minutes=2)


def test_the_evidence_of_a_streak_is_kept_in_the_store_between_runs(
    service: tuple[ProbeService, FixedClock], world: SqlWorld
) -> None:
    # 5 of 50 against a 5% budget: p = 0.10 for one run, 0.028 for two pooled; a breach at 95% only
    # if the second run sees the first run's samples: the store carries them (PriorState.evidence).
    svc, clock = service
    world.write_contract("stock", drift="5%", confidence="95%")
    assert svc.reload("test")
    first = svc.run_contract("stock")
    assert first is not None and first.targets[0].verdict.breaching == ()
    assert svc.store.prior_state("stock").evidence == {"shop": (50, 5)}
    clock.advance(60)
    second = svc.run_contract("stock")
    assert second is not None
    v = second.targets[0].verdict
    assert v.evidence == (100, 10) and v.p_value is not None and v.p_value < 0.05
    assert [k.value for k in v.breaching] == ["out_of_budget"]
    stored = svc.store.latest_records("stock")[0].verdict
    assert stored.evidence == (100, 10) and stored.p_value == pytest.approx(v.p_value)
