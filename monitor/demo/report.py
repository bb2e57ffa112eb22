"""Print a demo scorecard for a terminal. Formatting only: the figures come from ``scorecard``."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.table import Table

from monitor.demo.scorecard import Scorecard
from monitor.units import format_duration

__all__ = ["print_scorecard"]


def print_scorecard(console: Console, card: Scorecard, out: Path) -> None:
    d = card.details
    console.print(f"[bold]Simulated {d['simulated']['start']} → {d['simulated']['end']}[/], seed {d['seed']}: "
                  f"{d['probe_runs']} probe runs ({d['probe_errors']} could not see a system)", highlight=False)
    table = Table(title="Faults injected, and what the monitor said", title_justify="left")
    for column in ("fault", "kind", "contract", "expected breach", "broke budget", "breach raised", "time to breach"):
        table.add_column(column)
    for row in d["fault_detail"]:
        ttb = row["time_to_breach_s"]
        if row["breach_at"]:
            raised = _short(row["breach_at"])
        else:
            raised = "[red]missed[/]" if row["broke_budget_at"] else "-"
        table.add_row(
            row["name"], row["kind"], row["contract"], row["expected_breach"],
            _short(row["broke_budget_at"]) if row["broke_budget_at"] else "never", raised,
            format_duration(ttb) if ttb is not None else "-",
        )
    console.print(table)
    recall = "n/a" if card.recall is None else f"{card.recall:.2f}"
    ttb = format_duration(card.median_time_to_breach_s) if card.median_time_to_breach_s is not None else "n/a"
    lag = "n/a" if card.lag_p95_error is None else f"{card.lag_p95_error:.1%}"
    console.print(
        f"recall {recall} ({card.detected}/{card.faults} budget-breaking data faults); median time to breach {ttb}; "
        f"false breaches {card.false_breaches}; worst lag p95 error {lag}; largest API share used "
        f"{card.api_share_max:.1%}",
        highlight=False,
    )
    for row in d["false_breach_detail"]:
        console.print(f"  false breach: {row['contract']} → {row['target']} {row['kind']} at {row['at']}", highlight=False)
    n = d.get("notifications")
    if n:
        where = "to Slack" if n.get("to") == "slack" else f"printed to {n.get('to')}"
        console.print(f"alerts: {n['incidents']} incidents, {n['announced']} announced, {n['messages']} messages "
                      f"{where}", highlight=False)
    reports = ", ".join(str(p) for p in d.get("reports", []))
    console.print(f"Written: {out / 'scorecard.json'}, {out / 'truth.json'}, {out / 'syncwatch.db'}"
                  + (f", {reports}" if reports else ""), highlight=False)


def _short(iso: str) -> str:
    """``2026-11-24T14:03:00+00:00`` → ``11-24 14:03``."""
    return iso[5:16].replace("T", " ")
