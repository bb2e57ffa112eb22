"""Run the demo world with the monitor: live (`syncwatch demo`) or replayed (`--simulate 7d`).

Both modes share one loop: advance the world to the next due probe, note the
truth, probe, narrate. Live mode runs on a ``ScaledClock`` (simulated time
faster than the wall) and waits between probes; replay runs on a
``FixedClock`` and never waits, then writes the store, the ground truth and
the scorecard.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import shutil
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import IO, Any

from monitor.alerting.figures import notification_figures
from monitor.alerting.notifier import Notifier, sender_for
from monitor.alerting.slack import SlackSender, check_owners
from monitor.clock import Clock, FixedClock, ScaledClock
from monitor.config import Config, load_config
from monitor.config.schedule import LONDON
from monitor.demo.catalogue import load_catalogue
from monitor.demo.faults import FaultSpec, week_timeline
from monitor.demo.scorecard import Scorecard, TruthPoint, build_scorecard, write_truth_points
from monitor.demo.sim.klaviyo import KlaviyoSimulator
from monitor.demo.sim.mintsoft import MintsoftSimulator
from monitor.demo.sim.router import Router
from monitor.demo.sim.shopify import ShopifySimulator
from monitor.demo.world import FLOWS, DemoWorld
from monitor.loopback import (
    Handler,
    InProcessTransport,
    LoopbackRequest,
    LoopbackResponse,
    LoopbackServer,
)
from monitor.results import ProbeResult
from monitor.runner import Prober
from monitor.store import Store
from probes.base import ConnectorContext

__all__ = ["DemoSession", "open_demo", "simulate", "demo_config_dir", "WEEK_START", "SECRETS"]

# A Monday, 00:00 London (GMT in November): the replayed week starts here.
WEEK_START = datetime(2026, 11, 23, 0, 0, tzinfo=UTC)
# Credentials of the simulated systems: the demo config reads them as ${...} like real ones.
SECRETS = {
    "DEMO_SHOPIFY_TOKEN": "shpat_demo0000000000000000000000",
    "DEMO_WMS_KEY": "demo-mintsoft-key",
    "DEMO_CRM_KEY": "pk_demo_klaviyo_key",
}
# The demo brand is on Shopify Plus: 1,000 points/s restored (apis.md); the bucket size per
# plan is not published, 10,000 is our assumption. syncwatch may use 10% of it.
SHOPIFY_RESTORE_RATE = 1000.0
SHOPIFY_BUCKET = 10_000
# Mintsoft publishes no rate limit (apis.md); the demo WMS allows 600 a minute, syncwatch takes 10%.
WMS_REQUESTS_PER_MINUTE = 600
# Taken from the environment into the demo's config: with a token, the demo's alerts go to Slack
# (SYNCWATCH_SLACK_API_URL: a local Slack); without, they are printed and stored.
SLACK_ENV = ("SLACK_BOT_TOKEN", "SYNCWATCH_SLACK_API_URL", "SLACK_SIGNING_SECRET")


def demo_config_dir() -> Path:
    return Path(str(resources.files("monitor") / "demo" / "config"))


@dataclass
class DemoSession:
    world: DemoWorld
    url: str
    config: Config
    store: Store
    prober: Prober
    clock: Clock
    sims: dict[str, Any]
    notifier: Notifier
    results: list[ProbeResult] = field(default_factory=list)
    truth_points: dict[tuple[str, str], list[TruthPoint]] = field(default_factory=dict)

    def rate_limits_per_minute(self) -> dict[str, float]:
        limits = {"shopify": SHOPIFY_RESTORE_RATE * 60}
        for name, system in self.config.systems.items():
            rate = getattr(system, "rate_limit", None)
            if rate is not None:
                limits[name] = rate.requests * 60 / rate.per.total_seconds()
        return limits

    def protocol(self) -> dict[str, int]:
        """What the simulators answered: requests, 429s and THROTTLED sent, 5xx sent."""
        facts: dict[str, int] = {}
        for name, sim in self.sims.items():
            counters = sim.counters
            facts[f"{name}_requests"] = counters.total
            facts[f"{name}_429_sent"] = sum(counters.throttled.values())
            facts[f"{name}_5xx_sent"] = sum(n for status, n in counters.statuses.items() if status >= 500)
            usage = getattr(sim, "usage", None)
            if usage is not None:
                facts[f"{name}_throttled_sent"] = usage.throttled
        return facts


def _mount(prefix: str, handler: Handler) -> Handler:
    """Serve ``handler`` under ``prefix`` when it does not strip prefixes itself."""
    if getattr(handler, "prefix", None) == prefix:
        return handler

    def strip(request: LoopbackRequest) -> LoopbackResponse:
        return handler(dataclasses.replace(request, path=request.path[len(prefix):] or "/"))

    strip.prefix = prefix  # type: ignore[attr-defined]
    return strip


@contextmanager
def open_demo(
    out_dir: Path, start: datetime, clock: Clock, timeline: list[FaultSpec], seed: int, port: int = 0,
    in_process: bool = False, environ: Mapping[str, str] | None = None, notices_out: IO[str] | None = None,
) -> Iterator[DemoSession]:
    """The world, its simulators, the monitor's config, store, prober and notifier, ready to run.

    Live, the simulators listen on loopback; ``in_process`` (the replay) hands requests
    straight to them through ``InProcessTransport``: same connectors, no sockets.
    ``environ`` (default: the process's) supplies the Slack settings (``SLACK_ENV``);
    without a token, notifications are printed to ``notices_out`` (default stdout).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    # A new world each time, so a new store: yesterday's divergences are not today's.
    for leftover in ("syncwatch.db", "syncwatch.db-wal", "syncwatch.db-shm"):
        (out_dir / leftover).unlink(missing_ok=True)
    shutil.rmtree(out_dir / "systems", ignore_errors=True)
    world = DemoWorld(out_dir / "systems", start, load_catalogue(), timeline, seed=seed)
    sims: dict[str, Any] = {
        "shopify": ShopifySimulator(world.state, clock, access_token=SECRETS["DEMO_SHOPIFY_TOKEN"],
                                    restore_rate=SHOPIFY_RESTORE_RATE, maximum_available=SHOPIFY_BUCKET),
        "wms": MintsoftSimulator(world.state, clock, api_key=SECRETS["DEMO_WMS_KEY"], prefix="/wms",
                                 requests_per_minute=WMS_REQUESTS_PER_MINUTE),
        "crm": KlaviyoSimulator(world.state, clock, api_key=SECRETS["DEMO_CRM_KEY"], prefix="/crm"),
    }
    router = Router({f"/{name}": _mount(f"/{name}", sim) for name, sim in sims.items()})
    with contextlib.ExitStack() as stack:
        transport: InProcessTransport | None = None
        if in_process:
            # A loopback address the transport never dials: requests go straight to the router.
            url, transport = "http://127.0.0.1:9", InProcessTransport(router)
        else:
            url = stack.enter_context(LoopbackServer(router, port=port)).url
        outer = os.environ if environ is None else environ
        env = {**{k: outer[k] for k in SLACK_ENV if k in outer}, **SECRETS, "DEMO_URL": url,
               "DEMO_ERP_URL": f"sqlite:///{world.erp_path.resolve()}"}
        config = load_config(demo_config_dir() / "syncwatch.yaml", environ=env)
        sender = sender_for(config, notices_out)
        if isinstance(sender, SlackSender):
            check_owners(sender.client, config.owners, config.base_dir / config.settings.owners)
        store = Store.open(f"sqlite:///{(out_dir / 'syncwatch.db').resolve()}")
        ctx = ConnectorContext(
            sleep=clock.sleep,  # type: ignore[attr-defined]
            monotonic=clock.monotonic,  # type: ignore[attr-defined]
            base_dir=out_dir,
            http_transport=lambda: transport,
        )
        prober = Prober(config, store, clock, ctx, random.Random(seed))
        # The outbox keeps its one-message-a-second pace in simulated time.
        notifier = Notifier(config, store, clock, sender, sleep=clock.sleep)  # type: ignore[attr-defined]
        session = DemoSession(world, url, config, store, prober, clock, sims, notifier)
        try:
            yield session
        finally:
            prober.close()
            store.close()
            world.close()


def run_schedule(
    session: DemoSession,
    until: datetime,
    wait_until: Callable[[datetime], None] | None = None,
    on_result: Callable[[ProbeResult, list[TruthPoint]], None] | None = None,
) -> None:
    """Probe every contract at its ``every`` until ``until``, staggered so they do not all start at once."""
    contracts = list(session.config.contracts.values())
    start = session.clock.now()
    due = {c.contract: start + timedelta(seconds=20 * i) for i, c in enumerate(contracts)}
    flows = {(contract, target): flow for flow, (contract, target, _) in FLOWS.items()}
    while True:
        name = min(due, key=lambda n: due[n])
        at = due[name]
        if at >= until:
            return
        if wait_until is not None:
            wait_until(at)
        elif isinstance(session.clock, FixedClock) and session.clock.now() < at:
            session.clock.set(at)
        now = session.clock.now()
        session.world.advance_to(now)
        contract = session.config.contracts[name]
        points = []
        for target in contract.targets:
            flow = flows.get((name, target.system))
            if flow is not None:
                oob, population = session.world.out_of_budget(flow, contract.budget.latency.total_seconds())
                point = TruthPoint(now, oob, population)
                session.truth_points.setdefault((name, target.system), []).append(point)
                points.append(point)
        result = session.prober.probe(name)
        session.results.append(result)
        if on_result is not None:
            on_result(result, points)
        session.notifier.tick()  # escalations and reminders fall due between runs too: all incidents
        # Missed slots are coalesced into one run, as the scheduler does: no pile-up after a slow probe.
        due[name] = max(at + contract.sampling.every, session.clock.now())


def simulate(out_dir: Path, duration: timedelta, seed: int, timeline: list[FaultSpec] | None = None,
             progress: Callable[[datetime], None] | None = None, start: datetime = WEEK_START,
             environ: Mapping[str, str] | None = None,
             on_result: Callable[[DemoSession, ProbeResult], None] | None = None) -> Scorecard:
    """Replay ``duration`` of the demo world on a simulated clock; write store, truth and scorecard.

    Notifications go to Slack when ``environ`` (default: the process's) has a token, else they
    are printed to DIR/notifications.txt; both ways they are stored. ``on_result``: called after
    every probe run (benchmarks use it to take Slack down for an hour)."""
    clock = FixedClock(start)
    timeline = week_timeline() if timeline is None else timeline
    out_dir.mkdir(parents=True, exist_ok=True)
    with (out_dir / "notifications.txt").open("w", encoding="utf-8") as printed, \
            open_demo(out_dir, start, clock, timeline, seed, in_process=True, environ=environ,
                      notices_out=printed) as session:
        def report(result: ProbeResult, points: list[TruthPoint]) -> None:
            if progress is not None:
                progress(result.started_at)
            if on_result is not None:
                on_result(session, result)

        run_schedule(session, start + duration, on_result=report)
        session.notifier.tick()
        card = build_scorecard(session.config, session.world.truth, session.truth_points, session.results,
                               session.rate_limits_per_minute(), session.protocol())
        card.details["notifications"] = notification_figures(session.store, session.config).to_json()
        card.details["notifications"]["to"] = (
            "slack" if isinstance(session.notifier.sender, SlackSender) else str(out_dir / "notifications.txt"))
        card.details["reports"] = [str(p) for p in write_reports(session, out_dir, start)]
        session.world.truth.write(out_dir / "truth.json")
        write_truth_points(out_dir / "truth_points.json", session.truth_points)
    card.details["seed"] = seed
    card.details["simulated"] = {"start": start.isoformat(), "end": (start + duration).isoformat()}
    (out_dir / "scorecard.json").write_text(json.dumps(card.to_json(), indent=2))
    return card


def write_reports(session: DemoSession, out_dir: Path, start: datetime) -> list[Path]:
    """The weekly summary of the replayed week (HTML and Markdown) and the audit, into ``out_dir``."""
    from monitor.report.audit import build_audit
    from monitor.report.audit_render import to_html as audit_html
    from monitor.report.audit_render import to_markdown as audit_markdown
    from monitor.report.publish import write_weekly
    from monitor.report.weekly import build_weekly, iso_week

    now = session.clock.now()
    week = iso_week(start.astimezone(LONDON).strftime("%G-W%V"), now)
    html, markdown = write_weekly(build_weekly(session.store, session.config, week, now), out_dir)
    days = max(1, math.ceil((now - start).total_seconds() / 86400))
    register = build_audit(session.store, session.config, now, days)
    audit = out_dir / "audit.html", out_dir / "audit.md"
    audit[0].write_text(audit_html(register), encoding="utf-8")
    audit[1].write_text(audit_markdown(register), encoding="utf-8")
    return [html, markdown, *audit]


def live_clock(speed: float) -> ScaledClock:
    now = datetime.now(UTC).replace(microsecond=0)
    return ScaledClock(now, speed)
