"""Write syncwatch's Grafana dashboards (classic JSON model) from plain Python dicts.

Three dashboards, provisioned from ``dashboards/`` by ``dashboards/provisioning``:

* ``syncwatch-overview``: every contract at a glance (breaches, budget attainment, lag, divergences);
* ``syncwatch-contract``: one contract in detail (variables ``contract`` and ``target``);
* ``syncwatch-connectors``: the systems syncwatch reads (requests, errors, rate limits, API share).

The JSON files are committed outputs: edit this script, run it, commit both. The output is
deterministic (sorted keys, no timestamps), and ``tests/test_dashboards.py`` checks the files
equal what this script writes.

Usage: ``python scripts/make_dashboards.py [--out DIR] [--check]``
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DATASOURCE", "DATASOURCE_UID", "build_all", "main", "render"]

REPO = Path(__file__).resolve().parent.parent
OUT_DIR = REPO / "dashboards"
DATASOURCE_UID = "syncwatch-prom"  # as provisioned in dashboards/provisioning/datasources/prometheus.yaml
DATASOURCE: dict[str, str] = {"type": "prometheus", "uid": DATASOURCE_UID}
SCHEMA_VERSION = 39
TAG = "syncwatch"

# Probe runs are minutes apart, so per-run counters are shown per hour and quantiles over an hour.
RUN_WINDOW = "1h"
# Connector traffic: the same window as SyncwatchApiShareExceeded.
RATE_WINDOW = "5m"

Json = dict[str, Any]

GREEN, AMBER, RED, BLUE = "green", "orange", "red", "blue"


# -- building blocks ----------------------------------------------------------------------------


def target(expr: str, legend: str = "", ref: str = "A", *, table: bool = False) -> Json:
    """One Prometheus query; ``table`` makes it an instant query in table format."""
    out: Json = {"datasource": dict(DATASOURCE), "expr": expr, "refId": ref, "legendFormat": legend or "__auto"}
    if table:
        out |= {"instant": True, "range": False, "format": "table"}
    else:
        out |= {"instant": False, "range": True, "format": "time_series"}
    return out


def thresholds(*steps: tuple[float | None, str]) -> Json:
    return {"mode": "absolute", "steps": [{"color": color, "value": value} for value, color in steps]}


def ok_breach_mappings() -> list[Json]:
    return [{
        "type": "value",
        "options": {
            "0": {"text": "OK", "color": GREEN, "index": 0},
            "1": {"text": "BREACH", "color": RED, "index": 1},
        },
    }]


def by_ref(ref: str, *properties: tuple[str, Any]) -> Json:
    return {"matcher": {"id": "byFrameRefID", "options": ref},
            "properties": [{"id": key, "value": value} for key, value in properties]}


def by_name(name: str, *properties: tuple[str, Any]) -> Json:
    return {"matcher": {"id": "byName", "options": name},
            "properties": [{"id": key, "value": value} for key, value in properties]}


def budget_line(ref: str) -> Json:
    """Draw the query ``ref`` as a dashed red budget line."""
    return by_ref(ref, ("color", {"mode": "fixed", "fixedColor": RED}),
                  ("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}), ("custom.fillOpacity", 0))


@dataclass
class Layout:
    """Places panels left to right on Grafana's 24-column grid and numbers them."""

    x: int = 0
    y: int = 0
    row_height: int = 0
    next_id: int = 1
    panels: list[Json] = field(default_factory=list)

    def add(self, panel: Json, w: int, h: int) -> None:
        if self.x + w > 24:
            self.x, self.y, self.row_height = 0, self.y + self.row_height, 0
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        panel["id"] = self.next_id
        self.next_id += 1
        self.x += w
        self.row_height = max(self.row_height, h)
        self.panels.append(panel)


def panel(kind: str, title: str, description: str, targets: list[Json], unit: str, *,
          steps: Json | None = None, overrides: list[Json] | None = None, options: Json | None = None,
          custom: Json | None = None, mappings: list[Json] | None = None, minimum: float | None = None,
          maximum: float | None = None, transformations: list[Json] | None = None,
          links: list[Json] | None = None) -> Json:
    defaults: Json = {
        "unit": unit,
        "color": {"mode": "palette-classic"} if kind == "timeseries" else {"mode": "thresholds"},
        "thresholds": steps or thresholds((None, GREEN)),
        "mappings": mappings or [],
    }
    if minimum is not None:
        defaults["min"] = minimum
    if maximum is not None:
        defaults["max"] = maximum
    if kind == "timeseries":
        defaults["custom"] = {
            "drawStyle": "line", "lineInterpolation": "stepAfter", "lineWidth": 1, "fillOpacity": 0,
            "showPoints": "never", "spanNulls": True, "axisSoftMin": 0,
            "thresholdsStyle": {"mode": "off"},
        } | (custom or {})
    elif custom:
        defaults["custom"] = custom
    if links:
        defaults["links"] = links
    base_options: dict[str, Json] = {
        "timeseries": {"legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                       "tooltip": {"mode": "multi", "sort": "desc"}},
        "stat": {"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                 "colorMode": "background", "graphMode": "none", "justifyMode": "auto", "orientation": "auto",
                 "textMode": "auto"},
        "table": {"showHeader": True, "cellHeight": "sm", "footer": {"show": False, "reducer": ["sum"], "fields": ""}},
        "state-timeline": {"mergeValues": True, "showValue": "never", "alignValue": "left", "rowHeight": 0.9,
                           "legend": {"displayMode": "list", "placement": "bottom", "showLegend": True},
                           "tooltip": {"mode": "single", "sort": "none"}},
    }
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": dict(DATASOURCE),
        "targets": targets,
        "fieldConfig": {"defaults": defaults, "overrides": overrides or []},
        "options": base_options[kind] | (options or {}),
        "transformations": transformations or [],
    }


def query_variable(name: str, label: str, query: str, *, multi: bool, include_all: bool) -> Json:
    return {
        "type": "query",
        "name": name,
        "label": label,
        "datasource": dict(DATASOURCE),
        "definition": query,
        "query": {"query": query, "refId": f"{name}-variable"},
        "refresh": 2,  # on time-range change
        "sort": 1,
        "multi": multi,
        "includeAll": include_all,
        "allValue": ".*" if include_all else None,
        "current": {},
        "options": [],
        "hide": 0,
        "regex": "",
        "skipUrlSync": False,
    }


def dashboard(uid: str, title: str, description: str, layout: Layout, variables: list[Json] | None = None) -> Json:
    return {
        "uid": uid,
        "title": title,
        "description": description,
        "tags": [TAG],
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "editable": False,
        "graphTooltip": 1,  # shared crosshair
        "timezone": "",
        "time": {"from": "now-24h", "to": "now"},
        "refresh": "1m",
        "fiscalYearStartMonth": 0,
        "liveNow": False,
        "weekStart": "",
        "timepicker": {},
        "annotations": {"list": [{
            "builtIn": 1, "datasource": {"type": "grafana", "uid": "-- Grafana --"}, "enable": True, "hide": True,
            "iconColor": "rgba(0, 211, 255, 1)", "name": "Annotations & Alerts", "type": "dashboard",
        }]},
        "links": [{"type": "dashboards", "tags": [TAG], "asDropdown": False, "includeVars": False,
                   "keepTime": True, "title": "syncwatch", "icon": "external link", "targetBlank": False,
                   "tooltip": "", "url": ""}],
        "templating": {"list": variables or []},
        "panels": layout.panels,
    }


# -- Sync health overview -----------------------------------------------------------------------


def overview() -> Json:
    lay = Layout()
    lay.add(panel(
        "stat", "Contracts in breach", "Contracts with any breach now, as syncwatch judges it (hold and evidence applied).",
        [target("count(max by (contract) (syncwatch_breach) == 1) or vector(0)", "in breach")], "none",
        steps=thresholds((None, GREEN), (1, RED))), w=6, h=4)
    lay.add(panel(
        "stat", "Targets over their latency budget", "Contract targets whose lag p95 in the last run exceeds the budget.",
        [target("count(max by (contract, target) (syncwatch_lag_p95_seconds)"
                " > on (contract) group_left () max by (contract) (syncwatch_latency_budget_seconds)) or vector(0)",
                "over budget")], "none",
        steps=thresholds((None, GREEN), (1, AMBER))), w=6, h=4)
    lay.add(panel(
        "stat", "Open incidents", "Incidents not yet resolved (open or acknowledged), every contract.",
        [target("sum(syncwatch_incidents_open) or vector(0)", "open")], "none",
        steps=thresholds((None, GREEN), (1, RED))), w=6, h=4)
    lay.add(panel(
        "stat", "Probes failing", "Contracts syncwatch cannot read now: unknown, not out of sync.",
        [target('count(max by (contract) (syncwatch_breach{kind="probe_failing"}) == 1) or vector(0)', "failing")],
        "none", steps=thresholds((None, GREEN), (1, AMBER))), w=6, h=4)

    columns = [
        ("A", "max by (contract) (syncwatch_breach)", "Breach now", "none"),
        ("B", "1 - max by (contract) (syncwatch:out_of_budget:ratio_rate1d)", "Within latency budget (1 day)",
         "percentunit"),
        ("C", "1 - max by (contract) (syncwatch_drift_budget_ratio)", "Objective", "percentunit"),
        ("D", "max by (contract) (syncwatch_lag_p95_seconds)", "Worst lag p95 (last run)", "s"),
        ("E", "max by (contract) (syncwatch_latency_budget_seconds)", "Latency budget", "s"),
        ("F", "sum by (contract) (syncwatch_divergences_open)", "Open divergences", "none"),
        ("H", "sum by (contract) (syncwatch_incidents_open)", "Open incidents", "none"),
        ("G", "max by (contract) (syncwatch_oldest_open_divergence_age_seconds)", "Oldest open divergence", "s"),
    ]
    detail = {"title": "Contract detail", "url": "/d/syncwatch-contract/contract-detail?var-contract=${__data.fields.contract}"}
    lay.add(panel(
        "table", "Every contract",
        "Worst target of each contract. Within budget is the share of sampled records inside the latency budget "
        "over a day, against the objective (1 − drift budget). Click a contract for its detail.",
        [target(expr, name, ref, table=True) for ref, expr, name, _ in columns], "none",
        overrides=[by_name(name, ("unit", unit)) for _, _, name, unit in columns if unit != "none"] + [
            by_name("Breach now", ("mappings", ok_breach_mappings()), ("custom.cellOptions", {"type": "color-background"})),
            by_name("contract", ("links", [detail])),
        ],
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {
                "excludeByName": {"Time": True},
                "indexByName": {"contract": 0} | {f"Value #{ref}": i + 1 for i, (ref, *_) in enumerate(columns)},
                "renameByName": {f"Value #{ref}": name for ref, _, name, _ in columns},
            }},
        ]), w=24, h=9)

    lay.add(panel(
        "state-timeline", "Breach state", "1 while syncwatch says a contract is in breach (any target, any kind).",
        [target("max by (contract) (syncwatch_breach)", "{{contract}}")], "none",
        steps=thresholds((None, GREEN), (1, RED)), mappings=ok_breach_mappings()), w=24, h=6)
    lay.add(panel(
        "timeseries", "Budget attainment (1 day) against objective",
        "Share of sampled records within the latency budget over the last day; dashed: each contract's objective.",
        [target("1 - syncwatch:out_of_budget:ratio_rate1d", "{{contract}} → {{target}}"),
         target("1 - max by (contract) (syncwatch_drift_budget_ratio)", "objective {{contract}}", "B")],
        "percentunit", maximum=1, overrides=[budget_line("B")], custom={"axisSoftMin": 0.9}), w=12, h=8)
    lay.add(panel(
        "timeseries", "Worst lag p95 against the latency budget",
        "Each contract's worst last-run lag p95 as a share of its latency budget: over 100% is over budget.",
        [target("max by (contract) (syncwatch_lag_p95_seconds)"
                " / on (contract) max by (contract) (syncwatch_latency_budget_seconds)", "{{contract}}")],
        "percentunit", steps=thresholds((None, GREEN), (1, RED)),
        custom={"thresholdsStyle": {"mode": "line+area"}}), w=12, h=8)
    lay.add(panel(
        "timeseries", "Open divergences over time", "Records out of sync and not yet back, by contract.",
        [target("sum by (contract) (syncwatch_divergences_open)", "{{contract}}")], "none",
        custom={"drawStyle": "bars", "fillOpacity": 60, "stacking": {"mode": "normal", "group": "A"}}), w=12, h=8)
    lay.add(panel(
        "timeseries", "Oldest open divergence", "Age of the oldest open divergence, from the source change it is behind on.",
        [target("max by (contract) (syncwatch_oldest_open_divergence_age_seconds)", "{{contract}}")], "s"), w=12, h=8)
    return dashboard("syncwatch-overview", "Sync health overview",
                     "Every sync contract: breaches, share of records within the latency budget, lag and divergences.",
                     lay)


# -- Contract detail ----------------------------------------------------------------------------

_C = 'contract="$contract"'
_CT = 'contract="$contract", target=~"$target"'


def contract_detail() -> Json:
    lay = Layout()
    lay.add(panel(
        "stat", "Breach now", "Breaches by kind, as syncwatch judges them (hold and evidence applied).",
        [target(f"max by (kind) (syncwatch_breach{{{_CT}}})", "{{kind}}")], "none",
        steps=thresholds((None, GREEN), (1, RED)), mappings=ok_breach_mappings()), w=8, h=4)
    lay.add(panel(
        "stat", "Latency budget", "How late a record may be.",
        [target(f"max(syncwatch_latency_budget_seconds{{{_C}}})", "latency budget")], "s",
        steps=thresholds((None, BLUE))), w=3, h=4)
    lay.add(panel(
        "stat", "Drift budget", "Share of sampled records allowed out of the latency budget (the error budget).",
        [target(f"max(syncwatch_drift_budget_ratio{{{_C}}})", "drift budget")], "percentunit",
        steps=thresholds((None, BLUE))), w=3, h=4)
    lay.add(panel(
        "stat", "Probed every", "The contract's probe interval.",
        [target(f"max(syncwatch_probe_interval_seconds{{{_C}}})", "interval")], "s",
        steps=thresholds((None, BLUE))), w=3, h=4)
    lay.add(panel(
        "stat", "Hold", "Consecutive probe runs a condition must hold before it is a breach.",
        [target(f"max(syncwatch_hold_runs{{{_C}}})", "runs")], "none",
        steps=thresholds((None, BLUE))), w=3, h=4)
    lay.add(panel(
        "stat", "Since last good probe", "Time since the last probe run that could read every system.",
        [target(f"time() - max(syncwatch_last_success_timestamp_seconds{{{_C}}})", "since")], "s",
        steps=thresholds((None, GREEN))), w=4, h=4)

    lay.add(panel(
        "timeseries", "Sync lag p50 and p95 against the latency budget",
        f"Quantiles of the measured sync lag over {RUN_WINDOW} (histogram); dashed: the latency budget.",
        [target(f"histogram_quantile(0.5, sum by (target, le) (rate(syncwatch_sync_lag_seconds_bucket{{{_CT}}}[{RUN_WINDOW}])))",
                "p50 {{target}}"),
         target(f"histogram_quantile(0.95, sum by (target, le) (rate(syncwatch_sync_lag_seconds_bucket{{{_CT}}}[{RUN_WINDOW}])))",
                "p95 {{target}}", "B"),
         target(f"max(syncwatch_latency_budget_seconds{{{_C}}})", "latency budget", "C")],
        "s", overrides=[budget_line("C")]), w=12, h=8)
    lay.add(panel(
        "timeseries", "Lag at the last run",
        "Median and 95th percentile lag of the last run (open divergences counted at least their age).",
        [target(f"syncwatch_lag_p50_seconds{{{_CT}}}", "p50 {{target}}"),
         target(f"syncwatch_lag_p95_seconds{{{_CT}}}", "p95 {{target}}", "B"),
         target(f"max(syncwatch_latency_budget_seconds{{{_C}}})", "latency budget", "C")],
        "s", overrides=[budget_line("C")]), w=12, h=8)

    lay.add(panel(
        "timeseries", "Records out of the latency budget",
        "Share of sampled records out of the latency budget: last run, its 95% upper bound, and over a day; "
        "dashed: the drift budget.",
        [target(f"syncwatch_out_of_budget_ratio{{{_CT}}}", "last run {{target}}"),
         target(f"syncwatch_out_of_budget_upper_bound_ratio{{{_CT}}}", "upper bound (95%) {{target}}", "B"),
         target(f"syncwatch:out_of_budget:ratio_rate1d{{{_CT}}}", "1 day {{target}}", "D"),
         target(f"max(syncwatch_drift_budget_ratio{{{_C}}})", "drift budget", "C")],
        "percentunit", overrides=[budget_line("C")]), w=12, h=8)
    lay.add(panel(
        "timeseries", "Error budget burn rate",
        "How many times faster than the contract allows records are late (1 = the budget lasts the month). "
        "Pages at 14.4 (1 h) and 6 (6 h).",
        [target(f"syncwatch:out_of_budget:ratio_rate1h{{{_CT}}}"
                " / on (contract) group_left () max by (contract) (syncwatch_drift_budget_ratio)", "1 h {{target}}"),
         target(f"syncwatch:out_of_budget:ratio_rate6h{{{_CT}}}"
                " / on (contract) group_left () max by (contract) (syncwatch_drift_budget_ratio)", "6 h {{target}}", "B"),
         target(f"syncwatch:out_of_budget:ratio_rate3d{{{_CT}}}"
                " / on (contract) group_left () max by (contract) (syncwatch_drift_budget_ratio)", "3 d {{target}}", "C")],
        "none", steps=thresholds((None, GREEN), (1, AMBER), (6, RED)),
        custom={"thresholdsStyle": {"mode": "dashed"}}), w=12, h=8)

    lay.add(panel(
        "timeseries", "Divergences found, by kind",
        f"Divergent sampled records per {RUN_WINDOW}, by kind.",
        [target(f"sum by (kind) (increase(syncwatch_divergences_observed_total{{{_CT}}}[{RUN_WINDOW}]))", "{{kind}}")],
        "none", custom={"drawStyle": "bars", "fillOpacity": 60, "stacking": {"mode": "normal", "group": "A"}}), w=8, h=8)
    lay.add(panel(
        "timeseries", "Divergences found, by field",
        f"Sampled records whose field differed, per {RUN_WINDOW}.",
        [target(f"sum by (field) (increase(syncwatch_field_divergences_total{{{_CT}}}[{RUN_WINDOW}]))", "{{field}}")],
        "none", custom={"drawStyle": "bars", "fillOpacity": 60, "stacking": {"mode": "normal", "group": "A"}}), w=8, h=8)
    lay.add(panel(
        "timeseries", "Drift (last run)", "Share of sampled records divergent in the last run, with its 95% upper bound.",
        [target(f"syncwatch_drift_ratio{{{_CT}}}", "drift {{target}}"),
         target(f"syncwatch_drift_upper_bound_ratio{{{_CT}}}", "upper bound (95%) {{target}}", "B")],
        "percentunit"), w=8, h=8)

    lay.add(panel(
        "timeseries", "Open divergences", "Divergences still open after the last run, by kind.",
        [target(f"sum by (kind) (syncwatch_divergences_open{{{_CT}}})", "{{kind}}")], "none",
        custom={"fillOpacity": 30, "stacking": {"mode": "normal", "group": "A"}}), w=12, h=8)
    lay.add(panel(
        "timeseries", "Oldest open divergence", "Age of the oldest open divergence; dashed: the latency budget.",
        [target(f"syncwatch_oldest_open_divergence_age_seconds{{{_CT}}}", "{{target}}"),
         target(f"max(syncwatch_latency_budget_seconds{{{_C}}})", "latency budget", "C")],
        "s", overrides=[budget_line("C")]), w=12, h=8)

    lay.add(panel(
        "timeseries", "Probe runs by outcome", f"Probe runs per {RUN_WINDOW}. Error means syncwatch could not see.",
        [target(f"sum by (outcome) (increase(syncwatch_probe_runs_total{{{_C}}}[{RUN_WINDOW}]))", "{{outcome}}")],
        "none", custom={"drawStyle": "bars", "fillOpacity": 60, "stacking": {"mode": "normal", "group": "A"}},
        overrides=[by_name("error", ("color", {"mode": "fixed", "fixedColor": RED})),
                   by_name("in_sync", ("color", {"mode": "fixed", "fixedColor": GREEN})),
                   by_name("divergent", ("color", {"mode": "fixed", "fixedColor": AMBER}))]), w=8, h=8)
    lay.add(panel(
        "timeseries", "Probe errors by reason", f"Probe runs that could not read a system, per {RUN_WINDOW}.",
        [target(f"sum by (reason) (increase(syncwatch_probe_errors_total{{{_C}}}[{RUN_WINDOW}]))", "{{reason}}")],
        "none", custom={"drawStyle": "bars", "fillOpacity": 60, "stacking": {"mode": "normal", "group": "A"}}), w=8, h=8)
    lay.add(panel(
        "timeseries", "Probe duration and start delay",
        f"p95 over {RUN_WINDOW} of a probe run's wall time, and how late runs started against their schedule.",
        [target(f"histogram_quantile(0.95, sum by (le) (rate(syncwatch_probe_duration_seconds_bucket{{{_C}}}[{RUN_WINDOW}])))",
                "duration p95"),
         target(f"histogram_quantile(0.95, sum by (le) (rate(syncwatch_probe_start_delay_seconds_bucket{{{_C}}}[{RUN_WINDOW}])))",
                "start delay p95", "B")],
        "s"), w=8, h=8)
    variables = [
        query_variable("contract", "Contract", "label_values(syncwatch_latency_budget_seconds, contract)",
                       multi=False, include_all=False),
        query_variable("target", "Target", 'label_values(syncwatch_breach{contract="$contract"}, target)',
                       multi=True, include_all=True),
    ]
    return dashboard("syncwatch-contract", "Contract detail",
                     "One sync contract: lag against its budget, records out of budget, divergences and probe health.",
                     lay, variables)


# -- Connectors ---------------------------------------------------------------------------------

_S = 'system=~"$system"'


def connectors() -> Json:
    lay = Layout()
    lay.add(panel(
        "timeseries", "Requests by status", f"Requests syncwatch sent, per second over {RATE_WINDOW}, by HTTP status.",
        [target(f"sum by (system, status) (rate(syncwatch_connector_requests_total{{{_S}}}[{RATE_WINDOW}]))",
                "{{system}} {{status}}")], "reqps"), w=12, h=8)
    lay.add(panel(
        "timeseries", "Failed requests", "Requests that did not succeed (not 2xx, or not \"ok\" for SQL: timeouts, connection and query errors "
        "included), and retries.",
        [target(f'sum by (system, status) (rate(syncwatch_connector_requests_total{{{_S}, status!~"2..|ok"}}[{RATE_WINDOW}]))',
                "{{system}} {{status}}"),
         target(f"sum by (system) (rate(syncwatch_connector_retries_total{{{_S}}}[{RATE_WINDOW}]))",
                "{{system}} retries", "B")], "reqps"), w=12, h=8)
    lay.add(panel(
        "timeseries", "API share used against budget",
        "API units spent as a share of the system's declared rate limit; dashed: the share syncwatch may use. "
        "Systems without a declared limit are not shown.",
        [target(f"sum by (system) (rate(syncwatch_connector_api_used_total{{{_S}}}[{RATE_WINDOW}]))"
                " / on (system) max by (system) (syncwatch_connector_api_limit_per_second)", "{{system}} used"),
         target(f"max by (system) (syncwatch_connector_api_share_budget_ratio{{{_S}}})", "{{system}} budget", "B")],
        "percentunit", overrides=[by_ref("B", ("custom.lineStyle", {"fill": "dash", "dash": [10, 10]}))]), w=12, h=8)
    lay.add(panel(
        "timeseries", "API units spent", "Cost points where the API is cost-based (Shopify), else requests; per second.",
        [target(f"sum by (system) (rate(syncwatch_connector_api_used_total{{{_S}}}[{RATE_WINDOW}]))", "{{system}}")],
        "short"), w=12, h=8)
    lay.add(panel(
        "timeseries", "Rate-limit waits", f"Times a connector waited on a rate limit, per {RUN_WINDOW}.",
        [target(f"sum by (system) (increase(syncwatch_connector_rate_limit_waits_total{{{_S}}}[{RUN_WINDOW}]))",
                "{{system}}")],
        "none", custom={"drawStyle": "bars", "fillOpacity": 60}), w=12, h=8)
    lay.add(panel(
        "timeseries", "Time spent waiting on rate limits", f"Share of time spent waiting, over {RATE_WINDOW}.",
        [target(f"sum by (system) (rate(syncwatch_connector_rate_limit_wait_seconds_total{{{_S}}}[{RATE_WINDOW}]))",
                "{{system}}")], "percentunit"), w=12, h=8)
    lay.add(panel(
        "timeseries", "Request durations",
        f"p50 and p95 over {RATE_WINDOW} of one request's wall time, by system (each attempt of a retry counted).",
        [target(f"histogram_quantile(0.95, sum by (system, le) "
                f"(rate(syncwatch_connector_request_duration_seconds_bucket{{{_S}}}[{RATE_WINDOW}])))", "{{system}} p95"),
         target(f"histogram_quantile(0.5, sum by (system, le) "
                f"(rate(syncwatch_connector_request_duration_seconds_bucket{{{_S}}}[{RATE_WINDOW}])))", "{{system}} p50",
                "B")], "s"), w=12, h=8)
    lay.add(panel(
        "timeseries", "Probe durations by contract",
        f"p95 over {RUN_WINDOW} of a probe run's wall time.",
        [target(f"histogram_quantile(0.95, sum by (contract, le) (rate(syncwatch_probe_duration_seconds_bucket[{RUN_WINDOW}])))",
                "{{contract}}")], "s"), w=12, h=8)
    variables = [query_variable("system", "System", "label_values(syncwatch_connector_requests_total, system)",
                                multi=True, include_all=True)]
    return dashboard("syncwatch-connectors", "Connectors",
                     "The systems syncwatch reads: requests, errors, rate-limit waits and its share of each API.",
                     lay, variables)


# -- output -------------------------------------------------------------------------------------


def build_all() -> dict[str, Json]:
    """File name → dashboard."""
    return {"overview.json": overview(), "contract.json": contract_detail(), "connectors.json": connectors()}


def render(board: Json) -> str:
    return json.dumps(board, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=OUT_DIR, help="folder for the JSON files (default: dashboards/)")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 if a file differs")
    args = parser.parse_args(argv)
    stale = []
    for name, board in build_all().items():
        path = args.out / name
        text = render(board)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(name)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print(f"out of date (run scripts/make_dashboards.py): {', '.join(stale)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
