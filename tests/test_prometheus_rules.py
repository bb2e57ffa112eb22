"""Prometheus rules, their unit tests, the compose stack's Prometheus config and the exposition.

The promtool checks run when promtool is on PATH (CI installs the Debian ``prometheus``
package) and are skipped, saying so, when it is not. The check that every metric the
rules use is produced by the exporter needs no promtool.
"""

from __future__ import annotations

import random
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.clock import FixedClock
from monitor.config import Config
from monitor.config.models import Settings
from monitor.engine import ProbeEngine
from monitor.metrics import METRIC_NAMES, SyncMetrics
from monitor.results import Kind, OpenDivergence, PriorState
from tests.support import T0, MemoryConnector, at, contract, systems

REPO = Path(__file__).resolve().parent.parent
RULES = REPO / "rules/prometheus/syncwatch.rules.yml"
RULE_TESTS = sorted((REPO / "rules/prometheus/tests").glob("*.test.yml"))
PROMETHEUS_CONFIG = REPO / "deploy/prometheus/prometheus.yml"
TIMEOUT = 120

# syncwatch_… series names and syncwatch:…:… recording-rule names in PromQL text.
_TOKEN = re.compile(r"(?<![A-Za-z0-9_:])syncwatch[a-z0-9_:]*")

needs_promtool = pytest.mark.skipif(
    shutil.which("promtool") is None,
    reason="promtool is not on PATH (apt-get install --no-install-recommends prometheus; CI installs it)",
)


# -- shared helpers (tests/test_dashboards.py uses them too) ------------------------------------


def metrics_config() -> Config:
    """A one-contract config (stock: wms → shop, budget 5 minutes) for a standalone SyncMetrics."""
    return Config(
        path=REPO / "syncwatch.yaml", base_dir=REPO, settings=Settings(), systems=dict(systems()), owners={},
        contracts={"stock": contract()},
    )


def exposed_series_names() -> frozenset[str]:
    """Series names the exporter can expose: gauges as named, counters with ``_total``,
    histograms only through ``_bucket``, ``_count`` and ``_sum`` (the bare name has no series)."""
    metrics = SyncMetrics(metrics_config(), FixedClock(T0))
    names: set[str] = set()
    families: set[str] = set()
    for family in [*metrics.registry.collect(), *metrics.live.collect()]:
        if family.type == "histogram":
            families.add(family.name)
            names.update(f"{family.name}{suffix}" for suffix in ("_bucket", "_count", "_sum"))
        elif family.type == "counter":
            families.add(f"{family.name}_total")
            names.add(f"{family.name}_total")
        else:
            families.add(family.name)
            names.add(family.name)
    assert families == METRIC_NAMES, "METRIC_NAMES and the registry disagree"
    return frozenset(names)


def metric_tokens(promql: str) -> set[str]:
    """The ``syncwatch…`` names used in a PromQL expression (label values and strings excluded)."""
    without_strings = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', promql)
    return set(_TOKEN.findall(without_strings))


def load_rules() -> list[dict[str, Any]]:
    doc = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in doc["groups"] for rule in group["rules"]]


def recorded_names() -> frozenset[str]:
    return frozenset(rule["record"] for rule in load_rules() if "record" in rule)


def unknown_metrics(promql: str, exposed: frozenset[str], recorded: frozenset[str]) -> set[str]:
    """Names in ``promql`` that neither the exporter nor a recording rule produces."""
    return {t for t in metric_tokens(promql) if t not in (recorded if ":" in t else exposed)}


def _promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["promtool", *args], input=stdin, capture_output=True, timeout=TIMEOUT, cwd=REPO)


def _explain(result: subprocess.CompletedProcess[bytes]) -> str:
    return f"rc={result.returncode}\n{result.stdout.decode()}\n{result.stderr.decode()}"


def sample_exposition() -> bytes:
    """/metrics after one probe run with stale, out-of-budget and missing records and open divergences."""
    clock = FixedClock(at(0))
    metrics = SyncMetrics(metrics_config(), clock)
    src = [{"sku": k, "available": 5, "updated_at": at(-age)} for k, age in (("a", 1000), ("b", 60), ("c", 2400), ("d", 7200))]
    tgt = [
        {"sku": "a", "available": 5, "updated_at": at(-990)},
        {"sku": "b", "available": 4, "updated_at": at(-3000)},
        {"sku": "c", "available": 9, "updated_at": at(-9000)},
    ]
    wms, shop = MemoryConnector("wms", {"stock": src}), MemoryConnector("shop", {"inventory": tgt})
    engine = ProbeEngine(contract(), systems(), b"k" * 32)
    result = engine.run({"wms": wms, "shop": shop}, PriorState(), clock, random.Random(3))
    opened = [
        OpenDivergence("shop", "c", "c", Kind.STALE, at(-600), at(0), at(-2400)),
        OpenDivergence("shop", "d", "d", Kind.MISSING, at(-600), at(0), at(-7200)),
    ]
    metrics.observe(result, opened)
    metrics.start_delay.labels("stock").observe(0.2)
    clock.advance(timedelta(minutes=1))
    return metrics.exposition()


# -- without promtool ---------------------------------------------------------------------------


def test_every_metric_in_the_rules_is_produced_by_the_exporter_or_a_recording_rule() -> None:
    exposed, recorded = exposed_series_names(), recorded_names()
    rules = load_rules()
    assert rules, "no rules found"
    unknown = {rule.get("alert") or rule["record"]: unknown_metrics(rule["expr"], exposed, recorded) for rule in rules}
    assert {name: bad for name, bad in unknown.items() if bad} == {}


def test_the_name_check_catches_misspelt_and_bare_histogram_names() -> None:
    exposed, recorded = exposed_series_names(), recorded_names()
    expr = (
        'rate(syncwatch_records_sampled[5m]) + syncwatch_sync_lag_seconds + syncwatch:nope:ratio_rate5m'
        ' + syncwatch_sync_lag_seconds_bucket{contract="syncwatch_not_a_metric"} + syncwatch:out_of_budget:ratio_rate5m'
    )
    assert unknown_metrics(expr, exposed, recorded) == {
        "syncwatch_records_sampled", "syncwatch_sync_lag_seconds", "syncwatch:nope:ratio_rate5m",
    }


def test_slo_recording_rules_cover_every_window() -> None:
    windows = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
    assert recorded_names() == {f"syncwatch:out_of_budget:ratio_rate{w}" for w in windows}
    for rule in load_rules():
        if "record" in rule:
            window = rule["record"].removeprefix("syncwatch:out_of_budget:ratio_rate")
            assert rule["expr"].count(f"[{window}]") == 2, rule["record"]


def test_every_alert_has_a_severity_annotations_and_a_unit_test() -> None:
    alerts = [rule for rule in load_rules() if "alert" in rule]
    assert {a["alert"] for a in alerts} >= {
        "SyncwatchLatencyBudgetBurnFast", "SyncwatchLatencyBudgetBurnSlow", "SyncwatchBudgetBreach",
        "SyncwatchOwnershipConflict", "SyncwatchSchemaChange", "SyncwatchProbeFailing", "SyncwatchProbeStale",
        "SyncwatchMetricsAbsent", "SyncwatchApiShareExceeded",
    }
    tested = {
        case["alertname"]
        for path in RULE_TESTS
        for test in yaml.safe_load(path.read_text(encoding="utf-8"))["tests"]
        for case in test.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    for alert in alerts:
        assert alert["labels"]["severity"] in ("page", "ticket"), alert["alert"]
        assert alert["annotations"]["summary"] and alert["annotations"]["description"], alert["alert"]
        assert alert["alert"] in tested, f"{alert['alert']} has no firing case in rules/prometheus/tests"


# -- with promtool ------------------------------------------------------------------------------


@needs_promtool
def test_promtool_check_rules_lint_clean() -> None:
    result = _promtool("check", "rules", "--lint=all", "--lint-fatal", str(RULES))
    assert result.returncode == 0, _explain(result)
    assert f"SUCCESS: {len(load_rules())} rules found".encode() in result.stdout


@needs_promtool
def test_promtool_rule_unit_tests_pass() -> None:
    assert RULE_TESTS, "no rules/prometheus/tests/*.test.yml"
    result = _promtool("test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, _explain(result)
    assert result.stdout.count(b"SUCCESS") == len(RULE_TESTS)


@needs_promtool
def test_promtool_check_config_of_the_compose_prometheus() -> None:
    result = _promtool("check", "config", str(PROMETHEUS_CONFIG))
    assert result.returncode == 0, _explain(result)
    # The relative rule path resolves in a checkout as in the container, so the rules are checked too.
    assert b"1 rule files found" in result.stdout
    assert f"{len(load_rules())} rules found".encode() in result.stdout


@needs_promtool
def test_promtool_check_metrics_on_the_exposition() -> None:
    exposition = sample_exposition()
    assert b'syncwatch_records_out_of_budget_total{contract="stock",target="shop"}' in exposition
    assert b'syncwatch_divergences_open{contract="stock",kind="missing",target="shop"} 1.0' in exposition
    result = _promtool("check", "metrics", stdin=exposition)
    assert result.returncode == 0, _explain(result)
    assert result.stdout.strip() == b"" and result.stderr.strip() == b""


@needs_promtool
def test_promtool_check_metrics_would_catch_a_bad_name() -> None:
    bad = b"# HELP syncwatch_lag_ms Lag.\n# TYPE syncwatch_lag_ms gauge\nsyncwatch_lag_ms 1\n"
    result = _promtool("check", "metrics", stdin=bad)
    assert result.returncode != 0 and b"abbreviated units" in result.stdout + result.stderr
