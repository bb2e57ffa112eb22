"""Grafana dashboards: the committed JSON equals the generator's output, and the invariants hold
(unique uids, the provisioned datasource everywhere, a unit on every panel, every variable used,
every metric produced by the exporter or a recording rule)."""

from __future__ import annotations

import functools
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.test_prometheus_rules import exposed_series_names, recorded_names, unknown_metrics

REPO = Path(__file__).resolve().parent.parent
DASHBOARDS = REPO / "dashboards"
PROVISIONING = DASHBOARDS / "provisioning"
EXPECTED = {
    "syncwatch-overview": "Sync health overview",
    "syncwatch-contract": "Contract detail",
    "syncwatch-connectors": "Connectors",
}


@functools.cache
def _generator() -> ModuleType:
    """scripts/make_dashboards.py, imported by path (scripts/ is not a package)."""
    name = "syncwatch_make_dashboards"
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts/make_dashboards.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


def _boards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text(encoding="utf-8")) for p in sorted(DASHBOARDS.glob("*.json"))}


def _panels(board: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for panel in board["panels"]:
        yield panel
        yield from panel.get("panels", [])  # collapsed rows


def _queries(board: dict[str, Any]) -> Iterator[str]:
    for panel in _panels(board):
        for target in panel.get("targets", []):
            yield target["expr"]


def _provisioned_datasource() -> dict[str, Any]:
    doc = yaml.safe_load((PROVISIONING / "datasources/prometheus.yaml").read_text(encoding="utf-8"))
    [source] = doc["datasources"]
    return dict(source)


def test_committed_json_equals_the_generator_output() -> None:
    gen = _generator()
    built = {name: gen.render(board) for name, board in gen.build_all().items()}
    on_disk = {p.name: p.read_text(encoding="utf-8") for p in sorted(DASHBOARDS.glob("*.json"))}
    assert sorted(on_disk) == sorted(built), "dashboards/*.json and the generator's files differ"
    for name, text in built.items():
        assert on_disk[name] == text, f"dashboards/{name} is out of date: run scripts/make_dashboards.py"


def test_generator_check_mode_reports_a_stale_file(tmp_path: Path) -> None:
    gen = _generator()
    assert gen.main(["--out", str(tmp_path)]) == 0
    assert gen.main(["--out", str(tmp_path), "--check"]) == 0
    (tmp_path / "overview.json").write_text("{}\n", encoding="utf-8")
    assert gen.main(["--out", str(tmp_path), "--check"]) == 1


def test_uids_titles_and_schema() -> None:
    boards = _boards()
    uids = [b["uid"] for b in boards.values()]
    assert len(uids) == len(set(uids))
    assert {b["uid"]: b["title"] for b in boards.values()} == EXPECTED
    for board in boards.values():
        assert board["schemaVersion"] == 39
        ids = [p["id"] for p in _panels(board)]
        titles = [p["title"] for p in _panels(board)]
        assert len(ids) == len(set(ids)) and len(titles) == len(set(titles)), board["uid"]


def test_every_panel_target_and_variable_uses_the_provisioned_datasource() -> None:
    source = _provisioned_datasource()
    assert (source["type"], source["uid"], source["url"]) == ("prometheus", "syncwatch-prom", "http://prometheus:9090")
    expected = {"type": "prometheus", "uid": source["uid"]}
    for board in _boards().values():
        for panel in _panels(board):
            assert panel["datasource"] == expected, (board["uid"], panel["title"])
            for target in panel["targets"]:
                assert target["datasource"] == expected, (board["uid"], panel["title"])
        for variable in board["templating"]["list"]:
            assert variable["datasource"] == expected, (board["uid"], variable["name"])


def test_dashboard_provider_points_at_the_mounted_folder() -> None:
    doc = yaml.safe_load((PROVISIONING / "dashboards/syncwatch.yaml").read_text(encoding="utf-8"))
    [provider] = doc["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_every_panel_has_a_unit_and_a_query() -> None:
    for board in _boards().values():
        for panel in _panels(board):
            if panel["type"] == "row":
                continue
            unit = panel["fieldConfig"]["defaults"].get("unit")
            assert isinstance(unit, str) and unit, (board["uid"], panel["title"])
            assert panel["targets"] and all(t["expr"].strip() for t in panel["targets"]), (board["uid"], panel["title"])


def test_every_template_variable_is_used_in_a_panel_query() -> None:
    boards = _boards()
    assert [v["name"] for v in boards["contract.json"]["templating"]["list"]] == ["contract", "target"]
    for board in boards.values():
        queries = "\n".join(_queries(board))
        for variable in board["templating"]["list"]:
            name = variable["name"]
            assert re.search(rf"\$(?:{name}\b|\{{{name}[}}:])", queries), f"{board['uid']}: ${name} is never used"


def test_contract_variables_come_from_label_values() -> None:
    variables = {v["name"]: v for v in _boards()["contract.json"]["templating"]["list"]}
    assert variables["contract"]["definition"].startswith("label_values(") and ", contract)" in variables["contract"]["definition"]
    assert variables["target"]["definition"].startswith("label_values(") and ", target)" in variables["target"]["definition"]
    assert variables["target"]["multi"] and variables["target"]["includeAll"]


def test_every_metric_in_a_query_is_produced() -> None:
    exposed, recorded = exposed_series_names(), recorded_names()
    unknown: dict[str, set[str]] = {}
    for board in _boards().values():
        texts = list(_queries(board)) + [v["definition"] for v in board["templating"]["list"]]
        for text in texts:
            if bad := unknown_metrics(text, exposed, recorded):
                unknown.setdefault(board["uid"], set()).update(bad)
    assert unknown == {}


@pytest.mark.parametrize(
    ("uid", "needles"),
    [
        ("syncwatch-overview", ["syncwatch_breach", "syncwatch:out_of_budget:ratio_rate1d", "syncwatch_drift_budget_ratio",
                                "syncwatch_lag_p95_seconds", "syncwatch_latency_budget_seconds",
                                "syncwatch_divergences_open"]),
        ("syncwatch-contract", ["histogram_quantile(0.5, sum by (target, le) (rate(syncwatch_sync_lag_seconds_bucket",
                                "histogram_quantile(0.95, sum by (target, le) (rate(syncwatch_sync_lag_seconds_bucket",
                                "syncwatch_out_of_budget_upper_bound_ratio", "syncwatch_divergences_observed_total",
                                "syncwatch_probe_runs_total", "syncwatch_probe_start_delay_seconds_bucket",
                                "syncwatch_probe_duration_seconds_bucket"]),
        ("syncwatch-connectors", ["syncwatch_connector_requests_total", "syncwatch_connector_rate_limit_waits_total",
                                  "syncwatch_connector_api_used_total", "syncwatch_connector_api_limit_per_second",
                                  "syncwatch_connector_api_share_budget_ratio"]),
    ],
)
def test_each_dashboard_shows_what_it_is_for(uid: str, needles: list[str]) -> None:
    [board] = [b for b in _boards().values() if b["uid"] == uid]
    queries = "\n".join(_queries(board))
    missing = [n for n in needles if n not in queries]
    assert missing == []


# Grafana's own variables and ours, replaced by something valid before PromQL is parsed.
_SUBSTITUTES = {"$contract": "stock", "$target": ".*", "$system": ".*"}


@pytest.mark.skipif(shutil.which("promtool") is None,
                    reason="promtool is not on PATH (apt-get install --no-install-recommends prometheus; CI installs it)")
def test_every_panel_query_is_valid_promql(tmp_path: Path) -> None:
    """Each query, variables substituted, as a recording rule: promtool parses it."""
    rules = []
    for board in _boards().values():
        for n, expr in enumerate(_queries(board)):
            for variable, value in _SUBSTITUTES.items():
                expr = expr.replace(variable, value)
            assert "$" not in expr, expr
            rules.append({"record": f"dashboard:{board['uid'].replace('-', '_')}:q{n}", "expr": expr})
    path = tmp_path / "dashboard-queries.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
