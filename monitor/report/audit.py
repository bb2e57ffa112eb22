"""The integration audit as plain data: a map of systems, fields and sync flows, what was measured
over the last days, who answers when, and the risk register. Every number is computed once, here
(``build_audit``), except the risks, which ``monitor.report.audit_risks`` finds in these measures
(its names are re-exported here); ``monitor.report.audit_render`` only formats it (HTML, Markdown).

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
* **risks**: the rules, their thresholds and ranking are in ``monitor.report.audit_risks``.

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
from monitor.clock import ensure_utc
from monitor.config.loader import Config
from monitor.config.models import Contract, Owner, WorkingHours
from monitor.report.audit_risks import DETECTION_GOAL, SEVERITIES, Risk, find_risks
from monitor.report.weekly import nearest_rank, over_budget
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

TOP = 5
WEEK_MINUTES = 7 * 24 * 60
_DAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


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
    out_of_hours = _out_of_hours(config)
    risks = find_risks(config, names=names, flows=flows, conflicts_of=conflicts_of, cover=cover, systems=systems,
                       entities=entities, days=days, out_of_hours=out_of_hours)
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
        out_of_hours=out_of_hours, notes=tuple(notes),
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


def audit_cli_summary(audit: AuditReport) -> str:
    """One line for the CLI: ``12 fields in 5 contracts; 3 high, 2 medium, 4 low risks``."""
    s = audit.summary
    return (f"{s.fields} {_plural(s.fields, 'field')} in {s.contracts} {_plural(s.contracts, 'contract')}; "
            f"{s.high} high, {s.medium} medium, {s.low} low {_plural(s.low, 'risk')}")


# -- small words -----------------------------------------------------------------------------------


def _plural(n: int, word: str) -> str:
    return word if n == 1 else word + "s"
