"""The integration audit as plain data: a map of systems, fields and sync flows, what was measured
over the last days, and the risk register. Every number is computed once, here
(``build_audit``); ``monitor.report.audit_render`` only formats it (HTML, Markdown).

The rules, so that anyone can recompute a figure:

* **a flow** is one contract field from its system of record to one target; the measures of a
  flow are those of its contract × target (probe runs measure a contract's targets, not fields),
  except conflicts, which name the fields that differed.
* **attainment**: runs that could read both sides and whose out-of-budget share was at most the
  drift budget, over the runs that could read (as in the weekly report, ``monitor.report.weekly``).
  **probe error rate**: runs that could not read over all runs. **lag p95**: the 95th percentile
  (nearest rank) of the runs' p95s. **schema changes**: records that could not be read and
  schema-change incidents. **conflicts**: records whose field the target changed although the
  source owns it (conflict divergences), counted once per key.
* **risks** (severity in brackets), ranked by severity, then by weight:

  - a field written by more than one system: conflicts observed on it (high);
  - a budget never met in the window: attainment 0 with runs that could read (high); met in fewer
    than 99% of runs (medium);
  - a contract whose owner has no backup (medium), or whose owner and backup together leave hours
    of the week (Europe/London) without anyone in working hours (low);
  - a sample too small for its budget: a drift at the budget's rate is found with less than 95%
    probability per run (medium);
  - a flow the monitor often cannot read: 5% of runs or more failed (medium);
  - data in the systems that no contract covers: an entity configured under a system that no
    contract uses, a table in a ``kind: sql`` database that no entity reads (low); a database whose
    tables could not be listed (low).

Nothing here reads or shows a record's key or value: personal keys never reach the report.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, inspect

from monitor.alerting.planner import system_names
from monitor.alerting.wording import day_time_text, duration_text, share_text
from monitor.clock import ensure_utc
from monitor.config.loader import Config, detection_probability, required_sample_size
from monitor.config.models import Contract, Owner, WorkingHours
from monitor.config.schedule import LONDON
from monitor.report.weekly import ATTAINMENT_GOAL, BLIND_SHARE, nearest_rank, over_budget
from monitor.results import BreachKind, Incident
from monitor.store import Store
from monitor.store.week import WeekConflict, WeekSnapshot
from probes.sql import resolve_url as resolve_sql_url

__all__ = [
    "SEVERITIES",
    "DETECTION_GOAL",
    "AuditWindow",
    "SystemSummary",
    "SystemEntity",
    "FieldRow",
    "Cover",
    "Risk",
    "AuditSummary",
    "AuditReport",
    "build_audit",
    "audit_cli_summary",
    "list_tables",
    "uncovered_week",
]

SEVERITIES = ("high", "medium", "low")
DETECTION_GOAL = 0.95  # a sample should find a drift at the budget's rate with this probability per run
TOP = 5
WEEK_MINUTES = 7 * 24 * 60
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_LISTED_TABLES = 20  # table names named in a risk's evidence; the rest are counted


# -- the report's data ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuditWindow:
    """The measured stretch, [start, end) as aware UTC; the renderers show Europe/London."""

    start: datetime
    end: datetime
    days: int


@dataclass(frozen=True, slots=True)
class SystemSummary:
    """One configured system. ``tables``: for ``kind: sql``, the tables in its database (None when
    they could not be listed, with ``listing_error`` saying why; None too for other kinds)."""

    system: str  # key in syncwatch.yaml
    name: str  # display name: "Shopify", "WMS"
    kind: str
    entities: tuple[str, ...]
    contracts: tuple[str, ...]  # contracts with this system as source or target
    tables: tuple[str, ...] | None
    unmonitored_tables: tuple[str, ...]
    listing_error: str | None


@dataclass(frozen=True, slots=True)
class SystemEntity:
    """A row of the system map: an entity of a system and the contracts that read it.
    ``configured`` False: a table found in the database that no entity reads."""

    system: str
    name: str
    entity: str
    source_of: tuple[str, ...]
    target_of: tuple[str, ...]
    configured: bool = True

    @property
    def covered(self) -> bool:
        return bool(self.source_of or self.target_of)


@dataclass(frozen=True, slots=True)
class FieldRow:
    """One flow of the field register: a contract field from its system of record to one target,
    its budgets and people, and what was measured in the window."""

    contract: str
    description: str | None
    field: str  # the contract's field name
    field_risk: str | None  # what the field puts at stake (``risk:``: oversell, wismo, ...)
    critical: bool
    system_of_record: str  # display name
    target_system: str  # display name
    source: str  # "WMS.stock.available"
    target: str  # "Shopify.inventory.available"
    latency_budget_s: float
    drift_budget: float
    owner: str  # names, from the owners file
    backup: str | None
    technical_owner: str
    runs: int
    runs_failed: int  # could not read
    runs_within_budget: int
    attainment: float | None  # None: no run could read
    lag_p95_s: float | None
    lag_p95_lower_bound: bool
    conflicts: int  # records of this field changed in the target although the source owns it
    unreadable: int  # records that could not be read (schema change), summed over runs
    unreadable_runs: int  # runs with any
    schema_incidents: int
    probe_error_rate: float | None  # None: no runs

    @property
    def measured(self) -> bool:
        return self.runs > 0


@dataclass(frozen=True, slots=True)
class Cover:
    """Who answers for a contract and when: owner and backup working hours (Europe/London), and
    the hours of the week covered by neither."""

    contract: str
    owner: str
    owner_hours: str  # "mon-fri 08:00–18:00"
    backup: str | None
    backup_hours: str | None
    uncovered_hours: float
    uncovered: str  # "Mon–Fri before 08:00 and after 18:00; Sat–Sun all day"


@dataclass(frozen=True, slots=True)
class Risk:
    """One entry of the register. ``rule``: multiple_writers, budget_never_met, budget_missed, no_backup,
    hours_uncovered, sample_too_small, blind_spot, entity_uncovered, tables_uncovered, tables_unlisted."""

    rule: str
    severity: str  # high, medium, low
    title: str  # what, in business words
    evidence: str
    action: str
    owner: str  # who should act (a name), or "unassigned"
    contracts: tuple[str, ...]
    score: float  # rank within a severity (higher first)


@dataclass(frozen=True, slots=True)
class AuditSummary:
    systems: int
    entities: int
    contracts: int
    fields: int  # contract fields
    flows: int  # field × target rows of the register
    flows_measured: int  # flows whose contract × target had runs in the window
    runs: int  # probe runs in the window
    high: int
    medium: int
    low: int

    @property
    def risks(self) -> int:
        return self.high + self.medium + self.low


@dataclass(frozen=True, slots=True)
class AuditReport:
    generated_at: datetime
    window: AuditWindow
    summary: AuditSummary
    systems: tuple[SystemSummary, ...]
    entities: tuple[SystemEntity, ...]
    fields: tuple[FieldRow, ...]
    cover: tuple[Cover, ...]
    risks: tuple[Risk, ...]  # high first, then by score
    top: tuple[Risk, ...]  # the first five
    out_of_hours: str | None = None  # alerting.out_of_hours, described, when configured
    notes: tuple[str, ...] = ()


# -- building it ---------------------------------------------------------------------------------


@dataclass
class _Flow:
    """Measures of one contract × target over the window."""

    runs: int = 0
    failed: int = 0
    within: int = 0
    unreadable: int = 0
    unreadable_runs: int = 0
    p95s: list[float] = field(default_factory=list)
    p95_lower: list[tuple[float, bool]] = field(default_factory=list)
    reasons: Counter[str] = field(default_factory=Counter)
    schema_incidents: int = 0

    @property
    def seen(self) -> int:
        return self.runs - self.failed

    @property
    def attainment(self) -> float | None:
        return self.within / self.seen if self.seen else None


def build_audit(store: Store, config: Config, now: datetime, days: int = 7) -> AuditReport:
    """The audit of ``config`` with what ``store`` measured in the ``days`` days before ``now``."""
    if days < 1:
        raise ValueError(f"days must be at least 1, not {days}")
    end = ensure_utc(now)
    window = AuditWindow(end - timedelta(days=days), end, days)
    snapshots = store.week_snapshots(window.start, window.end)
    incidents = store.week_incidents(window.start, window.end)
    conflicts = store.week_conflicts(window.start, window.end)

    names = system_names(config.systems)  # "Shopify", "the WMS": in sentences
    short = {k: v.removeprefix("the ") for k, v in names.items()}  # "WMS": in paths
    flows = _flows(config, snapshots, incidents)
    conflicts_of = _conflicts_by_field(config, conflicts)

    fields: list[FieldRow] = []
    for name, contract in sorted(config.contracts.items()):
        owner, backup = _people(config.owners, contract.owner)
        technical, _ = _people(config.owners, contract.effective_technical_owner)
        src = contract.source
        for field_name, spec in contract.fields.items():
            for target in contract.targets:
                flow = flows.get((name, target.system), _Flow())
                p95 = nearest_rank(flow.p95s, 0.95)
                found = conflicts_of.get((name, target.system, field_name), [])
                fields.append(FieldRow(
                    contract=name,
                    description=contract.description,
                    field=field_name,
                    field_risk=spec.risk,
                    critical=bool(spec.critical),
                    system_of_record=short.get(src.system, src.system),
                    target_system=short.get(target.system, target.system),
                    source=f"{short.get(src.system, src.system)}.{src.entity}.{src.fields.get(field_name, field_name)}",
                    target=f"{short.get(target.system, target.system)}.{target.entity}."
                           f"{target.fields.get(field_name, field_name)}",
                    latency_budget_s=contract.budget.latency.total_seconds(),
                    drift_budget=contract.budget.drift,
                    owner=owner.name if owner else contract.owner,
                    backup=backup.name if backup else None,
                    technical_owner=technical.name if technical else contract.effective_technical_owner,
                    runs=flow.runs,
                    runs_failed=flow.failed,
                    runs_within_budget=flow.within,
                    attainment=flow.attainment,
                    lag_p95_s=p95,
                    lag_p95_lower_bound=p95 is not None and any(v == p95 and low for v, low in flow.p95_lower),
                    conflicts=len({c.key for c in found}),
                    unreadable=flow.unreadable,
                    unreadable_runs=flow.unreadable_runs,
                    schema_incidents=flow.schema_incidents,
                    probe_error_rate=flow.failed / flow.runs if flow.runs else None,
                ))

    systems, entities = _system_map(config, names, short)
    cover = tuple(_cover(config, name, contract) for name, contract in sorted(config.contracts.items()))
    risks: list[Risk] = []
    risks += _conflict_risks(config, names, conflicts_of)
    risks += _budget_risks(config, names, flows, days)
    risks += _blind_spots(config, names, flows)
    risks += _sample_risks(config)
    risks += _cover_risks(config, cover)
    risks += _coverage_gaps(config, names, systems, entities)
    rank = {s: i for i, s in enumerate(SEVERITIES)}
    risks.sort(key=lambda r: (rank[r.severity], -r.score, r.title))
    counts = Counter(r.severity for r in risks)
    summary = AuditSummary(
        systems=len(systems),
        entities=sum(1 for e in entities if e.configured),
        contracts=len(config.contracts),
        fields=sum(len(c.fields) for c in config.contracts.values()),
        flows=len(fields),
        flows_measured=sum(1 for f in fields if f.measured),
        runs=len({s.run_id for s in snapshots if s.contract in config.contracts}),
        high=counts["high"], medium=counts["medium"], low=counts["low"],
    )
    notes = []
    if not snapshots:
        notes.append(f"syncwatch measured nothing in these {days} days: the register shows the contracts as "
                     "written. Let syncwatch run for a few days, then audit again for the measured reality.")
    return AuditReport(
        generated_at=end, window=window, summary=summary, systems=systems, entities=entities,
        fields=tuple(fields), cover=cover, risks=tuple(risks), top=tuple(risks[:TOP]),
        out_of_hours=_out_of_hours(config), notes=tuple(notes),
    )


def _people(owners: Mapping[str, Any], key: str) -> tuple[Owner | None, Owner | None]:
    owner = owners.get(key)
    if owner is None:
        return None, None
    backup = owners.get(owner.backup) if owner.backup else None
    return owner, backup


def _flows(config: Config, snapshots: Sequence[WeekSnapshot],
           incidents: Iterable[Incident]) -> dict[tuple[str, str], _Flow]:
    flows: dict[tuple[str, str], _Flow] = defaultdict(_Flow)
    for snap in snapshots:
        contract = config.contracts.get(snap.contract)
        if contract is None:
            continue
        flow = flows[(snap.contract, snap.target)]
        flow.runs += 1
        if snap.failed:
            flow.failed += 1
            flow.reasons[snap.error_reason or "error"] += 1
            continue
        flow.unreadable += snap.unreadable
        flow.unreadable_runs += 1 if snap.unreadable else 0
        if not over_budget(snap, contract.budget.drift):
            flow.within += 1
        if snap.lag_p95 is not None:
            flow.p95s.append(snap.lag_p95)
            flow.p95_lower.append((snap.lag_p95, snap.lag_p95_lower_bound))
    for incident in incidents:
        if incident.kind is BreachKind.SCHEMA_CHANGE and incident.contract in config.contracts:
            flows[(incident.contract, incident.target)].schema_incidents += 1
    return dict(flows)


def _conflicts_by_field(config: Config,
                        conflicts: Iterable[WeekConflict]) -> dict[tuple[str, str, str], list[WeekConflict]]:
    out: dict[tuple[str, str, str], list[WeekConflict]] = defaultdict(list)
    for conflict in conflicts:
        contract = config.contracts.get(conflict.contract)
        if contract is None or all(t.system != conflict.target for t in contract.targets):
            continue  # a contract or target since removed from the configuration
        for name in conflict.fields or ["(unknown field)"]:
            out[(conflict.contract, conflict.target, str(name))].append(conflict)
    return dict(out)


# -- the system map ------------------------------------------------------------------------------


def list_tables(url: str, base_dir: Path) -> tuple[tuple[str, ...] | None, str | None]:
    """The tables of a SQL database, or None and why not. A relative SQLite path is relative to
    ``base_dir`` (as the connector reads it); a SQLite file that does not exist is not created."""
    try:
        resolved = resolve_sql_url(url, base_dir)
        if resolved.get_backend_name() == "sqlite" and resolved.database and resolved.database != ":memory:":
            if not Path(resolved.database).is_file():
                return None, f"no database file at {resolved.database}"
        engine = create_engine(resolved)
        try:
            names = inspect(engine).get_table_names()
        finally:
            engine.dispose()
    except Exception as exc:  # any driver or URL error: say so, the rest of the audit stands
        orig = getattr(exc, "orig", None) or exc
        lines = str(orig).splitlines()
        return None, f"{type(orig).__name__}: {lines[0][:200] if lines else 'no message'}"
    return tuple(sorted(n for n in names if not n.lower().startswith("sqlite_"))), None


def _system_map(config: Config, names: Mapping[str, str],
                short: Mapping[str, str]) -> tuple[tuple[SystemSummary, ...], tuple[SystemEntity, ...]]:
    source_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    target_of: dict[tuple[str, str], list[str]] = defaultdict(list)
    for name, contract in sorted(config.contracts.items()):
        source_of[(contract.source.system, contract.source.entity)].append(name)
        for target in contract.targets:
            target_of[(target.system, target.entity)].append(name)
    systems: list[SystemSummary] = []
    entities: list[SystemEntity] = []
    for key, system in sorted(config.systems.items()):
        configured: Mapping[str, Any] = getattr(system, "entities", {})
        for entity in configured:
            entities.append(SystemEntity(key, short[key], entity, tuple(source_of.get((key, entity), ())),
                                         tuple(target_of.get((key, entity), ()))))
        tables: tuple[str, ...] | None = None
        unmonitored: tuple[str, ...] = ()
        error: str | None = None
        if system.kind == "sql":
            tables, error = list_tables(str(getattr(system, "url")), config.base_dir)
            if tables is not None:
                unmonitored = tuple(t for t in tables if not _reads_table(configured.values(), t))
                entities += [SystemEntity(key, short[key], t, (), (), configured=False) for t in unmonitored]
        users = sorted({c for (s, _), cs in [*source_of.items(), *target_of.items()] if s == key for c in cs})
        systems.append(SystemSummary(key, short[key], system.kind, tuple(configured), tuple(users), tables,
                                     unmonitored, error))
    return tuple(systems), tuple(entities)


def _reads_table(entities: Iterable[Any], table: str) -> bool:
    """Whether an entity reads ``table``: as its ``table``, or named as a word in its ``query``."""
    for entity in entities:
        if (getattr(entity, "table", None) or "").lower() == table.lower():
            return True
        query = getattr(entity, "query", None)
        if query and table.lower() in {word.lower() for word in re.findall(r"[A-Za-z_][\w$]*", query)}:
            return True
    return False


# -- who answers, when ---------------------------------------------------------------------------


def _hours_text(hours: WorkingHours) -> str:
    return f"{hours.days} {hours.start:%H:%M}–{hours.end:%H:%M}"


def uncovered_week(hours: Sequence[WorkingHours]) -> tuple[float, str]:
    """The hours of a week (Europe/London, 168) in none of ``hours``, and which they are:
    ``(110.5, "Mon–Fri before 08:00 and after 18:00; Sat–Sun all day")``."""
    covered = bytearray(WEEK_MINUTES)
    for h in hours:
        # An end of 23:59 means the end of the day (working hours cannot say 24:00).
        first, last = _minute(h.start), 1440 if h.end >= time(23, 59) else _minute(h.end)
        for day in h.day_numbers:
            covered[day * 1440 + first: day * 1440 + last] = b"\x01" * (last - first)
    gaps: list[tuple[tuple[int, int], ...]] = []
    for day in range(7):
        spans, start = [], None
        for m in range(1440):
            if not covered[day * 1440 + m] and start is None:
                start = m
            elif covered[day * 1440 + m] and start is not None:
                spans.append((start, m))
                start = None
        if start is not None:
            spans.append((start, 1440))
        gaps.append(tuple(spans))
    parts: list[str] = []
    day = 0
    while day < 7:
        last = day
        while last + 1 < 7 and gaps[last + 1] == gaps[day]:
            last += 1
        if gaps[day]:
            days = _DAY_NAMES[day] if last == day else f"{_DAY_NAMES[day]}–{_DAY_NAMES[last]}"
            parts.append(f"{days} {' and '.join(_span(a, b) for a, b in gaps[day])}")
        day = last + 1
    return (WEEK_MINUTES - sum(covered)) / 60, "; ".join(parts)


def _minute(t: time) -> int:
    return t.hour * 60 + t.minute


def _span(a: int, b: int) -> str:
    if a == 0 and b == 1440:
        return "all day"
    if a == 0:
        return f"before {b // 60:02d}:{b % 60:02d}"
    if b == 1440:
        return f"after {a // 60:02d}:{a % 60:02d}"
    return f"{a // 60:02d}:{a % 60:02d}–{b // 60:02d}:{b % 60:02d}"


def _cover(config: Config, name: str, contract: Contract) -> Cover:
    owner, backup = _people(config.owners, contract.owner)
    hours = [p.working_hours for p in (owner, backup) if p is not None]
    uncovered, which = uncovered_week(hours) if hours else (WEEK_MINUTES / 60, "all week")
    return Cover(
        contract=name,
        owner=owner.name if owner else contract.owner,
        owner_hours=_hours_text(owner.working_hours) if owner else "unknown",
        backup=backup.name if backup else None,
        backup_hours=_hours_text(backup.working_hours) if backup else None,
        uncovered_hours=uncovered,
        uncovered=which,
    )


def _out_of_hours(config: Config) -> str | None:
    ooh = config.settings.alerting.out_of_hours
    if ooh is None:
        return None
    where = ooh.channel or "the contract's channel"
    return f"{where}, mentioning {ooh.mention}" if ooh.mention else f"{where}, mentioning nobody"


# -- the risks -----------------------------------------------------------------------------------


def _owner_name(config: Config, key: str) -> str:
    owner = config.owners.get(key)
    return str(owner.name) if owner is not None else key


def _flow_text(names: Mapping[str, str], contract: Contract, target: str) -> str:
    """``WMS → Shopify``: short names, without "the"."""
    src = contract.source.system
    return f"{names.get(src, src).removeprefix('the ')} → {names.get(target, target).removeprefix('the ')}"


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _conflict_risks(config: Config, names: Mapping[str, str],
                    conflicts_of: Mapping[tuple[str, str, str], list[WeekConflict]]) -> list[Risk]:
    risks = []
    for (name, target, field_name), rows in sorted(conflicts_of.items()):
        contract = config.contracts[name]
        src = contract.source
        spec = next(t for t in contract.targets if t.system == target)  # kept by _conflicts_by_field
        target_field, entity = spec.fields.get(field_name, field_name), spec.entity
        owner_sys, writer = names.get(src.system, src.system), names.get(target, target)
        records = len({c.key for c in rows})
        first, last = min(c.first_seen for c in rows), max(c.last_seen for c in rows)
        days = len({c.first_seen.astimezone(LONDON).date() for c in rows})
        risks.append(Risk(
            rule="multiple_writers", severity="high",
            title=f"Two systems write {entity}.{target_field}: {writer} changes it although {owner_sys} owns it",
            evidence=(f"{records:,} {_plural(records, 'record')} of "
                      f"{writer.removeprefix('the ')}.{entity}.{target_field} changed in {writer} after "
                      f"{owner_sys}'s last change, on {days} {_plural(days, 'day')} "
                      f"({day_time_text(first)} to {day_time_text(last)} London); contract {name}"),
            action=(f"Agree that {owner_sys} is the one system of record for {field_name}: find what in {writer} "
                    f"writes it (an app, an import, a script, manual edits) and stop it; if {writer} should own "
                    "it, change the contract."),
            owner=_owner_name(config, contract.owner), contracts=(name,), score=10.0 + records,
        ))
    return risks


def _budget_risks(config: Config, names: Mapping[str, str], flows: Mapping[tuple[str, str], _Flow],
                  days: int) -> list[Risk]:
    risks = []
    for name, contract in sorted(config.contracts.items()):
        budget = contract.budget
        for target in contract.targets:
            flow = flows.get((name, target.system))
            if flow is None or flow.attainment is None or flow.attainment >= ATTAINMENT_GOAL:
                continue
            text = _flow_text(names, contract, target.system)
            failed = f"; {flow.failed:,} more could not read" if flow.failed else ""
            evidence = (f"{flow.within:,} of {flow.seen:,} runs within budget (at most {share_text(budget.drift)} of "
                        f"records more than {duration_text(budget.latency)} behind){failed}; "
                        f"contract {name}")
            owner = _owner_name(config, contract.owner)
            if flow.within == 0:
                risks.append(Risk(
                    "budget_never_met", "high",
                    f"The {text} sync never kept to its agreed budget in the last {days} {_plural(days, 'day')}",
                    evidence,
                    f"Find why {names.get(target.system, target.system)} falls behind (the integration's queue, "
                    "schedule or errors); if the budget is unrealistic, agree a new one with "
                    f"{owner} and write it in the contract.",
                    owner, (name,), 100.0,
                ))
            else:
                risks.append(Risk(
                    "budget_missed", "medium",
                    f"The {text} sync kept to its agreed budget in only {flow.attainment:.0%} of runs",
                    evidence,
                    f"Look at when it falls behind (the weekly report's days and hours) and fix the cause with "
                    f"the integration's maintainer; the goal is {ATTAINMENT_GOAL:.0%} of runs.",
                    owner, (name,), (1 - flow.attainment) * 100,
                ))
    return risks


def _blind_spots(config: Config, names: Mapping[str, str], flows: Mapping[tuple[str, str], _Flow]) -> list[Risk]:
    risks = []
    for name, contract in sorted(config.contracts.items()):
        for target in contract.targets:
            flow = flows.get((name, target.system))
            if flow is None or not flow.runs or flow.failed / flow.runs < BLIND_SHARE:
                continue
            share = flow.failed / flow.runs
            reasons = ", ".join(f"{reason} × {n}" for reason, n in sorted(flow.reasons.items()))
            src = names.get(contract.source.system, contract.source.system)
            tgt = names.get(target.system, target.system)
            risks.append(Risk(
                "blind_spot", "medium",
                f"The monitor could not read {src} or {tgt} in {share:.0%} of {name} runs",
                f"{flow.failed:,} of {flow.runs:,} runs could not read ({reasons}); while it cannot read, nobody "
                f"knows whether the {_flow_text(names, contract, target.system)} sync works",
                "Check the connector's credentials, rate limits and timeouts, and the systems' availability "
                "(planned maintenance belongs in alerting.maintenance).",
                _owner_name(config, contract.effective_technical_owner), (name,), share * 100,
            ))
    return risks


def _sample_risks(config: Config) -> list[Risk]:
    risks = []
    for name, contract in sorted(config.contracts.items()):
        rate, size = contract.budget.drift, contract.sampling.size
        if not 0 < rate < 1:
            continue
        chance = detection_probability(size, rate)
        if chance >= DETECTION_GOAL:
            continue
        need = required_sample_size(rate, DETECTION_GOAL)
        risks.append(Risk(
            "sample_too_small", "medium",
            f"{name} checks too few records to notice its own budget being broken",
            f"a sample of {size} records finds a {share_text(rate)} drift with only {chance:.0%} probability per run; "
            f"{need} records would reach {DETECTION_GOAL:.0%}",
            f"Raise sampling.size to {need} (within the systems' API share), or agree a looser drift budget.",
            _owner_name(config, contract.effective_technical_owner), (name,), (1 - chance) * 100,
        ))
    return risks


def _cover_risks(config: Config, cover: Sequence[Cover]) -> list[Risk]:
    groups: dict[tuple[str, str | None], list[Cover]] = defaultdict(list)
    for c in cover:
        contract = config.contracts[c.contract]
        owner = config.owners.get(contract.owner)
        groups[(contract.owner, owner.backup if owner is not None else None)].append(c)
    channel = config.settings.alerting.escalation_channel
    escalation = f"straight to {channel}" if channel else "nowhere (no escalation channel is set)"
    ooh = _out_of_hours(config)
    routed = f"; out of hours, alerts go to {ooh}" if ooh else ""
    risks = []
    for (_, backup_key), rows in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        first = rows[0]
        contracts = tuple(r.contract for r in rows)
        listed = ", ".join(contracts)
        if backup_key is None:
            risks.append(Risk(
                "no_backup", "medium",
                f"Nobody stands in for {first.owner} on {listed}",
                f"{first.owner} has no backup in the owners file: unacknowledged alerts escalate "
                f"{escalation}; they are out of working hours {first.uncovered_hours:g} of 168 hours a week "
                f"({first.uncovered}, London){routed}",
                "Name a backup for them in the owners file (owners.<key>.backup), ideally someone whose working "
                "hours cover theirs.",
                first.owner, contracts, 50.0 + first.uncovered_hours / 10,
            ))
        elif first.uncovered_hours > 0:
            risks.append(Risk(
                "hours_uncovered", "low",
                f"{first.uncovered_hours:g} hours a week nobody answers for {listed}",
                f"{first.owner}, {first.owner_hours}, and backup {first.backup}, {first.backup_hours}, leave "
                f"{first.uncovered_hours:g} of 168 hours uncovered: {first.uncovered} (London){routed}",
                "Decide whether a breach may wait for the morning; if not, set alerting.out_of_hours to an on-call "
                "mention, or name a backup whose hours fill the gap.",
                first.owner, contracts, first.uncovered_hours / 10,
            ))
    return risks


def _coverage_gaps(config: Config, names: Mapping[str, str], systems: Sequence[SystemSummary],
                   entities: Sequence[SystemEntity]) -> list[Risk]:
    risks = []
    technical: dict[str, set[str]] = defaultdict(set)
    for contract in config.contracts.values():
        for system in (contract.source.system, *(t.system for t in contract.targets)):
            technical[system].add(_owner_name(config, contract.effective_technical_owner))

    def who(system: str) -> str:
        return ", ".join(sorted(technical.get(system, ()))) or "unassigned"

    for e in entities:
        if e.configured and not e.covered:
            risks.append(Risk(
                "entity_uncovered", "low",
                _cap(f"{names.get(e.system, e.system)}'s {e.entity} are connected but no contract watches them"),
                f"entity {e.entity} of system {e.system} is configured in syncwatch.yaml and used by no contract",
                "Write a contract for what syncs to or from it (which system owns which field, the budget), or "
                "remove it from the configuration.",
                who(e.system), (), 1.0,
            ))
    for s in systems:
        if s.unmonitored_tables:
            n = len(s.unmonitored_tables)
            shown = ", ".join(s.unmonitored_tables[:_LISTED_TABLES])
            more = f" and {n - _LISTED_TABLES} more" if n > _LISTED_TABLES else ""
            risks.append(Risk(
                "tables_uncovered", "low",
                _cap(f"{names.get(s.system, s.system)}'s database has {n} {_plural(n, 'table')} no contract covers"),
                f"in {names.get(s.system, s.system)}'s database ({s.system}) but read by no entity: {shown}{more}",
                "Check whether they hold data that syncs (stock, prices, orders, customers); if so, add them as "
                "entities and write a contract.",
                who(s.system), (), 0.5 + n / 100,
            ))
        if s.listing_error is not None:
            risks.append(Risk(
                "tables_unlisted", "low",
                f"Could not check {names.get(s.system, s.system)}'s database for data no contract covers",
                f"its tables could not be listed: {s.listing_error}",
                "Let the monitor's database user read the catalogue (table names only), or check the URL; "
                "then audit again.",
                who(s.system), (), 0.5,
            ))
    return risks


def audit_cli_summary(audit: AuditReport) -> str:
    """One line for the CLI: ``12 fields in 5 contracts; 3 high, 2 medium, 4 low risks``."""
    s = audit.summary
    return (f"{s.fields} {_plural(s.fields, 'field')} in {s.contracts} {_plural(s.contracts, 'contract')}; "
            f"{s.high} high, {s.medium} medium, {s.low} low {_plural(s.low, 'risk')}")


# -- small words -----------------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"
