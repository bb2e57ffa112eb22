"""Benchmark: the weekly report over a busy week: 20 contracts probed every 2 minutes.

Goal (issue: weekly report): building the weekly report for 20 contracts at a probe every 2
minutes (about 100,000 probe runs in the week) takes at most 5 s and stays under 300 MB RSS;
the HTML is under 300 KB.

The world: 20 contracts over eight ``sql`` systems (never probed, so never reachable), 10 with
one target and 10 with two (30 targets), 1 to 3 fields (most with a ``risk``, some critical),
latency budgets of 5 to 60 min, drift budgets of 1 to 5%, ``sampling.every: 2m``, sample 100.

The store (a fresh SQLite file; ``--store-url``, or ``--postgres URL`` for a fresh schema on that
server, dropped afterwards) is filled with ISO week 2026-W48 (Europe/London): 20 × 5,040 runs =
100,800 probe runs, a health snapshot per target (151,200), the divergences the engine would have
followed (mostly stale records caught up within a run or two; some conflicts) and the incidents.
The rows go in by SQLAlchemy Core ``insert`` executemany, straight into the tables (not through
``Store.record``: no observations, which the report does not read); the column values come from
``monitor.store.mapping`` (``run_values``, ``snapshot_values``, ``incident_values``,
``opened_values``), the verdicts from ``monitor.health.build_verdict`` and the incidents from
``monitor.incidents.track_incidents``, run by run as the service does, so conditions, streaks,
breaches, holds and incidents are the engine's. What the runs saw is simulated (seeded): sampled
100, out of budget mostly 0 to 3 with a few noisy targets, lag p50/p95, kinds, records at risk,
rare probe errors; and faults: bursts of records out of budget (a nightly batch on five nights,
16 random ones, one carried over from the week before, one still open at the end), an outage of
a source, a flaky rate-limited target (a blind spot), a schema change, ownership conflicts.
Filling is timed apart (``fill_seconds``); it is not part of the figures.

Measured in a fresh process each time (so the RSS is the report's, not the filler's), as
``syncwatch report weekly`` does it: load the config, ``Store.open``, ``build_weekly``,
``to_html``, ``to_markdown`` (``monitor.report.render``; ``n/a`` when it does not exist yet).
Wall times (``build_s``, of which ``store_reads_s`` in ``Store.week_*``, and its CPU time, less
disturbed on a shared machine; ``render_s`` = HTML + Markdown), the process's peak RSS (MiB;
VmHWM, since on Linux ``ru_maxrss`` keeps the parent's high-water mark across ``execve``), the
sizes of the HTML and Markdown. ``--repeat`` processes (default 3): each, then the median.

Prints one ``key=value`` line a figure, then the goal checks (``build_plus_render_s<=5``,
``rss_mib<300``, ``html_kb<300``, kB = 1,000 bytes; ``rss_mb`` is printed too: 300 MB is
286.1 MiB); the exit code is 1 if a goal is missed.
``--profile``: one more process under cProfile, the top functions by cumulative time.

Run: ``.venv/bin/python benchmarks/bench_report.py [--repeat 3] [--history-weeks 0] [--profile]
[--store-url URL | --postgres URL] [--keep]`` (``--history-weeks N``: also N weeks before, so
the store holds more than the week and "last week" has figures; ``--store-url`` of a store that
already holds probe runs measures it as it is, without filling).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_store import fresh_schema  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

from monitor.config import load_config  # noqa: E402
from monitor.config.loader import Config  # noqa: E402
from monitor.config.models import Contract  # noqa: E402
from monitor.config.schedule import LONDON  # noqa: E402
from monitor.health import build_verdict  # noqa: E402
from monitor.incidents import track_incidents  # noqa: E402
from monitor.report.model import Week  # noqa: E402
from monitor.report.weekly import build_weekly, iso_week  # noqa: E402
from monitor.results import (  # noqa: E402
    BreachKind,
    ConnectorUsage,
    DivergenceChanges,
    Health,
    Incident,
    IncidentState,
    Kind,
    OpenDivergence,
    Outcome,
    ProbeResult,
    TargetResult,
)
from monitor.stats import wilson_interval  # noqa: E402
from monitor.store import Store  # noqa: E402
from monitor.store.mapping import incident_values, opened_values, run_values, snapshot_values  # noqa: E402
from monitor.store.models import Base, DivergenceRow, HealthSnapshotRow, IncidentRow, ProbeRunRow  # noqa: E402

WEEK = "2026-W48"
EVERY = timedelta(minutes=2)
SAMPLE = 100
RECENT = 30
SEED = 48
CHUNK = 5_000
GOAL_SECONDS = 5.0
GOAL_RSS_MIB = 300.0
GOAL_HTML_KB = 300.0  # kB: 1,000 bytes
RANDOM_BURSTS = 16
LEAD_IN = timedelta(hours=3)  # simulated before the first week, not written: a breach carried over
ACK_SHARE = 0.75
RESPONDERS = ("priya", "sam", "tom", "amara")

RUNS = Base.metadata.tables[ProbeRunRow.__tablename__]
SNAPSHOTS = Base.metadata.tables[HealthSnapshotRow.__tablename__]
DIVERGENCES = Base.metadata.tables[DivergenceRow.__tablename__]
INCIDENTS = Base.metadata.tables[IncidentRow.__tablename__]

SYSTEMS = ("wms", "erp", "shopify", "amazon", "pim", "crm", "oms", "pos")

NUMBER = "{{compare: number, risk: {risk}{critical}}}"
MONEY = "{{compare: money, currency: GBP, risk: {risk}{critical}}}"
EXACT = "{{compare: exact, risk: {risk}{critical}}}"


def _field(template: str, risk: str | None = None, critical: bool = False) -> str:
    if risk is None:
        return template.replace(", risk: {risk}{critical}", "").format()
    return template.format(risk=risk, critical=", critical: true" if critical else "")


@dataclass(frozen=True)
class Spec:
    """One contract of the benchmark's world."""

    name: str
    source: str
    targets: tuple[str, ...]
    fields: dict[str, str]  # field -> its YAML flow mapping
    latency: str
    drift: str
    lag_p50: float  # a typical run's lag p50, seconds
    hold: int = 2


CONTRACTS = (
    Spec("stock-wms-to-shopify", "wms", ("shopify", "amazon"),
         {"available": _field(NUMBER, "oversell", True), "reserved": _field(NUMBER)}, "5m", "2%", 25.0),
    Spec("price-pim-to-shopify", "pim", ("shopify", "amazon"),
         {"price": _field(MONEY, "wrong_price", True), "compare_at_price": _field(MONEY, "wrong_price")},
         "15m", "1%", 40.0),
    Spec("orders-shopify-to-erp", "shopify", ("erp", "crm"),
         {"status": _field(EXACT, "missed_revenue"), "total": _field(MONEY, "missed_revenue", True)},
         "15m", "2%", 90.0),
    Spec("orders-shopify-to-wms", "shopify", ("wms",),
         {"status": _field(EXACT, "missed_shipment", True), "lines": _field(NUMBER)}, "5m", "1%", 20.0),
    Spec("fulfilment-wms-to-shopify", "wms", ("shopify", "amazon"),
         {"tracking_number": _field(EXACT, "late_tracking"), "fulfilment_status": _field(EXACT, "late_tracking")},
         "10m", "3%", 45.0),
    Spec("consent-shopify-to-crm", "shopify", ("crm",), {"consent": _field(EXACT, "compliance", True)},
         "30m", "1.5%", 120.0),
    Spec("customers-shopify-to-crm", "shopify", ("crm",),
         {"email": "{compare: text, case: fold, risk: bounced_mail}", "phone": "{compare: text}"},
         "30m", "3%", 150.0, hold=3),
    Spec("products-pim-to-shopify", "pim", ("shopify", "amazon"),
         {"title": "{compare: text, whitespace: collapse}", "category": _field(EXACT),
          "gtin": _field(EXACT, "listing_blocked")}, "60m", "3%", 300.0),
    Spec("returns-shopify-to-erp", "shopify", ("erp", "wms"),
         {"status": _field(EXACT), "refund_amount": _field(MONEY, "missed_refund", True)}, "30m", "2%", 100.0),
    Spec("refunds-erp-to-shopify", "erp", ("shopify", "amazon"), {"refunded": _field(MONEY, "missed_refund", True)},
         "30m", "2%", 80.0),
    Spec("stock-wms-to-pos", "wms", ("pos",), {"available": _field(NUMBER, "oversell", True)}, "10m", "2%", 35.0),
    Spec("price-pim-to-pos", "pim", ("pos",), {"price": _field(MONEY, "wrong_price", True)}, "30m", "1%", 60.0),
    Spec("orders-amazon-to-oms", "amazon", ("oms", "erp"),
         {"status": _field(EXACT, "missed_shipment", True), "ship_by": _field(EXACT, "missed_shipment")},
         "10m", "1%", 30.0),
    Spec("orders-oms-to-wms", "oms", ("wms",),
         {"status": _field(EXACT, "missed_shipment", True), "lines": _field(NUMBER)}, "5m", "2%", 15.0),
    Spec("shipments-wms-to-oms", "wms", ("oms",),
         {"carrier": "{compare: text, case: fold}", "shipped_at": _field(EXACT, "late_tracking")}, "10m", "2%", 40.0),
    Spec("invoices-erp-to-crm", "erp", ("crm",),
         {"amount": _field(MONEY, "wrong_invoice"), "status": _field(EXACT)}, "60m", "3%", 400.0),
    Spec("loyalty-crm-to-shopify", "crm", ("shopify", "pos"), {"points": _field(NUMBER, "wrong_balance")},
         "15m", "2%", 60.0, hold=3),
    Spec("giftcards-pos-to-shopify", "pos", ("shopify",), {"balance": _field(MONEY, "wrong_balance", True)},
         "5m", "1%", 12.0),
    Spec("suppliers-erp-to-pim", "erp", ("pim",),
         {"lead_time_days": _field(NUMBER), "supplier_status": _field(EXACT, "stockout")}, "60m", "5%", 600.0),
    Spec("purchase-orders-erp-to-wms", "erp", ("wms", "oms"),
         {"expected_qty": _field(NUMBER, "stockout", True), "expected_at": _field(EXACT)}, "30m", "3%", 200.0),
)

# Out of budget in a run, outside faults: mostly 0 to 3, under the drift budget (weights of 0, 1, 2, ...
# cut at the budget); over it in a few runs of a thousand, and in 4% of the runs of a few noisy
# targets (whose attainment falls below 99%, though pooled over a streak the excess is no breach).
BASELINE = (0.75, 0.17, 0.05, 0.02, 0.01)
OVER = 0.003
NOISY = {("stock-wms-to-shopify", "amazon"), ("orders-shopify-to-erp", "erp"), ("returns-shopify-to-erp", "wms")}
NOISY_OVER = 0.04
INFLIGHT = (0.35, 0.3, 0.2, 0.1, 0.05)  # stale but within the latency budget: 0..4
SOURCE_ERRORS = 0.001
TARGET_ERRORS = 0.0015

SYNCWATCH_YAML = """\
version: 1
owners: rules/owners.yaml
contracts: rules/contracts
systems:
{systems}"""

OWNERS_YAML = """\
owners:
  priya: {name: Priya Shah, slack: U04PRIYA01, backup: sam}
  sam: {name: Sam Patel, slack: U04SAMPAT1}
  tom: {name: Tom Okafor, slack: U04TOMOK01, backup: priya}
  amara: {name: Amara Lewis, slack: U04AMARA01, backup: tom}
"""

CONTRACT_YAML = """\
contract: {name}
description: {description}
owner: {owner}
technical_owner: sam
source: {{system: {source}, entity: {entity}, key: id, updated_at: updated_at}}
targets:
{targets}fields:
{fields}budget: {{latency: {latency}, drift: {drift}, hold: {hold} runs}}
sampling: {{every: 2m, size: {sample}, recent: {recent}%}}
"""


def entity_of(spec: Spec) -> str:
    return spec.name.replace("-", "_")


def write_config(root: Path) -> Path:
    """syncwatch.yaml, owners and the 20 contracts in ``root``; return the config's path."""
    (root / "rules" / "contracts").mkdir(parents=True, exist_ok=True)
    entities: dict[str, list[str]] = {name: [] for name in SYSTEMS}
    for spec in CONTRACTS:
        for system in (spec.source, *spec.targets):
            entities[system].append(entity_of(spec))
    systems = "".join(
        f"  {name}:\n    kind: sql\n    url: sqlite:///{name}.db\n    entities:\n"
        + "".join(f"      {e}: {{table: {e}, timestamps: iso}}\n" for e in entities[name])
        for name in SYSTEMS
    )
    config = root / "syncwatch.yaml"
    config.write_text(SYNCWATCH_YAML.format(systems=systems))
    (root / "rules" / "owners.yaml").write_text(OWNERS_YAML)
    for i, spec in enumerate(CONTRACTS):
        entity = entity_of(spec)
        (root / "rules" / "contracts" / f"{spec.name}.yaml").write_text(CONTRACT_YAML.format(
            name=spec.name, description=f"{spec.name.split('-')[0].capitalize()} from the {spec.source.upper()}.",
            owner=RESPONDERS[i % len(RESPONDERS)], source=spec.source, entity=entity,
            targets="".join(f"  - {{system: {t}, entity: {entity}, key: id, updated_at: updated_at}}\n"
                            for t in spec.targets),
            fields="".join(f"  {name}: {body}\n" for name, body in spec.fields.items()),
            latency=spec.latency, drift=spec.drift, hold=spec.hold, sample=SAMPLE, recent=RECENT,
        ))
    return config


# -- what went wrong in the week ---------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """Something wrong with one target (or, ``target`` None, with the source) from ``start`` to ``end``.

    kind ``oob``: ``level`` of the sample out of budget; ``error``: each run fails with chance
    ``level`` (``reason``); ``schema``: ``level`` of the sample unreadable; ``conflict``:
    ``level`` keys of ``field`` written by the target."""

    contract: str
    target: str | None
    kind: str
    start: datetime
    end: datetime
    level: float
    reason: str = ""
    field: str = ""


def at_london(day: date, hhmm: str, days: int = 0) -> datetime:
    """``hhmm`` London time on ``day`` (+ ``days``), as an aware UTC datetime."""
    hour, minute = (int(x) for x in hhmm.split(":"))
    return datetime.combine(day + timedelta(days=days), clock_time(hour, minute), tzinfo=LONDON).astimezone(UTC)


def week_faults(week: Week, rng: random.Random) -> list[Fault]:
    monday = week.days[0]
    faults = [
        Fault("stock-wms-to-shopify", "shopify", "oob", at_london(monday, "11:05"), at_london(monday, "11:50"), 0.12),
        # The ERP's nightly purchase-order import: the same hour, five nights (a recurring time of day).
        *(Fault("purchase-orders-erp-to-wms", "wms", "oob", at_london(monday, "01:30", d),
                at_london(monday, "02:06", d), 0.15) for d in range(5)),
        # Someone edits prices in Amazon, twice (repeated conflicts on a critical field).
        Fault("price-pim-to-shopify", "amazon", "conflict", at_london(monday, "10:00", 1), at_london(monday, "11:30", 1),
              6, field="price"),
        Fault("price-pim-to-shopify", "amazon", "conflict", at_london(monday, "14:00", 3), at_london(monday, "14:40", 3),
              3, field="price"),
        Fault("orders-shopify-to-erp", "erp", "conflict", at_london(monday, "09:00", 2), at_london(monday, "17:00", 2),
              8, field="status"),
        Fault("stock-wms-to-pos", "pos", "conflict", at_london(monday, "12:00", 5), at_london(monday, "12:20", 5),
              2, field="available"),
        Fault("orders-amazon-to-oms", None, "error", at_london(monday, "03:10", 2), at_london(monday, "03:56", 2),
              1.0, reason="unavailable"),
        Fault("loyalty-crm-to-shopify", "pos", "error", week.start, week.end, 0.065, reason="rate_limited"),
        Fault("products-pim-to-shopify", "amazon", "schema", at_london(monday, "16:00", 4), at_london(monday, "18:30", 4),
              0.4),
        # Began on the Sunday before (an incident open when the week starts) ...
        Fault("price-pim-to-pos", "pos", "oob", week.start - timedelta(hours=2, minutes=30),
              week.start + timedelta(minutes=40), 0.2),
        # ... and one still open when it ends.
        Fault("customers-shopify-to-crm", "crm", "oob", week.end - timedelta(hours=2), week.end + timedelta(hours=1),
              0.1),
    ]
    targets = [(spec.name, t) for spec in CONTRACTS for t in spec.targets]
    for _ in range(RANDOM_BURSTS):
        contract, target = rng.choice(targets)
        start = week.start + timedelta(minutes=rng.randrange(0, 7 * 24 * 60 - 120))
        faults.append(Fault(contract, target, "oob", start, start + timedelta(minutes=rng.randint(8, 90)),
                            rng.uniform(0.06, 0.35)))
    return faults


# -- the simulation: runs, snapshots, divergences, incidents --------------------------------------


ERROR_TEXT = {
    "timeout": "{system}: no answer within 30 s (read of {entity})",
    "unavailable": "{system}: HTTP 503 Service Unavailable after 3 attempts",
    "rate_limited": "{system}: rate limited (HTTP 429) after 3 retries",
}


@dataclass
class Fill:
    """Rows waiting to be inserted, ids handed out, and counts."""

    run_id: int = 0
    runs: int = 0
    snapshots: int = 0
    divergences: int = 0
    conflict_divergences: int = 0
    key_seq: int = 0


def draw(rng: random.Random, weights: tuple[float, ...]) -> int:
    x, acc = rng.random() * sum(weights), 0.0
    for value, weight in enumerate(weights):
        acc += weight
        if x < acc:
            return value
    return len(weights) - 1


def binomial(rng: random.Random, n: int, p: float) -> int:
    if n <= 0 or p <= 0:
        return 0
    if n * p > 15:
        return max(0, min(n, round(rng.gauss(n * p, math.sqrt(n * p * (1 - p))))))
    return sum(1 for _ in range(n) if rng.random() < p)


class Simulation:
    """Every run of one contract, in time order, as the service would have recorded it."""

    def __init__(self, config: Config, spec: Spec, index: int, faults: list[Fault], policy: Any,
                 write_from: datetime, fill: Fill, rng: random.Random) -> None:
        self.spec, self.fill, self.rng, self.policy, self.write_from = spec, fill, rng, policy, write_from
        self.contract: Contract = config.contracts[spec.name]
        self.offset = timedelta(seconds=6 * index)  # the service staggers contracts
        self.faults = {t: [f for f in faults if f.contract == spec.name and f.target in (t, None)]
                       for t in spec.targets}
        self.source_faults = [f for f in faults if f.contract == spec.name and f.target is None]
        self.risks = sorted({s.risk for s in self.contract.fields.values() if s.risk})
        self.latency = self.contract.budget.latency.total_seconds()
        self.over = int(self.contract.budget.drift * SAMPLE + 1e-9) + 1  # the fewest out of budget over it
        self.streaks: dict[str, dict[str, int]] = {t: {} for t in spec.targets}
        self.evidence: dict[str, tuple[int, int]] = {t: (0, 0) for t in spec.targets}
        self.latest: dict[tuple[str, BreachKind], Incident] = {}
        self.conflict_rows: dict[tuple[str, str], dict[str, Any]] = {}  # (target, key) -> row values
        self.run_rows: list[dict[str, Any]] = []
        self.snapshot_rows: list[dict[str, Any]] = []
        self.divergence_rows: list[dict[str, Any]] = []

    # one run

    def run(self, at: datetime, incidents: dict[int, Incident], next_incident: list[int]) -> None:
        rng, spec = self.rng, self.spec
        started = at + self.offset + timedelta(milliseconds=rng.randint(0, 1500))
        source_error = self._source_error(started)
        targets = []
        for target in spec.targets:
            if source_error is not None:
                reason, message = source_error
                health = Health(spec.name, target, started, Outcome.ERROR, error=message, error_reason=reason)
            else:
                health = self._health(target, started)
            verdict = build_verdict(self.contract, target, health, self.streaks[target], self.evidence[target])
            self.streaks[target], self.evidence[target] = verdict.streaks, verdict.evidence
            targets.append(TargetResult(target, [], health, verdict))
        outcomes = {t.health.outcome for t in targets}
        outcome = (Outcome.ERROR if Outcome.ERROR in outcomes
                   else Outcome.DIVERGENT if Outcome.DIVERGENT in outcomes else Outcome.IN_SYNC)
        finished = started + timedelta(seconds=rng.uniform(1.2, 6.0))
        result = ProbeResult(
            contract=spec.name, started_at=started, finished_at=finished, outcome=outcome,
            sampled_by_stream={} if source_error else {"recent": RECENT, "uniform": SAMPLE - RECENT,
                                                        "followup": rng.randint(0, 6)},
            targets=targets, changes=DivergenceChanges(),
            usage=[ConnectorUsage(s, requests=2, by_status={"200": 2}) for s in (spec.source, *spec.targets)],
            error=source_error[1] if source_error else None, error_reason=source_error[0] if source_error else None,
        )
        changed, _ = track_incidents(self.latest.values(), result, self.policy, started)
        for incident in changed:
            if incident.id is None:
                incident.id = next_incident[0]
                next_incident[0] += 1
            incidents[incident.id] = incident
            self.latest[(incident.target, incident.kind)] = incident
        if started < self.write_from:
            return
        self.fill.run_id += 1
        run_id = self.fill.run_id
        self.run_rows.append({"id": run_id, **run_values(result)})
        for t in targets:
            self.snapshot_rows.append(snapshot_values(run_id, spec.name, t.health, t.verdict))
            if t.health.outcome is not Outcome.ERROR:
                self._divergences(t.target, t.health, started)

    def _active(self, target: str, at: datetime, kind: str) -> list[Fault]:
        return [f for f in self.faults[target] if f.kind == kind and f.start <= at < f.end]

    def _source_error(self, at: datetime) -> tuple[str, str] | None:
        rng = self.rng
        for f in self.source_faults:
            if f.kind == "error" and f.start <= at < f.end and rng.random() < f.level:
                return f.reason, self._error_text(f.reason, self.spec.source)
        if rng.random() < SOURCE_ERRORS:
            return "timeout", self._error_text("timeout", self.spec.source)
        return None

    def _error_text(self, reason: str, system: str) -> str:
        return ERROR_TEXT[reason].format(system=system, entity=entity_of(self.spec))

    def _health(self, target: str, at: datetime) -> Health:
        rng, spec = self.rng, self.spec
        for f in self._active(target, at, "error"):
            if rng.random() < f.level:
                return Health(spec.name, target, at, Outcome.ERROR, error=self._error_text(f.reason, target),
                              error_reason=f.reason)
        if rng.random() < TARGET_ERRORS:
            return Health(spec.name, target, at, Outcome.ERROR, error=self._error_text("timeout", target),
                          error_reason="timeout")
        schema = self._active(target, at, "schema")
        unreadable = binomial(rng, SAMPLE, schema[0].level) if schema else 0
        n = SAMPLE - unreadable
        conflicts = 0
        conflict_field: str | None = None
        for f in self._active(target, at, "conflict"):
            seen = [k for k in range(int(f.level)) if rng.random() < 0.3]  # the key was in the sample proper
            conflicts += len(seen)
            conflict_field = f.field
            self._conflict_keys(target, f, seen, at)
        if rng.random() < (NOISY_OVER if (spec.name, target) in NOISY else OVER):
            oob = self.over + draw(rng, (0.7, 0.3))
        else:
            oob = draw(rng, BASELINE[:self.over])
        for f in self._active(target, at, "oob"):
            oob = max(oob, binomial(rng, n, f.level * rng.uniform(0.7, 1.3)))
        oob = min(oob, n - conflicts)
        missing = binomial(rng, oob, 0.2)
        inflight = min(draw(rng, INFLIGHT), n - conflicts - oob)
        duplicate = 1 if rng.random() < 0.004 and n - conflicts - oob - inflight > 0 else 0
        stale = oob - missing + inflight
        divergent = stale + missing + conflicts + duplicate
        by_kind = {"in_sync": n - divergent}
        for kind, count in (("stale", stale), ("missing", missing), ("conflict", conflicts),
                            ("duplicate", duplicate), ("unreadable", unreadable)):
            if count:
                by_kind[kind] = count
        at_risk: Counter[str] = Counter()
        for risk in self.risks:
            at_risk[risk] += binomial(rng, oob, 0.6)
        if conflict_field is not None:
            spec_field = self.contract.fields[conflict_field]
            if spec_field.risk:
                at_risk[spec_field.risk] += conflicts
        critical = conflicts if conflict_field and self.contract.fields[conflict_field].critical else 0
        quiet = at.astimezone(LONDON).hour < 6
        samples = rng.randint(0, 4) if quiet else rng.randint(12, 30)
        censored = stale + missing
        p50: float | None = None
        p95: float | None = None
        p50_low = p95_low = False
        if samples or censored:
            p50 = spec.lag_p50 * rng.lognormvariate(0, 0.3)
            p95 = p50 * rng.uniform(3, 7)
            share = oob / (samples + censored)
            if share > 0.05 or not samples:
                p95, p95_low = self.latency * rng.uniform(1.1, 4), True
            if share > 0.5 or not samples:
                p50, p50_low = self.latency * rng.uniform(1.05, 2), True
        drift, out = wilson_interval(divergent, n), wilson_interval(oob, n)
        return Health(
            contract=spec.name, target=target, at=at, outcome=Outcome.DIVERGENT if divergent else Outcome.IN_SYNC,
            sampled=n, divergent=divergent, out_of_budget=oob, conflicts=conflicts, critical_conflicts=critical,
            unreadable=unreadable, by_kind=by_kind, drift_ratio=divergent / n if n else None, drift_interval=drift,
            out_of_budget_ratio=oob / n if n else None, out_of_budget_interval=out, lag_p50=p50, lag_p95=p95,
            lag_p50_lower_bound=p50_low, lag_p95_lower_bound=p95_low, lag_samples=samples, censored=censored,
            at_risk={k: v for k, v in at_risk.items() if v},
        )

    def _conflict_keys(self, target: str, fault: Fault, seen: list[int], at: datetime) -> None:
        """One divergence row per conflicting key: opened when first sampled, followed up (last
        seen) to the end of the fault, resolved a few runs later (or left open)."""
        for k in seen:
            key = f"{fault.field.upper()}-{fault.start:%d%H%M}-{k}"
            row = self.conflict_rows.get((target, key))
            if row is None:
                div = OpenDivergence(target, key, key, Kind.CONFLICT, at, at, None, (fault.field,))
                row = opened_values(self.spec.name, div)
                row["last_seen"] = max(at, fault.end - EVERY)
                row["resolved_at"] = fault.end + EVERY * self.rng.randint(1, 3)
                row["resolution_seconds"] = (row["resolved_at"] - row["last_seen"]).total_seconds()
                self.conflict_rows[(target, key)] = row
                if at >= self.write_from:
                    self.divergence_rows.append(row)
                    self.fill.conflict_divergences += 1

    def _divergences(self, target: str, health: Health, at: datetime) -> None:
        """The stale and missing records the engine opened this run: new in-flight ones (caught
        up a run or two later) and, in a burst, some of the out-of-budget ones (caught up when it ends)."""
        rng = self.rng
        kinds = health.by_kind
        fresh = min(kinds.get("stale", 0), rng.choice((0, 0, 1, 1, 2)))
        if health.out_of_budget >= 5:
            fresh += rng.randint(0, max(1, health.out_of_budget // 4))
        fresh += 1 if kinds.get("missing") and rng.random() < 0.3 else 0
        for _ in range(fresh):
            self.fill.key_seq += 1
            key = f"K{self.fill.key_seq:07d}"
            kind = Kind.MISSING if kinds.get("missing") and rng.random() < 0.2 else Kind.STALE
            updated = at - timedelta(seconds=rng.uniform(5, 2 * self.latency))
            div = OpenDivergence(target, key, key, kind, at, at, updated, () if kind is Kind.MISSING else
                                 (rng.choice(list(self.contract.fields)),))
            row = opened_values(self.spec.name, div)
            later = rng.randint(1, 3) if health.out_of_budget < 5 else rng.randint(5, 45)
            row["last_seen"] = at + EVERY * (later - 1)
            row["resolved_at"] = at + EVERY * later
            row["lag_seconds"] = (row["resolved_at"] - updated).total_seconds()
            row["resolution_seconds"] = EVERY.total_seconds()
            self.divergence_rows.append(row)


def fill_store(store: Store, config: Config, week: Week, history_weeks: int) -> Fill:
    """Simulate ``history_weeks`` weeks before ``week`` and ``week`` itself, and insert the rows."""
    first = week.start - timedelta(days=7 * history_weeks)
    weeks = [iso_week(d.strftime("%G-W%V"), week.end) for d in
             (week.days[0] - timedelta(days=7 * k) for k in range(history_weeks, -1, -1))]
    rng = random.Random(SEED)
    faults = [f for w in weeks for f in week_faults(w, rng)]
    fill = Fill()
    incidents: dict[int, Incident] = {}
    next_incident = [1]
    policy = config.settings.alerting
    slots = int((week.end - (first - LEAD_IN)) / EVERY)
    with store.engine.begin() as conn:
        for index, spec in enumerate(CONTRACTS):
            sim = Simulation(config, spec, index, faults, policy, first, fill, random.Random(f"{SEED}-{spec.name}"))
            for n in range(slots):
                at = first - LEAD_IN + n * EVERY
                if at >= week.end:
                    break
                sim.run(at, incidents, next_incident)
            for table, rows in ((RUNS, sim.run_rows), (SNAPSHOTS, sim.snapshot_rows),
                                (DIVERGENCES, sim.divergence_rows)):
                for i in range(0, len(rows), CHUNK):
                    conn.execute(insert(table), rows[i:i + CHUNK])
            fill.runs += len(sim.run_rows)
            fill.snapshots += len(sim.snapshot_rows)
            fill.divergences += len(sim.divergence_rows)
        rows = []
        ack_rng = random.Random(f"{SEED}-acks")
        for incident in sorted(incidents.values(), key=lambda i: i.id or 0):
            rows.append({"id": incident.id, **incident_values(_acknowledged(incident, ack_rng))})
        for i in range(0, len(rows), CHUNK):
            conn.execute(insert(INCIDENTS), rows[i:i + CHUNK])
    return fill


def _acknowledged(incident: Incident, rng: random.Random) -> Incident:
    """Most incidents are acknowledged by someone a few minutes to an hour after they open."""
    if rng.random() > ACK_SHARE:
        return incident
    at = incident.opened_at + timedelta(minutes=rng.lognormvariate(math.log(12), 0.7))
    if incident.resolved_at is not None and at >= incident.resolved_at:
        return incident
    state = incident.state if incident.state is IncidentState.RESOLVED else IncidentState.ACKNOWLEDGED
    return replace(incident, state=state, acknowledged_at=at, acknowledged_by=rng.choice(RESPONDERS))


# -- the measured process -------------------------------------------------------------------------


def peak_rss_mib() -> float:
    """This process's peak RSS in MiB: VmHWM where /proc has it, else ``ru_maxrss``.

    Not ``ru_maxrss`` on Linux: it survives ``execve``, so a process started by a big parent
    (the filler, some 230 MiB after four weeks) reports at least the parent's RSS at the fork."""
    with contextlib.suppress(OSError):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TimedStore:
    """The store, with the time spent in its ``week_*`` reads added up (``build_weekly`` reads
    through these only)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.seconds = 0.0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._store, name)
        if not name.startswith("week_"):
            return attr

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return attr(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        return timed


def measure(config_path: str, url: str, now_text: str, profile: bool) -> dict[str, Any]:
    """In this (fresh) process: load, open, build, render; the figures as a dict."""
    started = time.perf_counter()
    config = load_config(config_path, secrets_optional=True)
    loaded = time.perf_counter()
    store = Store.open(url)
    opened = time.perf_counter()
    rss_open = peak_rss_mib()
    timed = TimedStore(store)
    now = datetime.fromisoformat(now_text)
    week = iso_week(WEEK, now)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu = time.process_time()
    try:
        report = build_weekly(timed, config, week, now)  # type: ignore[arg-type]
    finally:
        store.close()
    built = time.perf_counter()
    build_cpu = time.process_time() - cpu
    try:
        from monitor.report import render
    except ImportError:
        render = None  # type: ignore[assignment]
    to_html = getattr(render, "to_html", None)
    to_markdown = getattr(render, "to_markdown", None)
    html = to_html(report) if to_html is not None else None
    html_done = time.perf_counter()
    markdown = to_markdown(report) if to_markdown is not None else None
    done = time.perf_counter()
    if profiler is not None:
        import io
        import pstats

        profiler.disable()
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(15)
        print(out.getvalue(), file=sys.stderr)
    h = report.headline
    return {
        "load_config_s": loaded - started,
        "open_s": opened - loaded,
        "build_s": built - opened,
        "render_html_s": html_done - built if html is not None else None,
        "render_markdown_s": done - html_done if markdown is not None else None,
        "read_s": timed.seconds,
        "build_cpu_s": build_cpu,
        "rss_mib": peak_rss_mib(),
        "rss_open_mib": rss_open,
        "html_bytes": len(html.encode()) if html is not None else None,
        "markdown_bytes": len(markdown.encode()) if markdown is not None else None,
        "report": {
            "probe_runs": h.probe_runs, "sampled": h.sampled, "within_budget": h.within_budget,
            "within_budget_last_week": h.within_budget_last_week, "incidents": h.incidents,
            "contracts_met": h.contracts_met, "contracts": h.contracts,
            "incidents_touching": sum(c.incidents.count for c in report.contracts),
            "conflicts": sum(len(c.conflicts) for c in report.contracts),
            "at_stake": sum(len(c.at_stake) for c in report.contracts),
            "fix_first": [f"{f.rule}:{f.contract}/{f.target}" for f in report.fix_first],
        },
    }


def run_child(config_path: Path, url: str, now: datetime, profile: bool = False) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(config_path), url, now.isoformat()]
    if profile:
        cmd.append("--child-profile")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNCWATCH_")}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if done.returncode != 0:
        raise SystemExit(f"the measuring process failed ({done.returncode}):\n{done.stderr}")
    if profile:
        print(done.stderr, end="")
    lines = done.stdout.strip().splitlines()
    if not lines:
        raise SystemExit(f"the measuring process said nothing:\n{done.stderr}")
    figures: dict[str, Any] = json.loads(lines[-1])
    return figures


# -- main -----------------------------------------------------------------------------------------------




def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _median(runs: list[dict[str, Any]], key: str) -> float | None:
    values = [r[key] for r in runs if r.get(key) is not None]
    return statistics.median(values) if values else None


def _render_s(figures: dict[str, Any]) -> float | None:
    parts = [figures[k] for k in ("render_html_s", "render_markdown_s") if figures.get(k) is not None]
    return sum(parts) if parts else None


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        print(json.dumps(measure(sys.argv[2], sys.argv[3], sys.argv[4], "--child-profile" in sys.argv)))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=3, help="measuring processes (default 3)")
    parser.add_argument("--history-weeks", type=int, default=0, help="also fill this many weeks before (default 0)")
    parser.add_argument("--profile", action="store_true", help="one more process under cProfile")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (config and store)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--store-url", metavar="URL", help="the store to fill (default: a temporary SQLite file)")
    where.add_argument("--postgres", metavar="URL", help="a PostgreSQL server (postgresql+psycopg://...): a fresh schema")
    args = parser.parse_args()
    print(f"machine={platform.machine()} cpus={os.cpu_count()} python={platform.python_version()}", flush=True)
    with contextlib.ExitStack() as stack:
        if args.keep:
            tmp = Path(tempfile.mkdtemp(prefix="bench-report-"))
            print(f"kept={tmp}")
        else:
            tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-report-")))
        if args.postgres:
            url = stack.enter_context(fresh_schema(args.postgres))
        else:
            url = args.store_url or f"sqlite:///{tmp / 'syncwatch.db'}"
        config_path = write_config(tmp)
        config = load_config(config_path, secrets_optional=True)
        week = iso_week(WEEK, datetime.now(LONDON))
        now = week.end + timedelta(hours=7)  # Monday 07:00: the report of the week just ended
        store = stack.enter_context(Store.open(url))
        backend = store.engine.dialect.name
        with store.engine.connect() as conn:
            existing = conn.execute(select(func.count()).select_from(RUNS)).scalar_one()
        print(f"backend={backend} week={week.label} contracts={len(config.contracts)} "
              f"targets={sum(len(c.targets) for c in config.contracts.values())} history_weeks={args.history_weeks}")
        if existing:
            print(f"fill=skipped (the store already holds {existing} probe runs)")
        else:
            started = time.perf_counter()
            fill = fill_store(store, config, week, args.history_weeks)
            print(f"fill_seconds={time.perf_counter() - started:.1f}")
            print(f"probe_runs={fill.runs} snapshots={fill.snapshots} divergences={fill.divergences} "
                  f"conflict_divergences={fill.conflict_divergences}")
        with store.engine.connect() as conn:
            incidents = conn.execute(select(func.count()).select_from(INCIDENTS)).scalar_one()
            in_week = conn.execute(select(func.count()).select_from(SNAPSHOTS).where(
                SNAPSHOTS.c.at >= week.start, SNAPSHOTS.c.at < week.end)).scalar_one()
        print(f"incidents_stored={incidents} snapshots_in_week={in_week}")
        if backend == "sqlite" and store.engine.url.database:
            print(f"store_mb={Path(store.engine.url.database).stat().st_size / 1e6:.1f}")
        store.close()
        runs = []
        for i in range(args.repeat):
            figures = run_child(config_path, url, now)
            runs.append(figures)
            render_s = _render_s(figures)
            total = figures["build_s"] + (render_s or 0.0)
            print(f"run={i + 1} load_config_s={_fmt(figures['load_config_s'])} open_s={_fmt(figures['open_s'])} "
                  f"build_s={_fmt(figures['build_s'])} (store_reads_s={_fmt(figures['read_s'])} cpu_s={_fmt(figures['build_cpu_s'])}) "
                  f"render_html_s={_fmt(figures['render_html_s'])} "
                  f"render_markdown_s={_fmt(figures['render_markdown_s'])} build_plus_render_s={_fmt(total)} "
                  f"rss_mib={figures['rss_mib']:.1f} rss_after_open_mib={figures['rss_open_mib']:.1f} "
                  f"html_bytes={figures['html_bytes'] if figures['html_bytes'] is not None else 'n/a'} "
                  f"markdown_bytes={figures['markdown_bytes'] if figures['markdown_bytes'] is not None else 'n/a'}",
                  flush=True)
        report = runs[-1]["report"]
        print("report " + " ".join(f"{k}={v}" for k, v in report.items() if k != "fix_first"))
        print(f"report fix_first={','.join(report['fix_first']) or '(none)'}")
        for figures in runs:
            figures["render_s"] = _render_s(figures)
            figures["total_s"] = figures["build_s"] + (figures["render_s"] or 0.0)
        build_s, read_s, cpu_s, render_s, total_s = (
            _median(runs, k) for k in ("build_s", "read_s", "build_cpu_s", "render_s", "total_s"))
        rss, html, markdown = (_median(runs, k) for k in ("rss_mib", "html_bytes", "markdown_bytes"))
        print(f"median build_s={_fmt(build_s)} store_reads_s={_fmt(read_s)} build_cpu_s={_fmt(cpu_s)} render_s={_fmt(render_s)} build_plus_render_s={_fmt(total_s)} "
              f"rss_mib={_fmt(rss, 1)} rss_mb={_fmt(rss * 1.048576 if rss is not None else None, 1)} "
              f"html_bytes={_fmt(html, 0)} markdown_bytes={_fmt(markdown, 0)}")
        missed = False
        checks = [
            ("build_plus_render_s<=5", total_s, total_s is not None and total_s <= GOAL_SECONDS),
            ("rss_mib<300", rss, rss is not None and rss < GOAL_RSS_MIB),
            ("html_kb<300", html / 1000 if html is not None else None,
             html is not None and html / 1000 < GOAL_HTML_KB),
        ]
        for name, value, ok in checks:
            verdict = "n/a" if value is None else ("ok" if ok else "MISSED")
            missed = missed or verdict == "MISSED"
            print(f"goal {name}: {verdict} ({_fmt(value, 2)})")
        if args.profile:
            print("profile (build_weekly, one more process, top 15 by cumulative time):", flush=True)
            run_child(config_path, url, now, profile=True)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
