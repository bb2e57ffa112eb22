"""`syncwatch demo`: the world and the monitor running live, narrated in plain words.

Simulated time runs faster than the wall (15× by default), starting at 11:00 on
a weekday so orders arrive at the real retailer's late-morning rate. A short
fault timeline makes the stock sync drift, a rogue writer conflict, the monitor
breach, and everything recover, within about two minutes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console
from starlette.applications import Starlette

from monitor.clock import ScaledClock
from monitor.demo.faults import live_timeline
from monitor.demo.run import DemoSession, open_demo, run_schedule
from monitor.demo.scorecard import TruthPoint
from monitor.metrics import SyncMetrics
from monitor.results import BreachKind, IncidentState, ProbeResult
from monitor.service.app import FixedRuntime, build_app
from monitor.service.http import HttpServer
from monitor.units import format_duration

__all__ = ["run_live", "live_start", "DEFAULT_PORT"]

DEFAULT_PORT = 9873

LONDON = ZoneInfo("Europe/London")
_WHAT = {
    BreachKind.OUT_OF_BUDGET: "more records out of their latency budget than the drift budget allows",
    BreachKind.CONFLICT: "a system that does not own the field wrote it (a conflict on a critical field)",
    BreachKind.SCHEMA_CHANGE: "records can no longer be read as the contract says (a schema change)",
    BreachKind.PROBE_FAILING: "the monitor cannot read a system (not drift: it cannot see)",
}


def live_start(now: datetime) -> datetime:
    """11:00 London on the most recent weekday (Monday to Friday) up to today."""
    local = now.astimezone(LONDON).replace(hour=11, minute=0, second=0, microsecond=0)
    while local.weekday() >= 5:
        local -= timedelta(days=1)
    return local.astimezone(UTC)


def run_live(out_dir: Path, console: Console, speed: float = 15.0, minutes: float = 32, seed: int = 1,
             port: int = DEFAULT_PORT, host: str = "127.0.0.1", stop: threading.Event | None = None,
             on_serving: Callable[[str], None] | None = None) -> int:
    """Run the world and the monitor for ``minutes`` of simulated time (0: until ``stop`` or Ctrl-C),
    serving the service's endpoints (/metrics, /healthz, /readyz, /, /api/contracts) on ``host:port``."""
    start = live_start(datetime.now(UTC))
    clock = ScaledClock(start, speed, paused=True)  # set-up (world, store, server) costs no simulated time
    timeline = live_timeline()
    stop = stop or threading.Event()
    with open_demo(out_dir, start, clock, timeline, seed, notices_out=console.file) as session:
        metrics = SyncMetrics(session.config, clock)
        running = threading.Event()
        runtime = FixedRuntime(session.config, session.store, metrics, clock, running.is_set, session.notifier)
        server = _serve(build_app(runtime), host, port, console)
        try:
            _intro(console, session, speed, minutes, server.url)
            if on_serving is not None:
                on_serving(server.url)
            narrator = _Narrator(console, session)

            planned: list[datetime] = []

            def wait_until(at: datetime) -> None:
                planned[:] = [at]
                while (ahead := (at - clock.now()).total_seconds()) > 0:
                    if stop.wait(min(ahead / speed, 0.5)):
                        raise _Stopped
                    narrator.faults()

            def on_result(result: ProbeResult, truth: list[TruthPoint]) -> None:
                metrics.observe(result, session.store.open_divergences(result.contract))
                metrics.incidents(session.config.contracts[result.contract], session.store.incidents(
                    [IncidentState.OPEN, IncidentState.ACKNOWLEDGED], result.contract, limit=1000))
                if planned:  # runs are sequential here: the last planned start is this run's
                    late = (result.started_at - planned[0]).total_seconds() / speed  # in wall seconds
                    metrics.start_delay.labels(result.contract).observe(max(0.0, late))
                narrator.result(result, truth)

            running.set()
            clock.resume()
            until = start + timedelta(minutes=minutes) if minutes > 0 else datetime.max.replace(tzinfo=UTC)
            with contextlib.suppress(_Stopped):
                run_schedule(session, until, wait_until=wait_until, on_result=on_result)
            running.clear()
            narrator.faults()
            _outro(console, session, narrator)
        finally:
            server.stop()
    return 0


class _Stopped(Exception):
    """The demo was asked to stop (SIGTERM, or the caller's event)."""


def _serve(app: Starlette, host: str, port: int, console: Console) -> HttpServer:
    server = HttpServer(app, host, port)
    try:
        server.start()
    except OSError:
        if port != DEFAULT_PORT:
            raise
        console.print(f"[yellow]port {port} is in use; serving on a free port instead[/]", highlight=False)
        server = HttpServer(app, host, 0)
        server.start()
    return server


def _local(at: datetime) -> str:
    return at.astimezone(LONDON).strftime("%a %H:%M")


def _intro(console: Console, session: DemoSession, speed: float, minutes: float, url: str) -> None:
    config = session.config
    length = (f"for {minutes:g} simulated minutes (about {minutes * 60 / speed:.0f} s)" if minutes > 0
              else "until you stop it (Ctrl-C)")
    console.print(
        f"[bold]syncwatch demo[/]: a UK brand's Shopify, WMS (Mintsoft-shaped), ERP (Business Central-shaped) "
        f"and CRM (Klaviyo-shaped), simulated on {session.url}, with the real catalogue and order rhythm "
        f"of a UK online retailer. Simulated time runs {speed:g}× faster than yours, from "
        f"{_local(session.clock.now())} London time, {length}.",
        highlight=False,
    )
    console.print(f"Watch it: status page {url}/ · metrics {url}/metrics · {url}/api/contracts", highlight=False)
    console.print("Contracts being watched:", highlight=False)
    for contract in config.contracts.values():
        owner = config.owners.get(contract.owner)
        who = f"{owner.name} (<@{owner.slack}>)" if owner else contract.owner
        targets = ", ".join(t.system for t in contract.targets)
        console.print(
            f"  • {contract.contract}: {contract.source.system} → {targets}, every "
            f"{format_duration(contract.sampling.every)}, latency budget {format_duration(contract.budget.latency)}, "
            f"drift budget {contract.budget.drift:.1%}; owner {who}",
            highlight=False,
        )
    console.print("What will go wrong (the monitor is not told):", highlight=False)
    start = session.clock.now()
    for fault in live_timeline():
        console.print(f"  • at {_local(start + fault.start)}: {fault.description}", highlight=False)
    console.print()


class _Narrator:
    def __init__(self, console: Console, session: DemoSession) -> None:
        self.console = console
        self.session = session
        self.breaching: dict[tuple[str, str], set[BreachKind]] = {}
        self.raised: list[str] = []
        self.cleared: list[str] = []
        self._told_faults: set[tuple[str, str]] = set()

    def faults(self) -> None:
        now = self.session.clock.now()
        for fault in self.session.world.truth.faults:
            if (fault.name, "start") not in self._told_faults:
                self._told_faults.add((fault.name, "start"))
                self.console.print(f"[magenta]{_local(fault.start)} fault[/]: {fault.description}", highlight=False)
            if fault.end <= now and (fault.name, "end") not in self._told_faults:
                self._told_faults.add((fault.name, "end"))
                self.console.print(f"[magenta]{_local(fault.end)} fixed[/]: {fault.name} is over; "
                                   "watch the monitor notice the recovery", highlight=False)

    def result(self, result: ProbeResult, truth: list[TruthPoint]) -> None:
        self.faults()
        contract = self.session.config.contracts[result.contract]
        for target in result.targets:
            h, v = target.health, target.verdict
            when = _local(result.started_at)
            if h.error:
                line = f"could not read ({h.error_reason})"
            else:
                lag = format_duration(h.lag_p95) if h.lag_p95 is not None else "n/a"
                line = (f"{h.out_of_budget}/{h.sampled} out of budget (budget {contract.budget.drift:.0%}), "
                        f"{h.conflicts} conflicts, lag p95 {'≥ ' if h.lag_p95_lower_bound else ''}{lag}")
            self.console.print(f"[dim]{when}[/] {result.contract} → {target.target}: {line}", highlight=False)
            key = (result.contract, target.target)
            before = self.breaching.get(key, set())
            now = set(v.breaching)
            for kind in sorted(now - before):
                owner = self._owner(contract.effective_technical_owner if kind is BreachKind.PROBE_FAILING else contract.owner)
                text = f"{when} BREACH {result.contract} → {target.target}: {_WHAT[kind]}. {owner} is alerted."
                self.raised.append(text)
                self.console.print(f"[red bold]{text}[/]", highlight=False)
            for kind in sorted(before - now):
                text = f"{when} resolved {result.contract} → {target.target}: {kind.value} is back within budget."
                self.cleared.append(text)
                self.console.print(f"[green bold]{text}[/]", highlight=False)
            self.breaching[key] = now

    def _owner(self, key: str) -> str:
        owner = self.session.config.owners.get(key)
        return f"{owner.name} (Slack <@{owner.slack}>)" if owner else key


def _outro(console: Console, session: DemoSession, narrator: _Narrator) -> None:
    console.print()
    console.print(f"[bold]What happened[/]: {len(narrator.raised)} breaches raised, {len(narrator.cleared)} resolved, "
                  f"{len(session.results)} probe runs.", highlight=False)
    console.print(
        f"Where to look: every run is in {session.store.url}; probe again with `syncwatch probe CONTRACT -c "
        "<config>` against your own systems, or replay a whole week with "
        "`syncwatch demo --simulate 7d --out DIR` and read DIR/scorecard.json.",
        highlight=False,
    )
