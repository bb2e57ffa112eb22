"""The weekly health summary (``WeeklyReport``) as an email-ready HTML page, GitHub Markdown and a
short Slack summary. Formatting only: every figure comes from ``monitor.report.weekly``.

All three are made from one set of sentences (``_view``), in plain text; each renderer escapes
them for its format (jinja2 autoescape, Markdown backslashes, Slack's ``esc``), so a figure reads
the same everywhere. Business words first, numbers second; times in Europe/London.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape

from monitor.alerting.notices import Message
from monitor.alerting.wording import (
    DAYS,
    MONTHS,
    REASONS,
    TITLES,
    day_time_text,
    duration_text,
    esc,
    field_words,
    risk_phrase,
    share_text,
)
from monitor.report.model import AtStake, ContractWeek, DayLag, IncidentFigures, TargetWeek, WeeklyReport

__all__ = ["to_html", "to_markdown", "to_slack"]

_KIND_WORDS = {kind.value: title.lower() for kind, title in TITLES.items()}
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
NO_DATA = "no data"  # no runs, or none that could see
NO_LAG = "no lag measured"  # runs that could see, but no record with a lag to measure
# Slack: our own caps per item, well inside a section's 3,000 characters.
_TITLE_CAP, _EVIDENCE_CAP = 250, 400
# The day chart (SVG user units; it scales to the page's width).
_W, _H, _LEFT, _RIGHT, _TOP, _BASE = 480, 176, 66, 472, 14, 140
_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800,
          345600, 604800)


# ----- the public renderers -----


def to_html(report: WeeklyReport) -> str:
    """One self-contained HTML document: inline styles, inline SVG charts, no script, no fetches."""
    return _environment().get_template("weekly.html").render(v=_view(report), words=_WORDS, dims=_DIMS)


def to_markdown(report: WeeklyReport) -> str:
    v = _view(report)
    out = [f"# {_md(v.title)}", "", f"**{_md(v.sli)}** ({_md(v.sli_last)}).", "",
           *(f"- {_md(line)}" for line in v.facts), "", f"_{_md(v.generated)}_", "", f"## {FIX_HEADING}", ""]
    out += [f"{i}. **{_md(t)}**  \n   {_md(e)}" for i, (t, e) in enumerate(v.fixes, 1)] or [_md(NOTHING)]
    out += ["", f"## {STAKE_HEADING}", ""]
    out += [f"- **{_md(label)}**: {_md(text)}" for label, text in v.stakes] or [_md(NOTHING_AT_STAKE)]
    out += ["", f"## {BLIND_HEADING}", "", _md(BLIND_NOTE), ""]
    out += [f"- {_md(line)}" for line in v.blind] or [_md(NOTHING_BLIND)]
    out += ["", "## Contracts", "", "| Contract | Runs within budget | Out of budget | Incidents |",
            "|---|---|---|---|"]
    out += [f"| {_md(c.name)} | {_md(c.attainment)} | {_md(c.out)} | {c.incident_count} |" for c in v.contracts]
    for c in v.contracts:
        out += ["", f"## {_md(c.name)}", ""]
        if c.description:
            out += [_md(c.description), ""]
        out += [f"**{_md(c.state_text)}**. {_md(c.meta)}", ""]
        for t in c.targets:
            out += [f"### {_md(t.heading)}", "", "| | |", "|---|---|"]
            out += [f"| {_md(label)} | {_md(value)} |" for label, value in t.rows]
            out += [""]
        out += [f"**{_md(c.days_caption)}**", "", "| Day | " + " | ".join(_md(t.heading) for t in c.targets) + " |",
                "|---|" + "---|" * len(c.targets)]
        out += [f"| {_md(day)} | " + " | ".join(_md(t.days[i]) for t in c.targets) + " |"
                for i, day in enumerate(v.day_labels)]
        out += ["", "**Incidents**", "", *(f"- {_md(label)}: {_md(value)}" for label, value in c.incidents)]
        out += ["", "**Ownership conflicts**", ""]
        out += [f"- {_md(line)}" for line in c.conflicts] or ["None."]
        out += ["", f"**Schema changes**: {_md(c.schema)}"]
    return "\n".join(out) + "\n"


def to_slack(report: WeeklyReport, html_name: str | None = None) -> Message:
    """A short Block Kit summary: the headline and the three things to fix first."""
    v = _view(report)
    fixes = "\n".join(f"{i}. *{_cut(title, _TITLE_CAP)}*\n      {_cut(evidence, _EVIDENCE_CAP)}"
                      for i, (title, evidence) in enumerate(v.fixes, 1))
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": v.title, "emoji": True}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{esc(v.sli)}* ({esc(v.sli_last)})\n"
                                     + "\n".join(f"• {esc(line)}" for line in v.facts)}},
        {"type": "section", "text": {"type": "mrkdwn", "text": f"*{FIX_HEADING}*\n{fixes or NOTHING}"}},
    ]
    if html_name:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"Full report attached: {_cut(html_name, _TITLE_CAP)}"}]})
    return Message(f"{v.title}: {esc(v.sli)}; {esc(v.facts[0])}", blocks)


# ----- the sentences, once for all three -----

FIX_HEADING = "Three things to fix first"
NOTHING = "Nothing stood out this week."
STAKE_HEADING = "What was at stake"
NOTHING_AT_STAKE = "No sampled record put a business risk at stake."
BLIND_HEADING = "Could not see"
BLIND_NOTE = "Runs where syncwatch could not read a system: we could not see, which is not the same as wrong."
NOTHING_BLIND = "syncwatch could read every system in every run."


@dataclass(frozen=True, slots=True)
class _Bar:
    x: float
    cx: float  # the middle, for the day's label
    y: float
    width: float
    height: float
    over: bool
    day: str  # "Mon"
    note: str  # under the day: "3 over", "no data" or ""


@dataclass(frozen=True, slots=True)
class _Chart:
    id: str
    label: str
    bars: tuple[_Bar, ...]
    ticks: tuple[tuple[float, str], ...]  # (y, "10 h")
    budget_y: float
    budget: str


@dataclass(frozen=True, slots=True)
class _Target:
    heading: str
    rows: tuple[tuple[str, str], ...]
    days: tuple[str, ...]  # the day's lag p95 in words, Monday first
    chart: _Chart


@dataclass(frozen=True, slots=True)
class _Contract:
    name: str
    description: str | None
    meta: str
    state: str  # "met", "over" or "none": the colour of the state line
    state_text: str
    attainment: str
    out: str
    incident_count: int
    targets: tuple[_Target, ...]
    days_caption: str
    incidents: tuple[tuple[str, str], ...]
    conflicts: tuple[str, ...]
    schema: str


@dataclass(frozen=True, slots=True)
class _View:
    title: str
    sli: str
    sli_last: str
    facts: tuple[str, ...]  # incidents first (Slack's notification text uses it)
    generated: str
    fixes: tuple[tuple[str, str], ...]
    stakes: tuple[tuple[str, str], ...]
    blind: tuple[str, ...]
    day_labels: tuple[str, ...]
    contracts: tuple[_Contract, ...]


def _view(report: WeeklyReport) -> _View:
    h, names, days = report.headline, report.systems, report.week.days
    if h.within_budget is None:
        sli = f"No records were sampled this week: {NO_DATA}"
    else:
        sli = f"{share_text(h.within_budget)} of sampled records were within their latency budget"
    sli_last = f"last week: {NO_DATA}" if h.within_budget_last_week is None else \
        f"last week {share_text(h.within_budget_last_week)}{_change(h.within_budget, h.within_budget_last_week)}"
    facts = (
        f"{_plural(h.incidents, 'incident')} opened (last week: {h.incidents_last_week})",
        f"No probe runs this week: {NO_DATA} on the contracts" if not h.probe_runs else
        f"{h.contracts_met} of {_plural(h.contracts, 'contract')} kept their budget all week",
        f"{_n(h.sampled)} records sampled in {_plural(h.probe_runs, 'probe run')}; "
        f"{_n(h.out_of_budget)} out of their latency budget",
    )
    at_stake = sorted(((a, c) for c in report.contracts for a in c.at_stake), key=lambda ac: -ac[0].seconds)
    stakes = tuple(_stake(a, c, names) for a, c in at_stake)
    blind = tuple(
        f"{c.contract}: syncwatch could not read {_flow(c, t, names)} in {t.runs_failed} of "
        f"{_plural(t.runs, 'run')} — {_failures(t)}"
        for c in report.contracts for t in c.targets if t.runs_failed
    )
    return _View(
        title=f"Integration health, week {report.week.label.rsplit('W', 1)[-1].lstrip('0')} ({_span(days)})",
        sli=sli, sli_last=sli_last, facts=facts,
        generated=f"Generated {day_time_text(report.generated_at)} {report.generated_at.year}, London time; "
                  f"week {report.week.label}, Monday to Sunday",
        fixes=tuple((f.title, f.evidence) for f in report.fix_first),
        stakes=stakes, blind=blind, day_labels=tuple(_day_label(d) for d in days),
        contracts=tuple(_contract(c, i, names) for i, c in enumerate(report.contracts)),
    )


def _change(now: float | None, before: float) -> str:
    """The change in percentage points, of the figures as shown (so that they add up on the page)."""
    if now is None:
        return ""
    points = round(float(share_text(now).strip("<%")) - float(share_text(before).strip("<%")), 1)
    return ", unchanged" if points == 0 else f", {'up' if points > 0 else 'down'} {abs(points):g} points"


def _stake(a: AtStake, c: ContractWeek, names: dict[str, str]) -> tuple[str, str]:
    source, target = names.get(c.source, c.source), names.get(a.target, a.target)
    what = _unslack(field_words(a.fields))
    if a.risk in ("oversell", "undersell"):
        showed = f"showed {'more' if a.risk == 'oversell' else 'less'} {what} in {target} than in {source}"
    else:
        showed = f"differed in {what} between {source} and {target}"
    return _upper(_unslack(risk_phrase(a.risk))), (
        f"up to {a.peak} of {a.sampled_at_peak} sampled {_unslack(c.noun)} {showed}; {_dur(a.seconds)} in all, "
        f"most on "
        f"{_WEEKDAYS[a.worst_day.weekday()]} ({_dur(a.worst_day_seconds)})")


def _contract(c: ContractWeek, index: int, names: dict[str, str]) -> _Contract:
    if not c.runs:
        state, state_text = "none", f"No probe runs this week: {NO_DATA}"
    elif all(t.runs_within_budget == t.runs - t.runs_failed for t in c.targets):
        state, state_text = "met", "Kept its budget all week"
    else:
        state, state_text = "over", f"Out of budget for {_dur(c.seconds_out_of_budget)} this week"
    source = names.get(c.source, c.source)
    unreadable = sum(t.unreadable for t in c.targets)
    return _Contract(
        name=c.contract, description=c.description,
        meta=f"Owner: {c.owner} · from {source} · budgets: latency {_dur(c.latency_budget_s)}, "
             f"drift {share_text(c.drift_budget)} of sampled {_unslack(c.noun)}",
        state=state, state_text=state_text,
        attainment=_attainment(c.attainment, sum(t.runs_within_budget for t in c.targets),
                               sum(t.runs - t.runs_failed for t in c.targets)),
        out=_out(c.seconds_out_of_budget) if c.runs else NO_DATA, incident_count=c.incidents.count,
        targets=tuple(_target(c, t, f"c{index}t{j}", names) for j, t in enumerate(c.targets)),
        days_caption=f"Lag p95 by day (latency budget {_dur(c.latency_budget_s)})",
        incidents=_incidents(c.incidents),
        conflicts=tuple(
            f"{_upper(names.get(k.target, k.target))} wrote {k.field}, which {source} owns: "
            f"{_plural(k.records, 'record')} on {_plural(k.days, 'day')} "
            f"({day_time_text(k.first_seen)} to {day_time_text(k.last_seen)})"
            for k in c.conflicts),
        schema="none" if not c.schema_changes and not unreadable else
        f"{_plural(c.schema_changes, 'incident')}; {_n(unreadable)} records syncwatch could not read",
    )


def _target(c: ContractWeek, t: TargetWeek, chart_id: str, names: dict[str, str]) -> _Target:
    seen = t.runs - t.runs_failed
    budget = _dur(c.latency_budget_s)
    kinds = ", ".join(f"{_n(n)} {kind}" for kind, n in t.by_kind.items() if n)
    rows = [
        ("Runs within budget", _attainment(t.attainment, t.runs_within_budget, seen)),
        ("Time out of budget", _out(t.seconds_out_of_budget) if seen else NO_DATA),
        ("Lag p50 / p95", f"{_lag(t.lag_p50)} / {_lag(t.lag_p95, t.lag_p95_lower_bound)} (budget {budget})"
         if t.lag_p95 is not None
         else f"{NO_LAG if seen else NO_DATA} (budget {budget})"),
        ("Sampled records", f"{_n(t.sampled)}; {_n(t.out_of_budget)} out of budget" if seen else NO_DATA),
        ("Divergences", kinds or "none"),
        ("Could not see",
         f"{t.runs_failed} of {_plural(t.runs, 'run')} — {_failures(t)}" if t.runs_failed else "never"),
    ]
    if t.unreadable:
        rows.append(("Unreadable records", _n(t.unreadable)))
    heading = _upper(names.get(t.target, t.target))
    return _Target(
        heading=heading, rows=tuple(rows), days=tuple(_day_text(d) for d in t.days),
        chart=_chart(chart_id, f"{c.contract} to {heading}: lag p95 per day against the {budget} budget",
                     t.days, c.latency_budget_s),
    )


def _incidents(i: IncidentFigures) -> tuple[tuple[str, str], ...]:
    if not i.count:
        return (("Incidents", "none"),)
    kinds = ", ".join(f"{_KIND_WORDS.get(k, k)} ({n})" for k, n in sorted(i.by_kind.items()))
    return (
        ("Incidents", f"{i.count}: {kinds}; {i.opened} opened this week"),
        ("Time in breach", _dur(i.breach_seconds)),
        ("Time to acknowledge", _median_worst(i.ack_median_s, i.ack_worst_s, "none acknowledged")),
        ("Time to resolve", _median_worst(i.resolve_median_s, i.resolve_worst_s, "none resolved this week")),
        ("Never acknowledged", str(i.unacknowledged)),
        ("Still open at the end of the week", str(i.still_open)),
    )


# ----- the day chart -----


def _chart(chart_id: str, label: str, days: tuple[DayLag, ...], budget_s: float) -> _Chart:
    top_value = max([d.lag_p95 for d in days if d.lag_p95 is not None] + [budget_s, 1.0])
    step = next((s for s in _STEPS if math.ceil(top_value / s) <= 4), _STEPS[-1])
    top = step * math.ceil(top_value / step)
    height = _BASE - _TOP

    def y(seconds: float) -> float:
        return _unit(_BASE - seconds / top * height)

    slot = (_RIGHT - _LEFT) / len(days)
    bars = []
    for i, d in enumerate(days):
        h = 0.0 if d.lag_p95 is None else max(1.5, d.lag_p95 / top * height)
        note = f"{d.runs_out_of_budget} over" if d.runs_out_of_budget else "" if d.lag_p95 is not None \
            else "no lag" if d.runs else NO_DATA
        bars.append(_Bar(_unit(_LEFT + (i + 0.2) * slot), _unit(_LEFT + (i + 0.5) * slot), _unit(_BASE - h),
                         _unit(slot * 0.6), _unit(h), d.runs_out_of_budget > 0, DAYS[d.day.weekday()], note))
    ticks = tuple((y(k * step), _dur(k * step) if k else "0") for k in range(round(top / step) + 1))
    return _Chart(chart_id, label, tuple(bars), ticks, y(budget_s), f"budget {_dur(budget_s)}")


# ----- small formatting helpers -----


def _unit(value: float) -> float:
    """An SVG coordinate, short: ``140``, ``77.5``."""
    rounded = round(value, 1)
    return int(rounded) if rounded.is_integer() else rounded


def _dur(seconds: float) -> str:
    """``45 s``, ``12 min``, ``3 h 20 min``; a day or more in hours (``49 h 30 min``), as a week reads."""
    if seconds < 86400:
        return duration_text(timedelta(seconds=seconds))
    h, m = divmod(int(seconds) // 60, 60)
    return f"{h} h {m} min" if m else f"{h} h"


def _out(seconds: float) -> str:
    return _dur(seconds) if seconds else "none"


def _lag(seconds: float | None, lower_bound: bool = False) -> str:
    return NO_DATA if seconds is None else f"{'≥ ' if lower_bound else ''}{_dur(seconds)}"


def _day_text(d: DayLag) -> str:
    if not d.runs:
        return NO_DATA
    if d.lag_p95 is None:
        return NO_LAG
    over = f" ({_plural(d.runs_out_of_budget, 'run')} out of budget)" if d.runs_out_of_budget else ""
    return _lag(d.lag_p95, d.lag_p95_lower_bound) + over


def _attainment(share: float | None, within: int, seen: int) -> str:
    return NO_DATA if share is None else f"{share_text(share)} ({_n(within)} of {_n(seen)})"


def _median_worst(median: float | None, worst: float | None, none: str) -> str:
    return none if median is None or worst is None else f"median {_dur(median)}, worst {_dur(worst)}"


def _flow(c: ContractWeek, t: TargetWeek, names: dict[str, str]) -> str:
    return f"{names.get(c.source, c.source)} → {names.get(t.target, t.target)}"


def _failures(t: TargetWeek) -> str:
    """Why runs could not read, in words: ``it is unavailable``, or with more than one reason
    ``requests time out (1 run); it is unavailable (9 runs)``."""
    words: dict[str, int] = {}
    for reason, n in sorted(t.probe_failures.items()):
        words[REASONS.get(reason) or reason] = words.get(REASONS.get(reason) or reason, 0) + n
    return "; ".join(f"{w} ({_plural(n, 'run')})" if len(words) > 1 else w for w, n in words.items())


def _span(days: tuple[date, ...]) -> str:
    """``23–29 Nov 2026``, ``30 Nov – 6 Dec 2026``, ``28 Dec 2026 – 3 Jan 2027``."""
    a, b = days[0], days[-1]
    if a.year != b.year:
        return f"{a.day} {MONTHS[a.month - 1]} {a.year} – {b.day} {MONTHS[b.month - 1]} {b.year}"
    if a.month != b.month:
        return f"{a.day} {MONTHS[a.month - 1]} – {b.day} {MONTHS[b.month - 1]} {b.year}"
    return f"{a.day}–{b.day} {MONTHS[a.month - 1]} {a.year}"


def _day_label(d: date) -> str:
    return f"{DAYS[d.weekday()]} {d.day}"


def _n(value: int) -> str:
    return f"{value:,}"


def _plural(n: int, word: str) -> str:
    return f"{_n(n)} {word}" if n == 1 else f"{_n(n)} {word}s"


def _upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _cut(text: str, limit: int) -> str:
    """Escaped for Slack and, escaped, at most ``limit`` characters (escaping lengthens: cut more)."""
    cap = limit
    while len(out := esc(text, cap)) > limit:
        cap = max(1, cap - (len(out) - limit))
    return out


def _unslack(text: str) -> str:
    """Undo wording's Slack escaping (exactly: it only writes these three), for formats that escape their own."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


_MD_SPECIAL = frozenset("\\`*_[]<>|~#&")


def _md(text: str) -> str:
    """Data as literal GitHub Markdown text: punctuation that could format, link or break a table
    is backslash-escaped; a newline becomes a space (a table row is one line)."""
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in " ".join(text.split()))


_WORDS = {"fix_heading": FIX_HEADING, "nothing": NOTHING, "stake_heading": STAKE_HEADING,
          "nothing_at_stake": NOTHING_AT_STAKE, "blind_heading": BLIND_HEADING, "blind_note": BLIND_NOTE,
          "nothing_blind": NOTHING_BLIND}
_DIMS = {"width": _W, "height": _H, "left": _LEFT, "right": _RIGHT, "base": _BASE}


@cache
def _environment() -> Environment:
    """Made on first use (nothing at import time), then kept: templates compile once."""
    return Environment(loader=PackageLoader("monitor.report", "templates"), autoescape=select_autoescape(["html"]),
                       trim_blocks=True, lstrip_blocks=True)
