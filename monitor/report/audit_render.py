"""The integration audit (``AuditReport``) as a self-contained HTML page and as GitHub Markdown.
Formatting only: every figure comes from ``monitor.report.audit``.

Both are made from one set of plain-text cells (``_view``), so a row reads the same in both; each
renderer escapes them for its format (jinja2 autoescape; Markdown backslashes). The HTML has its
CSS inline, no script and fetches nothing. Times in Europe/London.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache

from jinja2 import Environment, PackageLoader, select_autoescape

from monitor.alerting.wording import duration_text, plural, share_text
from monitor.config.schedule import LONDON
from monitor.report.audit import SEVERITIES, AuditReport, FieldRow, Risk, SystemSummary, audit_cli_summary
from monitor.report.weekly import ATTAINMENT_GOAL, BLIND_SHARE

__all__ = ["to_html", "to_markdown", "audit_cli_summary", "REGISTER_COLUMNS", "RISK_COLUMNS"]

TITLE = "Integration audit"
REGISTER_COLUMNS = ("Field (system of record)", "Synced to", "Contract", "Budget", "Owner / backup", "Runs",
                    "Kept to budget", "Lag p95", "Conflicts", "Schema changes", "Could not read")
RISK_COLUMNS = ("Severity", "What", "Evidence", "Suggested action", "Owner")
TOP_COLUMNS = ("Severity", "What", "Suggested action", "Owner")
SYSTEM_COLUMNS = ("System", "Kind", "Entities", "Contracts", "Database tables")
ENTITY_COLUMNS = ("System", "Entity", "Source of", "Target of")
FLOW_COLUMNS = ("Flow", "Direction", "What it is for", "Owner")
COVER_COLUMNS = ("Contract", "Owner", "Backup", "Hours a week nobody covers", "When")
NOT_COVERED = "no contract"
NOT_CONFIGURED = "in the database, not configured"

METHOD = (
    "A flow is one contract field from its system of record to one target. Probe runs measure a "
    "contract's targets, so the fields of one contract and target share their runs, budget attainment, "
    "lag and read errors; conflicts name the field.",
    "Kept to budget: the runs that could read both sides and found at most the drift budget's share of "
    "records out of their latency budget, over all runs that could read. Runs that could not read are "
    "counted apart (\"could not read\"): not seeing is not the same as being wrong.",
    "Lag p95: the 95th percentile (nearest rank) of the runs' 95th percentile lag; \"≥\" when that run "
    "counted records still not in sync.",
    "Conflicts: records whose field the target system changed after the system of record did (two "
    "systems writing one field). Schema changes: records that could not be read, and schema-change "
    "incidents.",
    "Risks: a field written by two systems (high); a budget never kept (high) or kept in fewer than "
    f"{ATTAINMENT_GOAL:.0%} of runs (medium); a contract whose owner has no backup (medium) or whose "
    "owner and backup leave hours of the week uncovered (low); a sample too small to find a drift at "
    "the budget's rate with 95% probability per run (medium); a flow that could not be read in 5% of "
    "runs or more (medium); entities and database tables no contract covers (low).",
    "No customer data is read for this report: it shows names of systems, entities and fields, and "
    "counts.",
)


# ----- the public renderers -----


def to_html(audit: AuditReport) -> str:
    """One self-contained HTML document: inline styles, no script, no fetches."""
    return _environment().get_template("audit.html").render(v=_view(audit))


def to_markdown(audit: AuditReport) -> str:
    v = _view(audit)
    out = [f"# {_md(v.heading)}", "", _md(v.subtitle), "", "## Summary", "",
           " · ".join(f"**{n} {s}**" for s, n in v.counts), "", _md(v.scope), ""]
    out += [f"> {_md(note)}" for note in v.notes]
    out += ["", f"### {_md(v.top_heading)}", ""]
    out += _md_table(TOP_COLUMNS, [(r.severity, r.title, r.action, r.owner) for r in v.top]) if v.top \
        else [_md(v.no_risks)]
    out += ["", "## System map", "", "### Systems", ""]
    out += _md_table(SYSTEM_COLUMNS, v.systems)
    out += ["", "### Systems × entities", ""]
    out += _md_table(ENTITY_COLUMNS, v.entities)
    out += ["", "### Flows", ""]
    out += _md_table(FLOW_COLUMNS, v.flows)
    out += ["", "## Field register", "", _md(v.register_note), ""]
    out += _md_table(REGISTER_COLUMNS, v.register)
    out += ["", "## Who answers", ""]
    out += _md_table(COVER_COLUMNS, v.cover)
    if v.out_of_hours:
        out += ["", _md(v.out_of_hours)]
    out += ["", "## Risks", ""]
    out += _md_table(RISK_COLUMNS, [(r.severity, r.title, r.evidence, r.action, r.owner) for r in v.risks]) \
        if v.risks else [_md(v.no_risks)]
    out += ["", "## How the figures are made", "", *(f"- {_md(line)}" for line in METHOD), ""]
    return "\n".join(out)


# ----- one set of cells for both formats -----


@dataclass(frozen=True, slots=True)
class _RiskView:
    severity: str
    title: str
    evidence: str
    action: str
    owner: str


@dataclass(frozen=True, slots=True)
class _View:
    heading: str
    title: str
    subtitle: str
    counts: tuple[tuple[str, int], ...]
    scope: str
    notes: tuple[str, ...]
    top_heading: str
    top: tuple[_RiskView, ...]
    no_risks: str
    systems: tuple[tuple[str, ...], ...]
    entities: tuple[tuple[str, ...], ...]
    uncovered_entities: frozenset[int]  # indexes of entity rows no contract covers
    flows: tuple[tuple[str, ...], ...]
    register_note: str
    register: tuple[tuple[str, ...], ...]
    register_flags: tuple[frozenset[int], ...]  # per register row: indexes of cells to highlight
    cover: tuple[tuple[str, ...], ...]
    out_of_hours: str | None
    risks: tuple[_RiskView, ...]
    method: tuple[str, ...]
    summary_line: str


def _view(a: AuditReport) -> _View:
    s = a.summary
    counts = {"high": s.high, "medium": s.medium, "low": s.low}
    measured = (f"{s.flows_measured} of {s.flows} flows were measured ({s.runs:,} probe "
                f"{'run' if s.runs == 1 else 'runs'})"
                if s.runs else "nothing was measured in the window")
    flags = tuple(_register_flags(f) for f in a.fields)
    return _View(
        heading=TITLE,
        title=f"{TITLE}: {s.high} high, {s.medium} medium, {s.low} low risks",
        subtitle=(f"Systems, fields and sync flows, and the risks found in them. Measured over the last "
                  f"{plural(a.window.days, 'day')}: {_when(a.window.start)} to {_when(a.window.end)} "
                  f"(Europe/London). Prepared {_when(a.generated_at)}."),
        counts=tuple((sev, counts[sev]) for sev in SEVERITIES),
        scope=(f"{plural(s.contracts, 'contract')} sync {plural(s.fields, 'field')} between "
               f"{plural(s.systems, 'system')} ({s.entities} {'entity' if s.entities == 1 else 'entities'} "
               f"configured); {measured}."),
        notes=a.notes,
        top_heading=f"The {len(a.top)} risks to treat first" if len(a.top) != 1 else "The risk to treat first",
        top=tuple(_risk(r) for r in a.top),
        no_risks="No risks found.",
        systems=tuple(_system_row(sys_) for sys_ in a.systems),
        entities=tuple(
            (e.name, e.entity, ", ".join(e.source_of) or ("—" if e.covered else NOT_COVERED if e.configured
                                                          else NOT_CONFIGURED),
             ", ".join(e.target_of) or "—")
            for e in a.entities),
        uncovered_entities=frozenset(i for i, e in enumerate(a.entities) if not e.covered),
        flows=tuple((f"{f.source} → {f.target} ({f.contract})", f"{f.system_of_record} → {f.target_system}",
                     f.description or "—", f.owner) for f in a.fields),
        register_note=(f"Every contract field, from its system of record to each target, with what was measured "
                       f"in the last {plural(a.window.days, 'day')}. Kept to budget: runs within the drift budget "
                       "over runs that could read."),
        register=tuple(_register_row(f) for f in a.fields),
        register_flags=flags,
        cover=tuple(
            (c.contract, f"{c.owner}, {c.owner_hours}", f"{c.backup}, {c.backup_hours}" if c.backup else "none",
             f"{c.uncovered_hours:g} of 168", c.uncovered or "—")
            for c in a.cover),
        out_of_hours=f"Out of hours, alerts go to {a.out_of_hours}." if a.out_of_hours else None,
        risks=tuple(_risk(r) for r in a.risks),
        method=METHOD,
        summary_line=audit_cli_summary(a),
    )


def _risk(r: Risk) -> _RiskView:
    return _RiskView(r.severity, r.title, r.evidence, r.action, r.owner)


def _system_row(s: SystemSummary) -> tuple[str, ...]:
    if s.kind != "sql":
        tables = "— (not a database)"
    elif s.tables is None:
        tables = f"could not be listed: {s.listing_error}"
    elif s.unmonitored_tables:
        tables = (f"{len(s.tables)}; not configured: {', '.join(s.unmonitored_tables[:20])}"
                  + (f" and {len(s.unmonitored_tables) - 20} more" if len(s.unmonitored_tables) > 20 else ""))
    else:
        tables = f"{len(s.tables)}, all configured"
    return (s.name, s.kind, ", ".join(s.entities) or "—", ", ".join(s.contracts) or "none", tables)


def _register_row(f: FieldRow) -> tuple[str, ...]:
    field = f"{f.source} ({f.system_of_record})"
    if f.field_risk:
        field += f"; at stake: {f.field_risk}{', critical' if f.critical else ''}"
    budget = f"{share_text(f.drift_budget)} of records within {duration_text(timedelta(seconds=f.latency_budget_s))}"
    people = f"{f.owner} / {f.backup or 'no backup'}"
    if f.runs == 0:
        attained = "not measured"
    elif f.attainment is None:
        attained = "could not read"
    else:
        attained = f"{share_text(f.attainment)} ({f.runs_within_budget:,} of {f.runs - f.runs_failed:,})"
    lag = "—" if f.lag_p95_s is None else \
        ("≥ " if f.lag_p95_lower_bound else "") + duration_text(timedelta(seconds=f.lag_p95_s))
    conflicts = plural(f.conflicts, "record") if f.conflicts else "none"
    schema = []
    if f.schema_incidents:
        schema.append(plural(f.schema_incidents, "incident"))
    if f.unreadable:
        schema.append(f"{f.unreadable:,} {'record' if f.unreadable == 1 else 'records'} unreadable over "
                      f"{plural(f.unreadable_runs, 'run')}")
    errors = ("—" if f.probe_error_rate is None
              else f"{share_text(f.probe_error_rate)} ({f.runs_failed:,} of {f.runs:,})")
    return (field, f.target, f.contract, budget, people, f"{f.runs:,}", attained, lag, conflicts,
            ", ".join(schema) or "none", errors)


def _register_flags(f: FieldRow) -> frozenset[int]:
    """Cells that show a problem: attainment under the goal, conflicts, schema changes, read errors at or
    over the blind-spot share."""
    flags = set()
    if f.attainment is not None and f.attainment < ATTAINMENT_GOAL:
        flags.add(6)
    if f.conflicts:
        flags.add(8)
    if f.unreadable or f.schema_incidents:
        flags.add(9)
    if f.probe_error_rate is not None and f.probe_error_rate >= BLIND_SHARE:
        flags.add(10)
    return frozenset(flags)


def _when(at: datetime) -> str:
    local = at.astimezone(LONDON)
    return f"{local:%a} {local.day} {local:%b %Y %H:%M}"


# ----- Markdown -----


_MD_SPECIAL = frozenset("\\`*_[]<>|~#&")


def _md(text: str) -> str:
    """Data as literal GitHub Markdown text: punctuation that could format, link, open HTML or break
    a table is backslash-escaped; a newline becomes a space (a table row is one line)."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in " ".join(str(text).split()))


def _md_table(columns: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(_md(c) for c in columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(_md(cell) for cell in row) + " |")
    return lines


# ----- HTML -----


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("monitor.report", "templates"),
        autoescape=select_autoescape(["html"]),
        trim_blocks=True,
        lstrip_blocks=True,
    )
