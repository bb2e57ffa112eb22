"""The /metrics text cache: regenerated only when something changed and it is old enough;
the age of open divergences always live."""

from __future__ import annotations

import random

from prometheus_client.parser import text_string_to_metric_families

from monitor.clock import FixedClock
from monitor.engine import ProbeEngine
from monitor.metrics import SyncMetrics
from monitor.results import Kind, OpenDivergence, PriorState, ProbeResult
from tests.support import MemoryConnector, at, contract, systems
from tests.test_prometheus_rules import metrics_config


def _value(text: bytes, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text.decode()):
        for s in family.samples:
            if s.name == name and s.labels == labels:
                return float(s.value)
    return None


def _run(clock: FixedClock) -> ProbeResult:
    src = [{"sku": "a", "available": 5, "updated_at": at(-2400)}]
    tgt = [{"sku": "a", "available": 9, "updated_at": at(-9000)}]
    engine = ProbeEngine(contract(), systems(), b"k" * 32)
    return engine.run({"wms": MemoryConnector("wms", {"stock": src}), "shop": MemoryConnector("shop", {"inventory": tgt})},
                      PriorState(), clock, random.Random(1))


OPEN = [OpenDivergence("shop", "a", "a", Kind.STALE, at(0), at(0), at(-2400))]
RUNS = "syncwatch_probe_runs_total"


def test_without_a_cache_every_scrape_sees_the_last_run() -> None:
    clock = FixedClock(at(0))
    metrics = SyncMetrics(metrics_config(), clock)
    assert _value(metrics.exposition(), RUNS, contract="stock", outcome="divergent") is None
    metrics.observe(_run(clock), OPEN)
    assert _value(metrics.exposition(), RUNS, contract="stock", outcome="divergent") == 1


def test_a_cached_text_waits_for_its_age_but_the_open_divergence_age_is_always_live() -> None:
    clock = FixedClock(at(0))
    metrics = SyncMetrics(metrics_config(), clock, cache_seconds=3600)
    first = metrics.exposition()
    metrics.observe(_run(clock), OPEN)
    clock.advance(60)
    second = metrics.exposition()
    # The run is not in the text yet (regenerated at most hourly here) ...
    assert _value(second, RUNS, contract="stock", outcome="divergent") is None
    assert second.startswith(first[: first.index(b"# HELP syncwatch_oldest_open_divergence_age_seconds")])
    # ... but the age of the oldest open divergence is computed at the scrape.
    assert _value(second, "syncwatch_oldest_open_divergence_age_seconds", contract="stock", target="shop") == 2460

