"""The weekly health summary's numbers, computed once, here, from the store.

``build_weekly(store, config, week, now)`` reads the week's health snapshots, divergences and
incidents (``Store.week_*``) and returns a ``WeeklyReport``; the renderers only format it.

The rules, so that anyone can recompute a figure:

* **within budget** (the SLI): sampled records not out of their latency budget, over all sampled
  records of all runs that could see, all contracts and targets.
* **a run within budget**: it could read both sides and its out-of-budget share was at most the
  drift budget. **Attainment**: runs within budget over runs that could see. **Time out of
  budget**: from each run over budget to the next run of that target (or the week's end).
  Runs that could not read are counted apart ("we could not see" is not "it was wrong").
* **lag**: per run, the engine's p50/p95; per day and week, the median of run p50s and the 95th
  percentile (nearest rank) of run p95s; "≥" when a run's p95 counted records still not in sync.
* **at stake**: per target and field ``risk``, the most sampled records at risk in one run, and the
  time between runs with any at risk.
* **incidents**: those open at any time in the week; breach time is their open time inside it.
* **things to fix first**, ranked by score: (1) worst attainment below 99% (score: the share of
  runs out of budget × 100); (2) repeated ownership conflicts: a field written by a system that
  does not own it on 2 or more days or for 5 or more records (score: 10 + records); (3) recurring
  time of day: at least half the runs of the same local hour over budget on 3 or more days
  (score: 5 × days); (4) blind spots: a target that could not be read in 5% or more of its runs
  (score: the share × 100).
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta

from monitor.alerting.planner import system_names
from monitor.alerting.wording import REASONS, field_words, records_noun
from monitor.config.loader import Config
from monitor.config.models import Contract
from monitor.config.schedule import LONDON
from monitor.report.model import (
    AtStake,
    ConflictFigures,
    ContractWeek,
    DayLag,
    FixFirst,
    Headline,
    IncidentFigures,
    TargetWeek,
    Week,
    WeeklyReport,
)
from monitor.results import Incident
from monitor.store import Store
from monitor.store.week import WeekConflict, WeekSnapshot

__all__ = ["iso_week", "build_weekly", "nearest_rank", "over_budget"]

ATTAINMENT_GOAL = 0.99
CONFLICT_DAYS = 2
CONFLICT_RECORDS = 5
RECURRING_DAYS = 3
BLIND_SHARE = 0.05
FIX_FIRST = 3


def iso_week(label: str | None, now: datetime) -> Week:
    """The ISO week ``label`` ("2026-W48"), or the last complete week before ``now``, in Europe/London."""
    if label is None:
        today = now.astimezone(LONDON).date()
        monday = today - timedelta(days=today.weekday() + 7)
    else:
        try:
            year_text, week_text = label.upper().split("-W")
            monday = date.fromisocalendar(int(year_text), int(week_text), 1)
        except ValueError:
            raise ValueError(f"{label!r} is not an ISO week; expected e.g. 2026-W48") from None
    days = tuple(monday + timedelta(days=i) for i in range(7))
    iso = monday.isocalendar()
    return Week(f"{iso.year}-W{iso.week:02d}", _midnight(monday), _midnight(monday + timedelta(days=7)), days)


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=LONDON).astimezone(UTC)


def nearest_rank(values: Sequence[float], q: float) -> float | None:
    """The q-quantile of ``values`` by the nearest-rank method (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def build_weekly(store: Store, config: Config, week: Week, now: datetime) -> WeeklyReport:
    previous = iso_week((week.days[0] - timedelta(days=7)).strftime("%G-W%V"), now)
    snapshots = store.week_snapshots(week.start, week.end)
    incidents = store.week_incidents(week.start, week.end)
    conflicts = store.week_conflicts(week.start, week.end)
    by_contract: dict[str, list[WeekSnapshot]] = defaultdict(list)
    for snap in snapshots:
        by_contract[snap.contract].append(snap)
    incidents_of: dict[str, list[Incident]] = defaultdict(list)
    for incident in incidents:
        incidents_of[incident.contract].append(incident)
    contracts = []
    for name, contract in sorted(config.contracts.items()):
        owner = config.owners.get(contract.owner)
        targets = tuple(
            _target_week(t.system, [s for s in by_contract[name] if s.target == t.system], contract.budget.drift, week)
            for t in contract.targets
        )
        contracts.append(ContractWeek(
            contract=name,
            description=contract.description,
            owner=owner.name if owner is not None else contract.owner,
            source=contract.source.system,
            latency_budget_s=contract.budget.latency.total_seconds(),
            drift_budget=contract.budget.drift,
            targets=targets,
            incidents=_incident_figures(incidents_of[name], week),
            conflicts=_conflict_figures([c for c in conflicts if c.contract == name]),
            at_stake=_at_stake(by_contract[name], contract, week),
            schema_changes=sum(1 for i in incidents_of[name] if i.kind.value == "schema_change"),
            runs=len({s.run_id for s in by_contract[name]}),
            noun=records_noun(contract),
        ))
    headline = _headline(snapshots, incidents, store.week_snapshot_totals(previous.start, previous.end),
                         store.week_incidents(previous.start, previous.end), week, previous, contracts)
    return WeeklyReport(week, now, headline, tuple(contracts), _fix_first(contracts, by_contract, config, week),
                        system_names(config.systems))


# -- per target -------------------------------------------------------------------------------


def _target_week(target: str, snaps: list[WeekSnapshot], drift: float, week: Week) -> TargetWeek:
    snaps.sort(key=lambda s: s.at)
    runs_within = failed = sampled = oob = unreadable = 0
    seconds_out = 0.0
    kinds: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    p50s: list[float] = []
    p95s: list[float] = []
    censored_p95s: set[float] = set()  # p95s that counted records still not in sync
    per_day: dict[date, list[WeekSnapshot]] = defaultdict(list)
    for i, snap in enumerate(snaps):
        per_day[snap.at.astimezone(LONDON).date()].append(snap)
        if snap.failed:
            failed += 1
            failures[snap.error_reason or "error"] += 1
            continue
        sampled += snap.sampled
        oob += snap.out_of_budget
        unreadable += snap.unreadable
        kinds.update({k: int(v) for k, v in snap.by_kind.items() if k != "in_sync"})
        if snap.lag_p50 is not None:
            p50s.append(snap.lag_p50)
        if snap.lag_p95 is not None:
            p95s.append(snap.lag_p95)
            if snap.lag_p95_lower_bound:
                censored_p95s.add(snap.lag_p95)
        if over_budget(snap, drift):
            following = snaps[i + 1].at if i + 1 < len(snaps) else week.end
            seconds_out += (min(following, week.end) - snap.at).total_seconds()
        else:
            runs_within += 1
    days = tuple(_day(day, per_day.get(day, []), drift) for day in week.days)
    p95 = nearest_rank(p95s, 0.95)
    return TargetWeek(
        target=target, runs=len(snaps), runs_within_budget=runs_within, runs_failed=failed,
        seconds_out_of_budget=seconds_out, sampled=sampled, out_of_budget=oob,
        lag_p50=statistics.median(p50s) if p50s else None, lag_p95=p95,
        by_kind=dict(sorted(kinds.items())), unreadable=unreadable, probe_failures=dict(failures), days=days,
        lag_p95_lower_bound=p95 is not None and p95 in censored_p95s,
    )


def over_budget(snap: WeekSnapshot, drift: float) -> bool:
    """A run over budget: it sampled, and its out-of-budget share was over the drift budget."""
    return snap.sampled > 0 and snap.out_of_budget / snap.sampled > drift


def _day(day: date, snaps: list[WeekSnapshot], drift: float) -> DayLag:
    seen = [s for s in snaps if not s.failed]
    p50s = [s.lag_p50 for s in seen if s.lag_p50 is not None]
    p95_runs = [s for s in seen if s.lag_p95 is not None]
    p95 = nearest_rank([s.lag_p95 for s in p95_runs if s.lag_p95 is not None], 0.95)
    lower = any(s.lag_p95_lower_bound and s.lag_p95 == p95 for s in p95_runs)
    return DayLag(day, len(snaps), statistics.median(p50s) if p50s else None, p95, lower,
                  sum(1 for s in seen if over_budget(s, drift)))


# -- incidents, conflicts, what was at stake ----------------------------------------------------


def _incident_figures(incidents: list[Incident], week: Week) -> IncidentFigures:
    acks = [(i.acknowledged_at - i.opened_at).total_seconds() for i in incidents if i.acknowledged_at]
    resolved = [(i.resolved_at - i.opened_at).total_seconds() for i in incidents
                if i.resolved_at is not None and week.start <= i.resolved_at < week.end]
    breach = 0.0
    for incident in incidents:
        begin = max(incident.opened_at, week.start)
        finish = min(incident.resolved_at or week.end, week.end)
        breach += max(0.0, (finish - begin).total_seconds())
    return IncidentFigures(
        count=len(incidents),
        opened=sum(1 for i in incidents if week.start <= i.opened_at < week.end),
        breach_seconds=breach,
        ack_median_s=statistics.median(acks) if acks else None, ack_worst_s=max(acks, default=None),
        resolve_median_s=statistics.median(resolved) if resolved else None,
        resolve_worst_s=max(resolved, default=None),
        unacknowledged=sum(1 for i in incidents if i.acknowledged_at is None),
        still_open=sum(1 for i in incidents if i.resolved_at is None or i.resolved_at >= week.end),
        by_kind=dict(Counter(i.kind.value for i in incidents)),
    )


def _conflict_figures(conflicts: Iterable[WeekConflict]) -> tuple[ConflictFigures, ...]:
    grouped: dict[tuple[str, str], list[WeekConflict]] = defaultdict(list)
    for conflict in conflicts:
        for name in conflict.fields or ["(unknown field)"]:
            grouped[(conflict.target, str(name))].append(conflict)
    figures = [
        ConflictFigures(
            target=target, field=name, records=len({c.key for c in rows}),
            days=len({c.first_seen.astimezone(LONDON).date() for c in rows}),
            first_seen=min(c.first_seen for c in rows), last_seen=max(c.last_seen for c in rows),
        )
        for (target, name), rows in grouped.items()
    ]
    return tuple(sorted(figures, key=lambda f: (-f.records, f.target, f.field)))


def _at_stake(snaps: list[WeekSnapshot], contract: Contract, week: Week) -> tuple[AtStake, ...]:
    fields_of: dict[str, list[str]] = defaultdict(list)
    for name, spec in contract.fields.items():
        if spec.risk:
            fields_of[spec.risk].append(name)
    series: dict[tuple[str, str], list[WeekSnapshot]] = defaultdict(list)
    ordered = sorted(snaps, key=lambda s: s.at)
    next_at: dict[int, datetime] = {}
    last_of_target: dict[str, WeekSnapshot] = {}
    for snap in ordered:
        before = last_of_target.get(snap.target)
        if before is not None:
            next_at[id(before)] = snap.at
        last_of_target[snap.target] = snap
        for risk, count in snap.at_risk.items():
            if int(count) > 0:
                series[(snap.target, risk)].append(snap)
    out = []
    for (target, risk), rows in series.items():
        per_day: dict[date, float] = defaultdict(float)
        total = 0.0
        for snap in rows:
            length = (min(next_at.get(id(snap), week.end), week.end) - snap.at).total_seconds()
            total += length
            per_day[snap.at.astimezone(LONDON).date()] += length
        peak = max(rows, key=lambda s: int(s.at_risk[risk]))
        worst_day, worst_seconds = max(per_day.items(), key=lambda item: (item[1], item[0]))
        out.append(AtStake(target, risk, tuple(fields_of.get(risk, ())), int(peak.at_risk[risk]), peak.sampled,
                           total, worst_day, worst_seconds))
    return tuple(sorted(out, key=lambda a: (-a.seconds, a.target, a.risk)))


# -- the headline --------------------------------------------------------------------------------


def _headline(snapshots: list[WeekSnapshot], incidents: list[Incident], last_totals: tuple[int, int],
              last_incidents: list[Incident], week: Week, previous: Week,
              contracts: list[ContractWeek]) -> Headline:
    seen = [s for s in snapshots if not s.failed]
    sampled = sum(s.sampled for s in seen)
    oob = sum(s.out_of_budget for s in seen)
    last_sampled, last_oob = last_totals
    return Headline(
        within_budget=(sampled - oob) / sampled if sampled else None,
        within_budget_last_week=(last_sampled - last_oob) / last_sampled if last_sampled else None,
        sampled=sampled, out_of_budget=oob,
        incidents=sum(1 for i in incidents if week.start <= i.opened_at < week.end),
        incidents_last_week=sum(1 for i in last_incidents if previous.start <= i.opened_at < previous.end),
        contracts=len(contracts),
        contracts_met=sum(1 for c in contracts if all(
            t.runs_within_budget == t.runs - t.runs_failed for t in c.targets)),
        probe_runs=len({s.run_id for s in snapshots}),
    )


# -- what to fix first ---------------------------------------------------------------------------


def _fix_first(contracts: list[ContractWeek], snaps_of: dict[str, list[WeekSnapshot]], config: Config,
               week: Week) -> tuple[FixFirst, ...]:
    spoken = system_names(config.systems)  # "the WMS" in a sentence, "WMS → Shopify" in a flow
    names = {key: name.removeprefix("the ") for key, name in spoken.items()}
    candidates: list[FixFirst] = []
    for c in contracts:
        spec = config.contracts[c.contract]
        for t in c.targets:
            flow = f"{names.get(c.source, c.source)} → {names.get(t.target, t.target)}"
            if t.attainment is not None and t.attainment < ATTAINMENT_GOAL:
                candidates.append(FixFirst(
                    "worst_attainment", c.contract, t.target,
                    f"{c.contract}: the {flow} sync kept its budget in only {t.attainment:.0%} of runs",
                    f"{t.runs - t.runs_failed - t.runs_within_budget:,} of {t.runs - t.runs_failed:,} runs over the "
                    f"{c.drift_budget:.1%} drift budget, out of budget for {_hours(t.seconds_out_of_budget)} in all",
                    (1 - t.attainment) * 100,
                ))
            seen = t.runs
            if seen and t.runs_failed / seen >= BLIND_SHARE:
                reasons = "; ".join(f"{n:,} × {REASONS.get(reason, reason)}"
                                    for reason, n in sorted(t.probe_failures.items()))
                candidates.append(FixFirst(
                    "blind_spot", c.contract, t.target,
                    f"{c.contract}: syncwatch could not read {flow} in {t.runs_failed / seen:.0%} of runs",
                    f"{t.runs_failed:,} of {seen:,} runs failed ({reasons}); while it cannot see, nobody knows",
                    t.runs_failed / seen * 100,
                ))
            hours = _recurring_hours([s for s in snaps_of.get(c.contract, []) if s.target == t.target],
                                     spec.budget.drift)
            for hour, days in hours:
                candidates.append(FixFirst(
                    "recurring_time_of_day", c.contract, t.target,
                    f"{c.contract}: out of budget around {hour:02d}:00 on {days} days",
                    f"the {flow} sync was over budget in the {hour:02d}:00 hour (London) on {days} days of the "
                    "week: a scheduled job (a batch, an import) is the usual cause",
                    5.0 * days,
                ))
        for conflict in c.conflicts:
            if conflict.days >= CONFLICT_DAYS or conflict.records >= CONFLICT_RECORDS:
                writer, owner = spoken.get(conflict.target, conflict.target), spoken.get(c.source, c.source)
                candidates.append(FixFirst(
                    "repeated_conflicts", c.contract, conflict.target,
                    f"{c.contract}: {writer} writes {field_words([conflict.field])} ({conflict.field}), "
                    f"which {owner} owns",
                    f"{conflict.records} records changed by {writer} on {conflict.days} "
                    f"{'day' if conflict.days == 1 else 'days'} ({conflict.first_seen.astimezone(LONDON):%a %H:%M} "
                    f"to {conflict.last_seen.astimezone(LONDON):%a %H:%M})",
                    10.0 + conflict.records,
                ))
    candidates.sort(key=lambda f: (-f.score, f.contract, f.target or "", f.rule))
    return tuple(candidates[:FIX_FIRST])


def _recurring_hours(snaps: list[WeekSnapshot], drift: float) -> list[tuple[int, int]]:
    """(local hour, days) where at least half the hour's runs were over budget on 3 or more days:
    a job at that time of day, not scattered noise (one bad run in an hour is no pattern)."""
    runs: Counter[tuple[date, int]] = Counter()
    over: Counter[tuple[date, int]] = Counter()
    for snap in snaps:
        if snap.failed:
            continue
        local = snap.at.astimezone(LONDON)
        slot = (local.date(), local.hour)
        runs[slot] += 1
        if over_budget(snap, drift):
            over[slot] += 1
    days_of: dict[int, set[date]] = defaultdict(set)
    for (day, hour), n in over.items():
        if n * 2 >= runs[(day, hour)]:
            days_of[hour].add(day)
    found = [(hour, len(days)) for hour, days in days_of.items() if len(days) >= RECURRING_DAYS]
    return sorted(found, key=lambda hd: (-hd[1], hd[0]))[:1]


def _hours(seconds: float) -> str:
    """As the report shows durations: whole minutes, hours past a day ("49 h 30 min")."""
    minutes = int(seconds // 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h" + (f" {minutes % 60} min" if minutes % 60 else "")
