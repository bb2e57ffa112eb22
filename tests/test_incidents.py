"""Breaches become incidents: opened, worse, better, resolved after healthy runs, reopened within
the cool-down; a run that could not see leaves data incidents alone. Then through the store."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config.models import Alerting
from monitor.incidents import track_incidents
from monitor.results import (
    BreachKind,
    DivergenceChanges,
    Health,
    Incident,
    IncidentChange,
    IncidentState,
    Interval,
    Outcome,
    ProbeResult,
    TargetResult,
    Verdict,
)
from monitor.store import Store
from tests.support import at

POLICY = Alerting(resolve_after=2, cooldown=timedelta(hours=1))
OOB = BreachKind.OUT_OF_BUDGET


def _result(seconds: float, breaching: tuple[BreachKind, ...] = (), oob: int = 0, outcome: Outcome | None = None) -> ProbeResult:
    outcome = outcome or (Outcome.DIVERGENT if oob else Outcome.IN_SYNC)
    health = Health("stock", "shop", at(seconds), outcome, sampled=100, divergent=oob, out_of_budget=oob,
                    by_kind={"stale": oob}, out_of_budget_ratio=oob / 100,
                    out_of_budget_interval=Interval(0.0, min(1.0, oob / 100 + 0.03)),
                    error_reason="timeout" if outcome is Outcome.ERROR else None,
                    error="timed out" if outcome is Outcome.ERROR else None)
    verdict = Verdict("shop", breaching, {}, breaching, 2)
    return ProbeResult("stock", at(seconds), at(seconds), outcome, {}, [TargetResult("shop", [], health, verdict)],
                       DivergenceChanges(), [])


def _run(known: list[Incident], seconds: float, **kw: object) -> tuple[list[Incident], list[IncidentChange]]:
    changed, events = track_incidents(known, _result(seconds, **kw), POLICY, at(seconds))  # type: ignore[arg-type]
    for i, incident in enumerate(changed):  # as the store would: ids for new incidents
        if incident.id is None:
            incident.id = 100 + i + len(known)
    merged = {(i.target, i.kind): i for i in known}
    merged.update({(i.target, i.kind): i for i in changed})
    return list(merged.values()), [e.change for e in events]


def test_a_breach_opens_one_incident_and_healthy_runs_resolve_it() -> None:
    known, changes = _run([], 0, breaching=(OOB,), oob=9)
    assert changes == [IncidentChange.OPENED]
    [incident] = known
    assert (incident.state, incident.kind, incident.opened_at) == (IncidentState.OPEN, OOB, at(0))
    assert incident.facts["ratio"] == pytest.approx(0.09) and incident.facts["peak"] == pytest.approx(0.09)
    known, changes = _run(known, 180, breaching=(OOB,), oob=10)
    assert changes == [] and len(known) == 1  # still the same incident, nothing new to say
    known, changes = _run(known, 360, oob=1)
    assert changes == [] and known[0].healthy_runs == 1 and known[0].state is IncidentState.OPEN
    known, changes = _run(known, 540, oob=0)
    assert changes == [IncidentChange.RESOLVED]
    assert known[0].state is IncidentState.RESOLVED and known[0].resolved_at == at(540)


def test_worse_and_better_are_told_once_each() -> None:
    known, _ = _run([], 0, breaching=(OOB,), oob=8)
    known, changes = _run(known, 180, breaching=(OOB,), oob=15)  # under twice the peak told: noise
    assert changes == [] and known[0].facts["peak"] == pytest.approx(0.08)
    known, changes = _run(known, 270, breaching=(OOB,), oob=16)  # twice the peak told
    assert changes == [IncidentChange.WORSE] and known[0].facts["peak"] == pytest.approx(0.16)
    known, changes = _run(known, 360, breaching=(OOB,), oob=8)  # half the peak
    assert changes == [IncidentChange.BETTER]
    known, changes = _run(known, 540, breaching=(OOB,), oob=5)
    assert changes == []


def test_a_recurrence_within_the_cool_down_reopens_the_same_incident() -> None:
    known, _ = _run([], 0, breaching=(OOB,), oob=9)
    known, _ = _run(known, 180)
    known, _ = _run(known, 360)
    assert known[0].state is IncidentState.RESOLVED
    first_id = known[0].id
    known[0].acknowledged_by = "priya"
    known, changes = _run(known, 360 + 3000, breaching=(OOB,), oob=9)  # 50 minutes later
    assert changes == [IncidentChange.REOPENED]
    assert known[0].id == first_id and known[0].reopened == 1 and known[0].state is IncidentState.OPEN
    assert known[0].acknowledged_by is None  # a recurrence needs someone's attention again
    known, _ = _run(known, 4000)
    known, _ = _run(known, 4200)
    known, changes = _run(known, 4200 + 7200, breaching=(OOB,), oob=9)  # two hours later: a new story
    assert changes == [IncidentChange.OPENED]


def test_a_run_that_could_not_see_neither_heals_nor_worsens_a_data_incident() -> None:
    known, _ = _run([], 0, breaching=(OOB,), oob=9)
    known, changes = _run(known, 180, outcome=Outcome.ERROR, breaching=(BreachKind.PROBE_FAILING,))
    assert changes == [IncidentChange.OPENED]  # probe_failing: its own incident
    data = next(i for i in known if i.kind is OOB)
    assert data.healthy_runs == 0 and data.state is IncidentState.OPEN
    known, _ = _run(known, 360)
    known, changes = _run(known, 540)
    assert sorted(changes) == sorted([IncidentChange.RESOLVED, IncidentChange.RESOLVED])  # both heal on sight


def test_incidents_live_in_the_store_with_the_run(tmp_path: Path) -> None:
    store = Store.open(f"sqlite:///{tmp_path / 'sw.db'}")
    try:
        result = _result(0, breaching=(OOB,), oob=9)
        changed, events = track_incidents(store.incidents_to_track("stock", at(0) - POLICY.cooldown), result, POLICY, at(0))
        store.record(result, changed)
        assert changed[0].id is not None and events[0].incident.id == changed[0].id
        [stored] = store.incidents([IncidentState.OPEN])
        assert stored.id == changed[0].id and stored.facts["ratio"] == pytest.approx(0.09)
        stored.state, stored.acknowledged_by, stored.acknowledged_at = IncidentState.ACKNOWLEDGED, "priya", at(60)
        store.save_incident(stored)
        again = store.incident(stored.id or 0)
        assert again is not None and again.acknowledged_by == "priya" and again.acknowledged_at == at(60)
        assert store.incidents([IncidentState.OPEN]) == []
        assert [i.id for i in store.incidents_to_track("stock", at(0))] == [stored.id]
    finally:
        store.close()
