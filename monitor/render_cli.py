"""Render probe results and the ownership map for a terminal (rich) or as JSON. No logic of its own."""

from __future__ import annotations

import dataclasses
import json
from collections import defaultdict
from datetime import datetime
from enum import Enum
from typing import Any

from rich.console import Console
from rich.table import Table

from monitor.alerting.notices import Delivery, Notice
from monitor.config import Config, Contract
from monitor.errors import ConfigProblem
from monitor.results import BreachKind, Incident, Kind, ProbeResult, Silence
from monitor.units import format_duration

__all__ = ["print_check", "print_probe", "result_json"]

_EXAMPLES_PER_KIND = 5


def print_check(console: Console, config: Config) -> None:
    table = Table(title="Ownership map: entity field → system of record → targets", title_justify="left")
    table.add_column("entity field")
    table.add_column("system of record")
    table.add_column("targets")
    table.add_column("contract")
    for row in config.ownership():
        table.add_row(row.source, row.system_of_record, ", ".join(row.targets), row.contract)
    console.print(table)
    for warning in config.warnings:
        console.print(f"[yellow]warning[/]: {warning}", highlight=False)
    console.print(
        f"[green]ok[/]: {len(config.contracts)} contracts, {len(config.systems)} systems, "
        f"{len(config.owners)} owners ({len(config.warnings)} warnings)",
        highlight=False,
    )


def print_problems(console: Console, problems: list[ConfigProblem]) -> None:
    for problem in problems:
        console.print(f"[red]error[/]: {problem}", highlight=False, markup=True, soft_wrap=True)


def print_probe(console: Console, result: ProbeResult, contract: Contract) -> None:
    budget = contract.budget
    console.print(
        f"[bold]{result.contract}[/]  {result.started_at:%Y-%m-%d %H:%M:%S} UTC  outcome: "
        f"[bold]{result.outcome.value}[/]  budget: latency {format_duration(budget.latency)}, "
        f"drift {budget.drift:.2%}, hold {budget.hold} runs",
        highlight=False,
    )
    streams = ", ".join(f"{k} {v}" for k, v in sorted(result.sampled_by_stream.items()))
    console.print(f"sampled from {contract.source.system}.{contract.source.entity}: {streams or 'nothing'}", highlight=False)
    if result.error:
        console.print(f"[red]probe error[/] ({result.error_reason}): {result.error}", highlight=False)
    for target in result.targets:
        h, v = target.health, target.verdict
        console.print()
        console.print(f"[bold]→ {target.target}[/]: {h.outcome.value}", highlight=False)
        if h.error:
            console.print(f"  [red]could not read[/] ({h.error_reason}): {h.error}", highlight=False)
        else:
            examples: dict[str, list[str]] = defaultdict(list)
            oob: dict[str, int] = defaultdict(int)
            for obs in target.observations:
                if obs.kind is Kind.IN_SYNC:
                    continue
                if len(examples[obs.kind.value]) < _EXAMPLES_PER_KIND:
                    fields = ",".join(d.field for d in obs.diffs)
                    examples[obs.kind.value].append(obs.key_display + (f" ({fields})" if fields else ""))
                oob[obs.kind.value] += int(obs.out_of_budget)
            table = Table(show_edge=False, pad_edge=False)
            table.add_column("kind")
            table.add_column("keys", justify="right")
            table.add_column("out of budget", justify="right")
            table.add_column("examples")
            for kind in Kind:
                count = h.by_kind.get(kind.value, 0)
                if count or kind is Kind.IN_SYNC:
                    table.add_row(kind.value, str(count), str(oob.get(kind.value, "")), ", ".join(examples[kind.value]))
            console.print(table)
            console.print(
                f"  drift {_ratio(h.divergent, h.sampled, h.drift_interval)}; "
                f"out of budget {_ratio(h.out_of_budget, h.sampled, h.out_of_budget_interval)} "
                f"(budget {budget.drift:.2%})",
                highlight=False,
            )
            console.print(
                f"  lag p50 {_lag(h.lag_p50, h.lag_p50_lower_bound)}, p95 {_lag(h.lag_p95, h.lag_p95_lower_bound)} "
                f"(budget {format_duration(budget.latency)}; {h.lag_samples} measured, {h.censored} still open)",
                highlight=False,
            )
            for risk, count in sorted(h.at_risk.items()):
                console.print(f"  at stake: {risk} on {count} keys", highlight=False)
        if v.breaching:
            reasons = [
                f"{k.value} (a critical field: at once)" if k is BreachKind.CONFLICT
                else f"{k.value} (held {v.streaks.get(k.value, 0)} runs, hold {v.hold}; "
                f"{v.evidence[1]}/{v.evidence[0]} pooled, p = {v.p_value:.2g})" if k is BreachKind.OUT_OF_BUDGET
                else f"{k.value} (held {v.streaks.get(k.value, 0)} runs, hold {v.hold})"
                for k in v.breaching
            ]
            console.print(f"  [red bold]BREACH[/]: {'; '.join(reasons)}", highlight=False)
        elif v.conditions:
            held = max(v.streaks.get(k.value, 0) for k in v.conditions)
            if held >= v.hold and BreachKind.OUT_OF_BUDGET in v.conditions:
                n, o = v.evidence
                wait = (f"held {held} runs, but {o}/{n} = {o / n:.1%} pooled could still be a share within "
                        f"the {budget.drift:.2%} budget (p = {v.p_value:.2g}; a breach needs it below "
                        f"{1 - budget.confidence:.2g})")
            else:
                wait = f"{held} of {v.hold} runs before a breach"
            console.print(
                f"  [yellow]out of budget this run[/]: {', '.join(k.value for k in v.conditions)} ({wait})",
                highlight=False,
            )
        else:
            console.print("  [green]within budget[/]", highlight=False)


def _ratio(count: int, n: int, interval: Any) -> str:
    if not n:
        return "n/a (nothing sampled)"
    text = f"{count}/{n} = {count / n:.1%}"
    if interval is not None:
        text += f" (95% CI {interval.low:.1%}–{interval.high:.1%})"
    return text


def _lag(value: float | None, lower_bound: bool) -> str:
    if value is None:
        return "n/a"
    return ("≥ " if lower_bound else "") + format_duration(value)


def result_json(result: ProbeResult) -> str:
    return json.dumps(dataclasses.asdict(result), default=_json_default, indent=2, sort_keys=False)


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def print_incidents(console: Console, incidents: list[Incident], now: datetime) -> None:
    """A table of incidents: number, state, contract → target, kind, since, figures."""
    if not incidents:
        console.print("no incidents")
        return
    table = Table(show_edge=False, pad_edge=False)
    for name in ("#", "state", "contract → target", "kind", "opened", "lasted", "latest", "acknowledged"):
        table.add_column(name)
    for i in incidents:
        facts = i.facts
        if i.kind is BreachKind.PROBE_FAILING:
            latest = f"could not read ({facts.get('reason', 'error')})"
        else:
            ratio = facts.get("ratio")
            latest = (f"{facts.get('out_of_budget', 0)}/{facts.get('sampled', 0)} out of budget"
                      + (f" ({ratio:.1%})" if ratio is not None else ""))
            if facts.get("conflicts"):
                latest += f", {facts['conflicts']} conflicts"
        lasted = format_duration(((i.resolved_at or now) - i.opened_at).total_seconds())
        ack = f"{i.acknowledged_by} {i.acknowledged_at:%d %b %H:%M}" if i.acknowledged_at else "-"
        table.add_row(str(i.id), i.state.value, f"{i.contract} → {i.target}", i.kind.value,
                      f"{i.opened_at:%d %b %H:%M} UTC", lasted, latest, ack)
    console.print(table)


def print_silences(console: Console, silences: list[Silence]) -> None:
    if not silences:
        console.print("no silences in force")
        return
    table = Table(show_edge=False, pad_edge=False)
    for name in ("#", "until", "contract", "target", "kind", "by", "why"):
        table.add_column(name)
    for s in silences:
        table.add_row(str(s.id), f"{s.ends_at:%d %b %H:%M} UTC", s.contract or "any", s.target or "any",
                      s.kind.value if s.kind else "any", s.created_by, s.comment)
    console.print(table)


def print_notices(console: Console, notices: list[Notice], now: datetime) -> None:
    """The outbox: what waits, what failed and why (``syncwatch outbox``)."""
    if not notices:
        console.print("the outbox is empty: every notification was delivered")
        return
    table = Table(show_edge=False, pad_edge=False)
    for name in ("#", "incident", "what", "how", "channel", "state", "tries", "next try", "last error"):
        table.add_column(name)
    for n in notices:
        next_try = "-"
        if n.state is Delivery.PENDING and n.next_attempt_at is not None:
            wait = (n.next_attempt_at - now).total_seconds()
            next_try = "now" if wait <= 0 else f"in {format_duration(wait)}"
        table.add_row(str(n.id), str(n.incident_id or "-"), n.kind.value, n.method.value, n.sent_channel or n.channel,
                      n.state.value, str(n.attempts), next_try, n.last_error or "")
    console.print(table)
