"""End to end: `syncwatch demo --simulate 2d` with SLACK_BOT_TOKEN and SYNCWATCH_SLACK_API_URL
pointing at a local Slack (``FakeSlack``), as a user would run it.

Two simulated days hold two stock faults: the WMS→Shopify sync 20 minutes late on Monday from
10:00 for 2 h, and 60% of stock updates dropped on Tuesday from 14:00 for 3 h. Priya owns stock
(backup Tom); nobody presses Acknowledge. The test reads what reached Slack and what the store
recorded.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.alerting.notices import Delivery, Method, NoticeKind
from monitor.loopback import LoopbackServer
from monitor.results import BreachKind
from monitor.store import Store
from tests.slack_server import TOKEN, FakeSlack, SlackMessage

CHANNELS = {"stock-alerts": "C0STOCK01", "orders-alerts": "C0ORDERS1", "crm-alerts": "C0CRMALRT",
            "ops-escalations": "C0ESCALAT", "sync-alerts": "C0SYNCALR"}
OWNERS = ("U04PRIYA01", "U04TOMREED", "U04AMARA01", "U04SAMPATL")
MONDAY = datetime(2026, 11, 23, tzinfo=UTC)  # the replay's start (00:00 London)
# The faults of the first two days (monitor.demo.faults.week_timeline) and how long recovery may take.
FAULTS = [(MONDAY + timedelta(hours=10), timedelta(hours=2)), (MONDAY + timedelta(days=1, hours=14), timedelta(hours=3))]
RECOVERY = timedelta(hours=1)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")


@dataclass
class Replay:
    slack: FakeSlack
    out: Path
    scorecard: dict[str, object]


@pytest.fixture(scope="module")
def replay(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replay]:
    slack = FakeSlack(users=OWNERS, channel_names=CHANNELS, channels=CHANNELS.values())
    out = tmp_path_factory.mktemp("demo")
    with LoopbackServer(slack) as server:
        env = {**os.environ, "SLACK_BOT_TOKEN": TOKEN, "SYNCWATCH_SLACK_API_URL": f"{server.url}/api/"}
        done = subprocess.run(
            [sys.executable, "-m", "monitor.cli", "demo", "--simulate", "2d", "--out", str(out)],
            env=env, capture_output=True, text=True, timeout=600, check=False,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    yield Replay(slack, out, json.loads((out / "scorecard.json").read_text()))


def _stock_roots(replay: Replay) -> list[SlackMessage]:
    """The root messages of the stock contract's out-of-budget incidents, oldest first, as Slack has them."""
    with Store.open(f"sqlite:///{replay.out / 'syncwatch.db'}") as store:
        wanted = {i.id for i in store.incidents(limit=1000)
                  if i.contract == "stock-wms-to-shopify" and i.kind is BreachKind.OUT_OF_BUDGET}
        roots = [n for n in store.notices(limit=10_000)
                 if n.incident_id in wanted and n.method is Method.POST and n.kind is NoticeKind.OPENED]
    return [replay.slack.message(str(n.sent_channel), str(n.ts)) for n in roots]


def test_owners_were_checked_with_slack_at_start(replay: Replay) -> None:
    checked = {call.params.get("user") for call in replay.slack.calls("users.info")}
    assert checked == set(OWNERS)


def test_each_stock_delay_gives_exactly_one_root_message_to_the_owner(replay: Replay) -> None:
    with Store.open(f"sqlite:///{replay.out / 'syncwatch.db'}") as store:
        incidents = [i for i in store.incidents(limit=1000)
                     if i.contract == "stock-wms-to-shopify" and i.kind is BreachKind.OUT_OF_BUDGET]
        assert incidents, "the stock faults opened no out-of-budget incident"
        roots = [n for n in store.notices(limit=10_000) if n.method is Method.POST and n.kind is NoticeKind.OPENED]
    assert len({n.incident_id for n in roots}) == len(roots)  # one root per incident
    slack_roots = _stock_roots(replay)
    assert len(slack_roots) == len(incidents) == len(replay.slack.roots("C0STOCK01")) - _conflict_roots(replay)
    for root in slack_roots:
        assert root.channel == "C0STOCK01" and root.thread_ts is None
        assert "<@U04PRIYA01>" in json.dumps(root.blocks)
        assert not EMAIL.search(json.dumps(root.blocks) + root.text)  # never an email address in clear
    tuesday = slack_roots[-1]
    assert "Shopify shows more stock than the WMS" in tuesday.text  # still open: not edited


def _conflict_roots(replay: Replay) -> int:
    with Store.open(f"sqlite:///{replay.out / 'syncwatch.db'}") as store:
        return sum(1 for n in store.notices(limit=10_000) if n.method is Method.POST and n.kind is NoticeKind.OPENED
                   and n.sent_channel == "C0STOCK01" and (i := store.incident(int(n.incident_id or 0))) is not None
                   and i.kind is not BreachKind.OUT_OF_BUDGET)


def test_the_monday_incident_thread_has_updates_escalation_and_the_resolved_edit(replay: Replay) -> None:
    slack = replay.slack
    root = _stock_roots(replay)[0]
    thread = slack.replies("C0STOCK01", root.ts)
    texts = [m.text for m in thread]
    assert any("<@U04TOMREED>" in t for t in texts), texts  # nobody acknowledged: to the backup
    assert any(t.startswith(":white_check_mark:") and "Resolved after" in t for t in texts), texts
    assert all(m.thread_ts == root.ts for m in thread)  # updates only in the thread
    edited = slack.message("C0STOCK01", root.ts)
    assert edited.edits >= 1 and "Resolved after" in json.dumps(edited.blocks)
    assert "syncwatch_ack" not in json.dumps(edited.blocks)  # no buttons on a resolved incident


def test_escalation_reached_the_escalation_channel_only_for_long_unacknowledged_incidents(replay: Replay) -> None:
    for message in replay.slack.roots("C0ESCALAT"):
        assert "Nobody acknowledged" in message.text or "acknowledged" in message.text.lower()
        assert "<@U04PRIYA01>" in json.dumps(message.blocks)


def test_nothing_is_sent_in_healthy_periods(replay: Replay) -> None:
    with Store.open(f"sqlite:///{replay.out / 'syncwatch.db'}") as store:
        notices = store.notices(limit=10_000)
    assert notices and all(n.state is Delivery.SENT for n in notices)
    for notice in notices:
        assert notice.sent_at is not None
        assert any(start <= notice.sent_at <= start + length + RECOVERY for start, length in FAULTS), (
            f"{notice.kind} for incident {notice.incident_id} at {notice.sent_at} is outside every fault")


def test_every_message_slack_received_was_within_block_kit_limits(replay: Replay) -> None:
    assert replay.slack.violations == []
    posted = sum(1 for c in replay.slack.calls("chat.postMessage") if c.ok)
    figures = replay.scorecard["notifications"]
    assert isinstance(figures, dict)
    assert posted == figures["messages"] and figures["pending"] == 0 and figures["failed"] == 0
    assert figures["roots_per_incident_max"] == 1 and figures["sent_in_maintenance"] == 0
