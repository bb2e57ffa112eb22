"""The service's alerting end to end: probe runs of a real SQL world open and resolve incidents,
the ``Notifier`` plans after each run (``ProbeService.notify``) and delivers through the real
``SlackSender`` to ``FakeSlack`` on loopback (or prints, without a token).

The scheduler is started paused, as in tests/test_service.py: each test runs the contract
itself (``service.run_contract``) with the clock in hand. The store runs on SQLite and, when
``SYNCWATCH_TEST_POSTGRES_URL`` is set, on PostgreSQL.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import partial
from pathlib import Path

import pytest

from monitor.alerting.actions import acknowledge
from monitor.alerting.notices import ACK_ACTION, Delivery, Method, Notice, NoticeKind
from monitor.alerting.notifier import DeliveryWorker, Notifier, sender_for
from monitor.alerting.outbox import Sender
from monitor.alerting.slack import ConsoleSender, SlackSender
from monitor.clock import FixedClock
from monitor.config import load_config
from monitor.loopback import LoopbackServer
from monitor.results import BreachKind, IncidentState, ProbeResult
from monitor.service.runtime import ProbeService
from monitor.store import Store
from probes.base import ConnectorContext
from tests.service_support import SqlWorld, build_sql_world
from tests.slack_server import TOKEN, FakeSlack, SlackMessage
from tests.store_fixtures import store_url_fixture  # noqa: F401  (the store_url fixture)
from tests.support import T0

CHANNELS = {"syncwatch-alerts": "C0ALERTS1", "stock-alerts": "C0STOCK01"}
ALERTS, STOCK = CHANNELS["syncwatch-alerts"], CHANNELS["stock-alerts"]
PRIYA, SAM = "U04PRIYA01", "U04SAMPAT1"
WAIT = 10.0  # seconds: the most a test waits for the sender thread (it takes milliseconds)


@pytest.fixture
def slack() -> Iterator[tuple[FakeSlack, LoopbackServer]]:
    """Slack knowing both owners and the two channels by name (and nothing else)."""
    fake = FakeSlack(users=(PRIYA, SAM), channel_names=CHANNELS, channels=CHANNELS.values())
    with LoopbackServer(fake) as server:
        yield fake, server


def _slack_env(slack: tuple[FakeSlack, LoopbackServer]) -> dict[str, str]:
    return {"SLACK_BOT_TOKEN": TOKEN, "SYNCWATCH_SLACK_API_URL": f"{slack[1].url}/api/"}


@pytest.fixture
def world(tmp_path: Path) -> SqlWorld:
    """tests/service_support's world: contract ``stock`` (owner priya, hold 2 runs, drift budget 2%)."""
    return build_sql_world(tmp_path)


@dataclass
class Running:
    service: ProbeService
    notifier: Notifier
    store: Store
    clock: FixedClock
    world: SqlWorld
    results: list[ProbeResult] = field(default_factory=list)

    def stock(self, stale: int) -> None:
        """50 SKUs; ``stale`` of them changed in the WMS 30 minutes ago and never reached the shop."""
        now = self.clock.now()
        fresh, old = now - timedelta(seconds=20), now - timedelta(minutes=30)
        rows: dict[str, tuple[int, object, int | None, object]] = {
            f"SKU{i:03d}": (10, fresh, 10, fresh + timedelta(seconds=5)) for i in range(50 - stale)}
        for i in range(50 - stale, 50):
            rows[f"SKU{i:03d}"] = (3, old, 8, old - timedelta(hours=1))
        self.world.set_stock(rows)  # type: ignore[arg-type]

    def runs(self, n: int, contract: str = "stock") -> list[ProbeResult]:
        """``n`` probe runs a minute apart, as the scheduler would make them."""
        done = []
        for _ in range(n):
            self.clock.advance(timedelta(minutes=1))
            result = self.service.run_contract(contract)
            assert result is not None
            done.append(result)
        self.results += done
        return done

    def breach(self) -> None:
        """5 of 50 out of budget (10% against 2%), for ``hold`` runs: an incident."""
        self.stock(stale=5)
        results = self.runs(2)
        assert [r.targets[0].verdict.breaching for r in results] == [(), (BreachKind.OUT_OF_BUDGET,)]

    def heal(self) -> None:
        """All in sync for ``alerting.resolve_after`` runs: resolved."""
        assert self.service.config.settings.alerting.resolve_after == 2
        self.stock(stale=0)
        results = self.runs(2)
        assert all(r.targets[0].verdict.breaching == () for r in results)


@contextmanager
def _running(world: SqlWorld, store_url: str, environ: dict[str, str], *, console: io.StringIO | None = None,
             on_sent: Callable[[Notice], None] | None = None) -> Iterator[Running]:
    """The service with a notifier, built as ``syncwatch run`` builds it, its scheduler paused."""
    clock = FixedClock(T0)  # a Friday, 12:00 in London: Priya's working hours
    loader = partial(load_config, environ=environ)  # the process's environment, as in production
    config = loader(world.config_path)
    store = Store.open(store_url)
    sender: Sender = sender_for(config, console)
    notifier = Notifier(config, store, clock, sender, sleep=clock.sleep, on_sent=on_sent)
    ctx = ConnectorContext(sleep=clock.sleep, monotonic=clock.monotonic, base_dir=config.base_dir)
    service = ProbeService(config, store, clock, ctx, watch_every=timedelta(seconds=1), loader=loader,
                           notifier=notifier)
    service.start(paused=True)
    try:
        yield Running(service, notifier, store, clock, world)
    finally:
        service.stop()
        store.close()


def _only_root(slack: FakeSlack, channel: str) -> SlackMessage:
    roots = slack.roots(channel)
    assert len(roots) == 1, [m.text for m in roots]
    return roots[0]


def _kinds(notices: list[Notice]) -> list[tuple[NoticeKind, Method]]:
    return [(n.kind, n.method) for n in notices]


# -- Slack ---------------------------------------------------------------------------------------


def test_a_breach_is_announced_once_to_the_owner_and_resolved_in_its_thread(
    world: SqlWorld, store_url: str, slack: tuple[FakeSlack, LoopbackServer]
) -> None:
    fake, _ = slack
    with _running(world, store_url, _slack_env(slack)) as run:
        assert isinstance(run.notifier.sender, SlackSender)
        run.stock(stale=5)
        run.runs(1)  # one breaching run: not yet an incident (hold: 2 runs)
        assert run.notifier.deliver().sent == [] and fake.calls() == []

        run.runs(1)
        [incident] = run.store.incidents()
        assert incident.state is IncidentState.OPEN and incident.kind is BreachKind.OUT_OF_BUDGET
        assert _kinds(run.store.pending_notices()) == [(NoticeKind.OPENED, Method.POST)]  # planned by the run
        report = run.notifier.deliver()

        assert len(report.sent) == 1 and not report.failed
        root = _only_root(fake, ALERTS)
        assert f"<@{PRIYA}>" in json.dumps(root.blocks)  # the owner is called on
        assert f"Incident {incident.id} " in json.dumps(root.blocks) and ACK_ACTION in json.dumps(root.blocks)
        assert root.text.startswith(":rotating_light: stock: ")
        assert fake.posted_channels() == [ALERTS]

        # Still breaching: no second root, nothing new to tell (the share did not change).
        run.runs(3)
        assert run.store.pending_notices() == [] and run.notifier.deliver().sent == []
        assert _only_root(fake, ALERTS) == root and fake.replies(ALERTS, root.ts) == []

        run.heal()
        resolved = run.store.incident(int(incident.id or 0))
        assert resolved is not None and resolved.state is IncidentState.RESOLVED
        assert _kinds(run.store.pending_notices()) == [(NoticeKind.RESOLVED, Method.REPLY),
                                                       (NoticeKind.RESOLVED, Method.UPDATE)]
        run.notifier.deliver()

        [reply] = fake.replies(ALERTS, root.ts)
        assert reply.text.startswith(":white_check_mark: Resolved after ")
        edited = fake.message(ALERTS, root.ts)
        assert edited.edits == 1 and "Resolved after" in json.dumps(edited.blocks)
        assert ACK_ACTION not in json.dumps(edited.blocks)  # no buttons on a resolved incident
        assert _only_root(fake, ALERTS) == edited

        # Healthy runs after that tell nobody anything.
        run.runs(2)
        assert run.store.pending_notices() == [] and run.notifier.deliver().sent == []
        assert all(n.state is Delivery.SENT for n in run.store.notices())
        assert len(fake.calls("chat.postMessage")) == 2 and len(fake.calls("chat.update")) == 1
        assert fake.violations == []


def test_without_a_token_the_notifications_are_printed_and_stored_as_sent(
    world: SqlWorld, store_url: str
) -> None:
    out = io.StringIO()
    with _running(world, store_url, {}, console=out) as run:
        assert isinstance(run.notifier.sender, ConsoleSender)
        run.breach()
        report = run.notifier.deliver()

        assert [n.kind for n in report.sent] == [NoticeKind.OPENED]
        printed = out.getvalue()
        assert printed.startswith("── Slack message for #syncwatch-alerts (not sent: no Slack token) ──\n")
        assert f"<@{PRIYA}>" in printed and "Priya Shah" in printed
        assert "[Acknowledge]" in printed
        [root] = run.store.notices()
        assert root.state is Delivery.SENT and root.ts == "console.000001" and root.sent_channel == "#syncwatch-alerts"

        run.runs(2)  # still breaching
        assert run.notifier.deliver().sent == []

        run.heal()
        run.notifier.deliver()
        printed = out.getvalue()
        assert "── Slack message for #syncwatch-alerts, in the thread of console.000001 (not sent" in printed
        assert "── Slack message console.000001 in #syncwatch-alerts edited (not sent" in printed
        assert printed.count("── Slack message for #syncwatch-alerts (not sent") == 1  # one root
        assert ":white_check_mark: Resolved after" in printed
        notices = run.store.notices()
        assert _kinds(notices) == [(NoticeKind.OPENED, Method.POST), (NoticeKind.RESOLVED, Method.REPLY),
                                   (NoticeKind.RESOLVED, Method.UPDATE)]
        assert all(n.state is Delivery.SENT for n in notices)


def test_an_acknowledgement_survives_the_probe_runs_that_follow_it(
    world: SqlWorld, store_url: str, slack: tuple[FakeSlack, LoopbackServer]
) -> None:
    # A probe run rewrites its incident (last breach, facts) but never the state someone gave it.
    fake, _ = slack
    with _running(world, store_url, _slack_env(slack)) as run:
        run.breach()
        run.notifier.deliver()
        root = _only_root(fake, ALERTS)
        [incident] = run.store.incidents()
        assert incident.id is not None
        acknowledge(run.store, incident.id, "priya", run.clock.now())
        run.service.notify("stock")  # what /slack/actions does after a click
        run.notifier.deliver()
        assert [m.text.split(" ", 1)[0] for m in fake.replies(ALERTS, root.ts)] == [":eyes:"]

        run.stock(stale=15)  # 30%, three times the share first told: worse
        run.runs(2)
        still = run.store.incident(incident.id)
        assert still is not None and still.state is IncidentState.ACKNOWLEDGED and still.acknowledged_by == "priya"
        assert still.last_breach_at == run.clock.now()
        run.notifier.deliver()
        texts = [m.text for m in fake.replies(ALERTS, root.ts)]
        assert [t.split(" ", 1)[0] for t in texts] == [":eyes:", ":chart_with_upwards_trend:"]  # told once each

        run.heal()
        run.notifier.deliver()
        assert fake.replies(ALERTS, root.ts)[-1].text.startswith(":white_check_mark: Resolved after")
        assert _only_root(fake, ALERTS).ts == root.ts and fake.violations == []


# -- the sender thread ---------------------------------------------------------------------------


class SentLog:
    """The outbox's ``on_sent``: what was sent, and an Event per notice kind to wait on."""

    def __init__(self) -> None:
        self.sent: list[Notice] = []
        self._lock = threading.Lock()
        self._events = {kind: threading.Event() for kind in NoticeKind}
        self.threads: set[str] = set()

    def __call__(self, notice: Notice) -> None:
        with self._lock:
            self.sent.append(notice)
            self.threads.add(threading.current_thread().name)
        self._events[notice.kind].set()

    def wait(self, kind: NoticeKind, count: int = 1) -> None:
        """Until ``count`` notices of ``kind`` were sent (at most ``WAIT`` seconds)."""
        event = self._events[kind]
        while True:
            with self._lock:
                if sum(n.kind is kind for n in self.sent) >= count:
                    return
                event.clear()
            assert event.wait(WAIT), f"no {kind} notice was sent within {WAIT:g} s; sent: {self.sent}"


def test_the_delivery_worker_is_woken_by_a_plan_and_delivers(
    world: SqlWorld, store_url: str, slack: tuple[FakeSlack, LoopbackServer]
) -> None:
    fake, _ = slack
    log = SentLog()
    with _running(world, store_url, _slack_env(slack), on_sent=log) as run:
        worker = DeliveryWorker(run.notifier, poll=3600.0)  # only a wake-up makes it deliver in this test
        woken: list[int] = []

        def wake() -> None:
            woken.append(1)
            worker.wake()

        run.service.on_notices = wake
        worker.start()
        try:
            run.stock(stale=5)
            run.runs(1)
            assert woken == []  # nothing planned, nobody woken
            run.runs(1)
            assert woken == [1]
            log.wait(NoticeKind.OPENED)
            root = _only_root(fake, ALERTS)
            assert f"<@{PRIYA}>" in json.dumps(root.blocks)

            run.heal()
            assert woken == [1, 1]
            log.wait(NoticeKind.RESOLVED, count=2)  # the reply and the edit of the root
            assert fake.replies(ALERTS, root.ts)[0].text.startswith(":white_check_mark: Resolved after")
            assert fake.message(ALERTS, root.ts).edits == 1
        finally:
            worker.stop()
        assert worker.stopping.is_set()
        assert not any(t.name == "syncwatch-outbox" for t in threading.enumerate())  # joined
        assert log.threads == {"syncwatch-outbox"}  # delivered by the worker, not the test
        assert run.store.pending_notices() == []
        assert [n.kind for n in log.sent] == [NoticeKind.OPENED, NoticeKind.RESOLVED, NoticeKind.RESOLVED]


# -- reloads -------------------------------------------------------------------------------------


def test_a_reload_routes_the_next_incident_by_the_new_config(
    world: SqlWorld, store_url: str, slack: tuple[FakeSlack, LoopbackServer]
) -> None:
    fake, _ = slack
    with _running(world, store_url, _slack_env(slack)) as run:
        run.breach()
        run.notifier.deliver()
        first = _only_root(fake, ALERTS)
        assert f"<@{PRIYA}>" in json.dumps(first.blocks)

        # The contract moves to its own channel and to Sam.
        path = world.root / "rules" / "contracts" / "stock.yaml"
        path.write_text(path.read_text().replace("owner: priya", "owner: sam") + 'channel: "#stock-alerts"\n')
        assert run.service.reload("test") is True
        assert run.service.config.contracts["stock"].channel == "#stock-alerts"
        assert run.service.config.settings.slack.token is not None  # the environment still completes slack:

        # The open incident's thread stays where it was announced.
        run.heal()
        run.notifier.deliver()
        assert fake.replies(ALERTS, first.ts)[0].text.startswith(":white_check_mark: Resolved after")
        assert fake.messages(STOCK) == []

        # After the cool-down a new breach is a new incident: announced by the new routing.
        run.clock.advance(run.service.config.settings.alerting.cooldown + timedelta(minutes=1))
        run.breach()
        run.notifier.deliver()
        incidents = run.store.incidents()
        assert len(incidents) == 2 and {i.state for i in incidents} == {IncidentState.OPEN, IncidentState.RESOLVED}
        second = _only_root(fake, STOCK)
        assert f"<@{SAM}>" in json.dumps(second.blocks) and f"<@{PRIYA}>" not in json.dumps(second.blocks)
        assert _only_root(fake, ALERTS).ts == first.ts  # nothing more in the old channel
        assert run.store.thread(max(int(i.id or 0) for i in incidents)) is not None
        assert fake.violations == []
