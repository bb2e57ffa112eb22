"""Translate between the result dataclasses (``monitor.results``) and the store's rows, both ways.

Writes go out as column values (dicts) for Core inserts and updates; reads come back
as ORM rows.

Also the two read-side records the store returns where no result type fits:
``RunRecord`` (a probe run without its observations) and ``HealthRecord``
(a health snapshot with the verdict recorded beside it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.alerting.notices import Delivery, Message, Method, Notice, NoticeKind, Thread
from monitor.clock import ensure_utc
from monitor.results import (
    BreachKind,
    ConnectorUsage,
    FieldDiff,
    Health,
    Incident,
    IncidentState,
    Interval,
    Kind,
    Observation,
    OpenDivergence,
    Outcome,
    ProbeResult,
    Resolution,
    Silence,
    Stream,
    Verdict,
)
from monitor.store.models import (
    DivergenceRow,
    HealthSnapshotRow,
    IncidentRow,
    IncidentThreadRow,
    NoticeRow,
    ObservationRow,
    ProbeRunRow,
    SilenceRow,
)

__all__ = [
    "incident_values",
    "incident_from_row",
    "silence_values",
    "silence_from_row",
    "RunRecord",
    "HealthRecord",
    "run_values",
    "observation_values",
    "observation_from_row",
    "snapshot_values",
    "health_from_row",
    "verdict_from_row",
    "opened_values",
    "apply_update",
    "resolution_values",
    "resolved_values",
    "open_from_row",
    "resolution_from_row",
    "run_from_row",
]


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A stored probe run, without its observations."""

    id: int
    contract: str
    started_at: datetime
    finished_at: datetime
    outcome: Outcome
    sampled_by_stream: dict[str, int]
    usage: list[ConnectorUsage]
    error: str | None = None
    error_reason: str | None = None


@dataclass(frozen=True, slots=True)
class HealthRecord:
    """One stored health snapshot: the health and the verdict of one target in one run."""

    run_id: int
    health: Health
    verdict: Verdict


# -- probe runs ---------------------------------------------------------------------------


def run_values(result: ProbeResult) -> dict[str, Any]:
    """Column values of a probe run, for an insert that returns its id."""
    return {
        "contract": result.contract,
        "started_at": result.started_at,
        "finished_at": result.finished_at,
        "outcome": str(result.outcome),
        "error_reason": result.error_reason,
        "error": result.error,
        "sampled_by_stream": dict(result.sampled_by_stream),
        "usage": [{k: v for k, v in asdict(usage).items() if k != "durations"} for usage in result.usage],
    }


def run_from_row(row: ProbeRunRow) -> RunRecord:
    return RunRecord(
        id=row.id,
        contract=row.contract,
        started_at=row.started_at,
        finished_at=row.finished_at,
        outcome=Outcome(row.outcome),
        sampled_by_stream=dict(row.sampled_by_stream),
        usage=[ConnectorUsage(**usage) for usage in row.usage],
        error=row.error,
        error_reason=row.error_reason,
    )


# -- observations -------------------------------------------------------------------------


def observation_values(run_id: int, contract: str, obs: Observation) -> dict[str, Any]:
    """Column values of one observation, for one insert of all a run's observations."""
    return {
        "run_id": run_id,
        "contract": contract,
        "target": obs.target,
        "key": obs.key,
        "key_display": obs.key_display,
        "stream": str(obs.stream),
        "kind": str(obs.kind),
        "observed_at": obs.observed_at,
        "fields": [diff.field for diff in obs.diffs],
        "diffs": [asdict(diff) for diff in obs.diffs],
        "source_updated_at": obs.source_updated_at,
        "target_updated_at": obs.target_updated_at,
        "age_seconds": obs.age_seconds,
        "age_is_lower_bound": obs.age_is_lower_bound,
        "out_of_budget": obs.out_of_budget,
        "lag_seconds": obs.lag_seconds,
        "problems": list(obs.problems),
    }


def observation_from_row(row: ObservationRow) -> Observation:
    return Observation(
        target=row.target,
        key=row.key,
        key_display=row.key_display,
        stream=Stream(row.stream),
        kind=Kind(row.kind),
        observed_at=row.observed_at,
        diffs=tuple(FieldDiff(**diff) for diff in row.diffs),
        source_updated_at=row.source_updated_at,
        target_updated_at=row.target_updated_at,
        age_seconds=row.age_seconds,
        age_is_lower_bound=row.age_is_lower_bound,
        out_of_budget=row.out_of_budget,
        lag_seconds=row.lag_seconds,
        problems=tuple(row.problems),
    )


# -- health snapshots ---------------------------------------------------------------------


def snapshot_values(run_id: int, contract: str, health: Health, verdict: Verdict) -> dict[str, Any]:
    """Column values of one target's health snapshot and verdict."""
    drift, oob = health.drift_interval, health.out_of_budget_interval
    return dict(
        run_id=run_id,
        contract=contract,
        target=health.target,
        at=health.at,
        outcome=str(health.outcome),
        sampled=health.sampled,
        divergent=health.divergent,
        out_of_budget=health.out_of_budget,
        conflicts=health.conflicts,
        critical_conflicts=health.critical_conflicts,
        unreadable=health.unreadable,
        by_kind=dict(health.by_kind),
        drift_ratio=health.drift_ratio,
        drift_low=drift.low if drift else None,
        drift_high=drift.high if drift else None,
        oob_ratio=health.out_of_budget_ratio,
        oob_low=oob.low if oob else None,
        oob_high=oob.high if oob else None,
        lag_p50=health.lag_p50,
        lag_p95=health.lag_p95,
        lag_p50_lower_bound=health.lag_p50_lower_bound,
        lag_p95_lower_bound=health.lag_p95_lower_bound,
        lag_samples=health.lag_samples,
        censored=health.censored,
        at_risk=dict(health.at_risk),
        error=health.error,
        error_reason=health.error_reason,
        conditions=[str(condition) for condition in verdict.conditions],
        streaks=_streaks_json(verdict),
        breaching=[str(condition) for condition in verdict.breaching],
        hold=verdict.hold,
    )


def _interval(low: float | None, high: float | None) -> Interval | None:
    return Interval(low, high) if low is not None and high is not None else None


def health_from_row(row: HealthSnapshotRow) -> Health:
    return Health(
        contract=row.contract,
        target=row.target,
        at=row.at,
        outcome=Outcome(row.outcome),
        sampled=row.sampled,
        divergent=row.divergent,
        out_of_budget=row.out_of_budget,
        conflicts=row.conflicts,
        critical_conflicts=row.critical_conflicts,
        unreadable=row.unreadable,
        by_kind=dict(row.by_kind),
        drift_ratio=row.drift_ratio,
        drift_interval=_interval(row.drift_low, row.drift_high),
        out_of_budget_ratio=row.oob_ratio,
        out_of_budget_interval=_interval(row.oob_low, row.oob_high),
        lag_p50=row.lag_p50,
        lag_p95=row.lag_p95,
        lag_p50_lower_bound=row.lag_p50_lower_bound,
        lag_p95_lower_bound=row.lag_p95_lower_bound,
        lag_samples=row.lag_samples,
        censored=row.censored,
        at_risk=dict(row.at_risk),
        error=row.error,
        error_reason=row.error_reason,
    )


# The verdict's evidence (pooled sampled and out-of-budget counts over the out-of-budget streak)
# rides in the snapshot's streaks JSON under a key no condition can have: no schema change.
_EVIDENCE = "_evidence"


def _streaks_json(verdict: Verdict) -> dict[str, Any]:
    streaks: dict[str, Any] = dict(verdict.streaks)
    if verdict.evidence != (0, 0):
        streaks[_EVIDENCE] = [verdict.evidence[0], verdict.evidence[1], verdict.p_value]
    return streaks


def split_streaks(stored: dict[str, Any]) -> tuple[dict[str, int], tuple[int, int], float | None]:
    """Streaks, evidence and its p-value from a snapshot's streaks JSON."""
    streaks = {k: int(v) for k, v in stored.items() if k != _EVIDENCE}
    evidence = stored.get(_EVIDENCE)
    if not evidence:
        return streaks, (0, 0), None
    p_value = float(evidence[2]) if len(evidence) > 2 and evidence[2] is not None else None
    return streaks, (int(evidence[0]), int(evidence[1])), p_value


def verdict_from_row(row: HealthSnapshotRow) -> Verdict:
    streaks, evidence, p_value = split_streaks(dict(row.streaks))
    return Verdict(
        target=row.target,
        conditions=tuple(BreachKind(condition) for condition in row.conditions),
        streaks=streaks,
        breaching=tuple(BreachKind(condition) for condition in row.breaching),
        hold=row.hold,
        evidence=evidence,
        p_value=p_value,
    )


# -- divergences --------------------------------------------------------------------------


def opened_values(contract: str, div: OpenDivergence) -> dict[str, Any]:
    """Column values of a divergence seen open for the first time."""
    return {
        "contract": contract,
        "target": div.target,
        "key": div.key,
        "key_display": div.key_display,
        "kind": str(div.kind),
        "first_seen": div.first_seen,
        "last_seen": div.last_seen,
        "source_updated_at": div.source_updated_at,
        "fields": list(div.fields),
        "resolved_at": None,
        "lag_seconds": None,
        "resolution_seconds": None,
        "lag_is_lower_bound": False,
    }


def apply_update(values: dict[str, Any], div: OpenDivergence) -> None:
    """Carry a newer sighting into an open row's values; the earlier first sighting is kept.

    ``values`` holds at least the row's ``first_seen`` and ``last_seen``; the columns
    a sighting changes are set.
    """
    values["first_seen"] = min(ensure_utc(values["first_seen"]), ensure_utc(div.first_seen))
    values["last_seen"] = max(ensure_utc(values["last_seen"]), ensure_utc(div.last_seen))
    values["kind"] = str(div.kind)
    values["key_display"] = div.key_display
    values["fields"] = list(div.fields)
    values["source_updated_at"] = div.source_updated_at


def resolution_values(res: Resolution) -> dict[str, Any]:
    """The column values that close an open divergence."""
    return {
        "resolved_at": res.resolved_at,
        "lag_seconds": res.lag_seconds,
        "resolution_seconds": res.resolution_seconds,
        "lag_is_lower_bound": res.lag_is_lower_bound,
        "source_updated_at": res.source_updated_at,
    }


def resolved_values(contract: str, res: Resolution) -> dict[str, Any]:
    """A resolution of a divergence the store never saw open: recorded closed, so reports count it.

    Its last divergent sighting is where the lag interval starts: ``resolved_at - resolution``.
    """
    return {
        "contract": contract,
        "target": res.target,
        "key": res.key,
        "key_display": res.key_display,
        "kind": str(res.kind),
        "first_seen": res.first_seen,
        "last_seen": res.resolved_at - timedelta(seconds=res.resolution_seconds),
        "source_updated_at": res.source_updated_at,
        "fields": [],
        "resolved_at": res.resolved_at,
        "lag_seconds": res.lag_seconds,
        "resolution_seconds": res.resolution_seconds,
        "lag_is_lower_bound": res.lag_is_lower_bound,
    }


def open_from_row(row: DivergenceRow) -> OpenDivergence:
    return OpenDivergence(
        target=row.target,
        key=row.key,
        key_display=row.key_display,
        kind=Kind(row.kind),
        first_seen=row.first_seen,
        last_seen=row.last_seen,
        source_updated_at=row.source_updated_at,
        fields=tuple(row.fields),
    )


def resolution_from_row(row: DivergenceRow) -> Resolution:
    if row.resolved_at is None:
        raise ValueError(f"divergence {row.id} is still open")
    return Resolution(
        target=row.target,
        key=row.key,
        key_display=row.key_display,
        kind=Kind(row.kind),
        first_seen=row.first_seen,
        resolved_at=row.resolved_at,
        source_updated_at=row.source_updated_at,
        lag_seconds=row.lag_seconds or 0.0,
        resolution_seconds=row.resolution_seconds or 0.0,
        lag_is_lower_bound=row.lag_is_lower_bound,
    )


# -- incidents and silences -----------------------------------------------------------------


def incident_values(incident: Incident) -> dict[str, Any]:
    return {
        "contract": incident.contract,
        "target": incident.target,
        "kind": incident.kind.value,
        "state": incident.state.value,
        "opened_at": incident.opened_at,
        "last_breach_at": incident.last_breach_at,
        "acknowledged_at": incident.acknowledged_at,
        "acknowledged_by": incident.acknowledged_by,
        "snoozed_until": incident.snoozed_until,
        "snoozed_by": incident.snoozed_by,
        "resolved_at": incident.resolved_at,
        "healthy_runs": incident.healthy_runs,
        "reopened": incident.reopened,
        "facts": dict(incident.facts),
    }


def incident_from_row(row: IncidentRow) -> Incident:
    return Incident(
        id=row.id,
        contract=row.contract,
        target=row.target,
        kind=BreachKind(row.kind),
        state=IncidentState(row.state),
        opened_at=row.opened_at,
        last_breach_at=row.last_breach_at,
        acknowledged_at=row.acknowledged_at,
        acknowledged_by=row.acknowledged_by,
        snoozed_until=row.snoozed_until,
        snoozed_by=row.snoozed_by,
        resolved_at=row.resolved_at,
        healthy_runs=row.healthy_runs,
        reopened=row.reopened,
        facts=dict(row.facts),
    )


def silence_values(silence: Silence) -> dict[str, Any]:
    return {
        "contract": silence.contract,
        "target": silence.target,
        "kind": silence.kind.value if silence.kind is not None else None,
        "starts_at": silence.starts_at,
        "ends_at": silence.ends_at,
        "created_by": silence.created_by,
        "comment": silence.comment,
    }


def silence_from_row(row: SilenceRow) -> Silence:
    return Silence(
        id=row.id,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        created_by=row.created_by,
        comment=row.comment,
        contract=row.contract,
        target=row.target,
        kind=BreachKind(row.kind) if row.kind is not None else None,
    )


def notice_values(notice: Notice) -> dict[str, Any]:
    return {
        "uid": notice.uid,
        "incident_id": notice.incident_id,
        "kind": notice.kind.value,
        "method": notice.method.value,
        "channel": notice.channel,
        "parent_id": notice.parent_id,
        "text": notice.message.text,
        "blocks": list(notice.message.blocks),
        "created_at": notice.created_at,
        "state": notice.state.value,
        "attempts": notice.attempts,
        "next_attempt_at": notice.next_attempt_at or notice.created_at,
        "last_error": notice.last_error,
        "uncertain": notice.uncertain,
        "sent_at": notice.sent_at,
        "sent_channel": notice.sent_channel,
        "ts": notice.ts,
    }


def notice_from_row(row: NoticeRow) -> Notice:
    return Notice(
        id=row.id,
        uid=row.uid,
        incident_id=row.incident_id,
        kind=NoticeKind(row.kind),
        method=Method(row.method),
        channel=row.channel,
        message=Message(row.text, list(row.blocks)),
        created_at=row.created_at,
        parent_id=row.parent_id,
        state=Delivery(row.state),
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        last_error=row.last_error,
        uncertain=row.uncertain,
        sent_at=row.sent_at,
        sent_channel=row.sent_channel,
        ts=row.ts,
    )


_THREAD_TIMES = ("announced_at", "escalated_at", "last_notice_at", "told_ack_at", "told_snooze_until")


def thread_values(thread: Thread) -> dict[str, Any]:
    told = asdict(thread)
    del told["incident_id"]
    for name in _THREAD_TIMES:
        value = told[name]
        told[name] = ensure_utc(value).isoformat() if value is not None else None
    return {"incident_id": thread.incident_id, "closed": thread.closed, "told": told}


def thread_from_row(row: IncidentThreadRow) -> Thread:
    told = dict(row.told)
    for name in _THREAD_TIMES:
        value = told.get(name)
        told[name] = ensure_utc(datetime.fromisoformat(value)) if value else None
    known = set(Thread.__dataclass_fields__)
    return Thread(incident_id=row.incident_id, **{k: v for k, v in told.items() if k in known})
