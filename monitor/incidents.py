"""From breaches to incidents: one incident per contract × target × breach kind, followed from
opened through acknowledged to resolved (DESIGN.md: "a breach opens an incident").

A run that breaches opens an incident, or reopens the last one if it was resolved within the
cool-down (a flapping sync is one story, not ten). A run that does not breach counts as healthy;
after ``resolve_after`` healthy runs the incident is resolved. A run that could not read a system
says nothing about the data: it neither worsens nor heals a data incident.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from monitor.config.models import Alerting
from monitor.results import (
    BreachKind,
    Incident,
    IncidentChange,
    IncidentEvent,
    IncidentState,
    Outcome,
    ProbeResult,
    Stream,
    TargetResult,
)

__all__ = ["track_incidents", "incident_facts"]

# "Worse" when the out-of-budget share doubles over the worst yet told; "better" once it falls
# under half of it (still breaching). Counts otherwise. Samples are noisy: a smaller step told
# owners "worse", "better", "worse" about one steady fault.
_WORSE = 2.0
_BETTER = 0.5
_EXAMPLES = 5


def track_incidents(
    known: Iterable[Incident], result: ProbeResult, policy: Alerting, now: datetime
) -> tuple[list[Incident], list[IncidentEvent]]:
    """The incidents this run changes (new ones with ``id`` None) and what happened to them.

    ``known``: the contract's latest incident per (target, kind), as stored (any state).
    """
    latest: dict[tuple[str, BreachKind], Incident] = {}
    for incident in known:
        key = (incident.target, incident.kind)
        if key not in latest or (latest[key].id or 0) < (incident.id or 0):
            latest[key] = incident
    changed: list[Incident] = []
    events: list[IncidentEvent] = []
    for target in result.targets:
        for kind in BreachKind:
            current = latest.get((target.target, kind))
            step = _step(current, target, kind, result, policy, now)
            if step is not None:
                incident, change = step
                changed.append(incident)
                if change is not None:
                    events.append(IncidentEvent(change, incident, now))
    return changed, events


def _step(
    current: Incident | None,
    target: TargetResult,
    kind: BreachKind,
    result: ProbeResult,
    policy: Alerting,
    now: datetime,
) -> tuple[Incident, IncidentChange | None] | None:
    breaching = kind in target.verdict.breaching
    active = current is not None and current.state is not IncidentState.RESOLVED
    if breaching:
        facts = incident_facts(kind, target, result)
        if current is not None and active:
            change, facts = _trend(kind, current.facts, facts)
            return replace(current, last_breach_at=now, healthy_runs=0, facts=facts), change
        if current is not None and current.resolved_at is not None and now - current.resolved_at <= policy.cooldown:
            reopened = replace(
                current, state=IncidentState.OPEN, last_breach_at=now, resolved_at=None, acknowledged_at=None,
                acknowledged_by=None, snoozed_until=None, snoozed_by=None, healthy_runs=0, reopened=current.reopened + 1,
                facts=_with_peak(kind, facts),
            )
            return reopened, IncidentChange.REOPENED
        opened = Incident(None, result.contract, target.target, kind, IncidentState.OPEN, now, now,
                          facts=_with_peak(kind, facts))
        return opened, IncidentChange.OPENED
    if current is None or not active:
        return None
    failed = target.health.outcome is Outcome.ERROR or result.outcome is Outcome.ERROR
    if failed and kind is not BreachKind.PROBE_FAILING:
        return None  # "can't see" says nothing about the data
    healthy = current.healthy_runs + 1
    if healthy >= policy.resolve_after:
        return replace(current, state=IncidentState.RESOLVED, resolved_at=now, healthy_runs=healthy), \
            IncidentChange.RESOLVED
    return replace(current, healthy_runs=healthy), None


def incident_facts(kind: BreachKind, target: TargetResult, result: ProbeResult) -> dict[str, Any]:
    """The figures an owner needs, as plain values; example keys only in their display form
    (masked when personal)."""
    h = target.health
    facts: dict[str, Any] = {"at": h.at.isoformat(), "sampled": h.sampled}
    if kind is BreachKind.PROBE_FAILING:
        facts["reason"] = h.error_reason or result.error_reason or "error"
        facts["failing"] = "source" if result.error is not None else "target"  # which side we could not read
        return facts
    examples: list[str] = []
    fields: set[str] = set()
    at_risk: dict[str, int] = {}  # risk -> out-of-budget keys it applies to (in-flight ones are no risk yet)
    for obs in target.observations:
        if kind is BreachKind.OUT_OF_BUDGET and obs.out_of_budget and obs.stream is not Stream.FOLLOWUP:
            for risk in {d.risk for d in obs.diffs if d.at_risk and d.risk}:
                at_risk[risk] = at_risk.get(risk, 0) + 1
        wanted = (
            obs.out_of_budget if kind is BreachKind.OUT_OF_BUDGET
            else obs.kind.value == "conflict" if kind is BreachKind.CONFLICT
            else obs.kind.value == "unreadable"
        )
        if wanted:
            fields.update(d.field for d in obs.diffs)
            if len(examples) < _EXAMPLES:
                examples.append(obs.key_display)
    facts.update({
        "out_of_budget": h.out_of_budget,
        "ratio": h.out_of_budget_ratio,
        "upper_bound": h.out_of_budget_interval.high if h.out_of_budget_interval else None,
        "conflicts": h.conflicts,
        "unreadable": h.unreadable,
        "by_kind": {k: v for k, v in h.by_kind.items() if k != "in_sync"},
        "at_risk": at_risk if kind is BreachKind.OUT_OF_BUDGET else dict(h.at_risk),
        "lag_p95": h.lag_p95,
        "fields": sorted(fields),
        "examples": examples,
        "evidence": list(target.verdict.evidence),
    })
    return facts


def _with_peak(kind: BreachKind, facts: dict[str, Any]) -> dict[str, Any]:
    return {**facts, "peak": _severity(kind, facts)}


def _severity(kind: BreachKind, facts: dict[str, Any]) -> float:
    if kind is BreachKind.OUT_OF_BUDGET:
        return float(facts.get("ratio") or 0.0)
    if kind is BreachKind.CONFLICT:
        return float(facts.get("conflicts") or 0)
    if kind is BreachKind.SCHEMA_CHANGE:
        return float(facts.get("unreadable") or 0)
    return 0.0


def _trend(kind: BreachKind, before: dict[str, Any], now: dict[str, Any]) -> tuple[IncidentChange | None, dict[str, Any]]:
    """Worse when the severity passes the peak told so far by half again; better (once) when it
    falls under half of the peak. The peak moves with what the owner was told."""
    peak = float(before.get("peak") or 0.0)
    severity = _severity(kind, now)
    told_better = bool(before.get("told_better"))
    if peak and severity >= peak * _WORSE:
        return IncidentChange.WORSE, {**now, "peak": severity, "told_better": False}
    if peak and severity <= peak * _BETTER and not told_better:
        return IncidentChange.BETTER, {**now, "peak": peak, "told_better": True}
    return None, {**now, "peak": peak, "told_better": told_better}


def duration(incident: Incident, now: datetime) -> timedelta:
    """How long the incident has lasted (to its resolution, or to ``now``)."""
    return (incident.resolved_at or now) - incident.opened_at
