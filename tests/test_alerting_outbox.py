"""The outbox delivering notices to Slack (the real slack_sdk WebClient against ``FakeSlack``) and
to the console: order, pace, 429s, back-off, lost answers, crashes, permanent failures, owners.

Time is simulated: the outbox sleeps on a ``FixedClock`` and ``FakeSlack``'s rate limit reads the
same clock, so nothing here waits for real.
"""

from __future__ import annotations

import http.client
import io
import logging
import urllib.error
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from slack_sdk import WebClient

from monitor.alerting.messages import example_view, root
from monitor.alerting.notices import ROOT, Delivery, Message, Method, Notice, NoticeKind, Thread
from monitor.alerting.outbox import (
    FIRST_BACKOFF,
    MAX_BACKOFF,
    PACE,
    DeliveryReport,
    Outbox,
    SendError,
    Sent,
    classify_connection_error,
)
from monitor.alerting.slack import ConsoleSender, SlackSender, check_owners
from monitor.clock import FixedClock
from monitor.config.models import Owner, Slack
from monitor.errors import ConfigError
from monitor.loopback import LoopbackServer
from monitor.store import Store
from tests.slack_server import DROP_AFTER, TOKEN, FakeSlack, SlackCall, SlackMessage, web_client
from tests.store_fixtures import store_fixture, store_url_fixture  # noqa: F401 (the ``store`` fixtures)

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)  # a Monday morning
STOCK, OPS = "C0STOCK01", "C0OPS0001"
CHANNEL_NAMES = {"stock-alerts": STOCK, "ops": OPS}
PRIYA, TOM = "U04PRIYA01", "U04TOMREED"


class ClockedSlack(FakeSlack):
    """``FakeSlack`` whose message ts follow its clock, as Slack's follow the wall clock (so the
    outbox's "posted since the notice was queued" window means what it means in Slack)."""

    def _new_ts(self) -> str:
        self._next_ts = max(self._next_ts, int(self.clock() * 1_000_000))
        return super()._new_ts()


class Desk:
    """Queues notices the way the planner does: ``Store.add_notices`` with a ``Thread``."""

    def __init__(self, store: Store, clock: FixedClock) -> None:
        self.store = store
        self.clock = clock

    def open(self, incident_id: int, channel: str, text: str | None = None, message: Message | None = None) -> Notice:
        now = self.clock.now()
        thread = Thread(incident_id=incident_id, channel=channel, announced_at=now, responsible="priya",
                        last_notice_at=now)
        notice = self._notice(incident_id, NoticeKind.OPENED, Method.POST, channel,
                              message or _message(text or f"incident {incident_id} opened"))
        self.store.add_notices(thread, [notice])
        assert thread.root_id == notice.id
        return notice

    def reply(self, incident_id: int, text: str, kind: NoticeKind = NoticeKind.WORSE,
              message: Message | None = None) -> Notice:
        return self._follow(incident_id, kind, Method.REPLY, message or _message(text))

    def edit(self, incident_id: int, text: str, message: Message | None = None) -> Notice:
        return self._follow(incident_id, NoticeKind.RESOLVED, Method.UPDATE, message or _message(text))

    def _follow(self, incident_id: int, kind: NoticeKind, method: Method, message: Message) -> Notice:
        thread = self.store.thread(incident_id)
        assert thread is not None
        notice = self._notice(incident_id, kind, method, thread.channel, message, parent=ROOT)
        self.store.add_notices(thread, [notice])
        assert notice.parent_id == thread.root_id is not None
        return notice

    def _notice(self, incident_id: int, kind: NoticeKind, method: Method, channel: str, message: Message,
                parent: str | None = None) -> Notice:
        now = self.clock.now()
        return Notice(None, uuid.uuid4().hex, incident_id, kind, method, channel, message, now, parent=parent,
                      next_attempt_at=now)


def _message(text: str) -> Message:
    return Message(text, [{"type": "section", "text": {"type": "mrkdwn", "text": text}}])


def _now(store: Store, notice: Notice) -> Notice:
    """The notice as the store holds it now."""
    assert notice.id is not None
    fresh = store.notice(notice.id)
    assert fresh is not None
    return fresh


def _ids(notices: list[Notice]) -> list[int | None]:
    return [n.id for n in notices]


def _texts(messages: list[SlackMessage]) -> list[str]:
    return [m.text for m in messages]


def _uid(message: SlackMessage) -> str:
    assert message.metadata is not None and message.metadata["event_type"] == "syncwatch_notice"
    return str(message.metadata["event_payload"]["uid"])


def _call_uid(call: SlackCall) -> str:
    """The notice uid a chat.* call carried in its metadata."""
    metadata = call.params["metadata"]
    assert metadata["event_type"] == "syncwatch_notice"
    return str(metadata["event_payload"]["uid"])


def _closed_url() -> str:
    """The URL of a loopback port nothing listens on any more (connection refused)."""
    server = LoopbackServer(FakeSlack())
    url = server.url
    server.close()
    return url


# ----- fixtures ------------------------------------------------------------------------------


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(T0)


@pytest.fixture
def slack(clock: FixedClock) -> ClockedSlack:
    return ClockedSlack(channel_names=CHANNEL_NAMES, users={PRIYA}, clock=clock.monotonic)


@pytest.fixture
def server(slack: FakeSlack) -> Iterator[LoopbackServer]:
    with LoopbackServer(slack) as server:
        yield server


@pytest.fixture
def sender(server: LoopbackServer) -> SlackSender:
    # The sender builds its own WebClient from the settings, as the service does.
    return SlackSender(Slack(token=TOKEN, api_url=server.url + "/api/"))


@pytest.fixture
def delivered() -> list[Notice]:
    return []


@pytest.fixture
def outbox(store: Store, sender: SlackSender, clock: FixedClock, delivered: list[Notice]) -> Outbox:
    return Outbox(store, sender, clock, clock.sleep, on_sent=delivered.append)


@pytest.fixture
def desk(store: Store, clock: FixedClock) -> Desk:
    return Desk(store, clock)


# ----- 1. the happy path ---------------------------------------------------------------------


def test_root_replies_and_edit_land_in_one_thread_in_order(
    outbox: Outbox, desk: Desk, slack: FakeSlack, store: Store, delivered: list[Notice]
) -> None:
    opened = desk.open(1, "#stock-alerts", "Stock out of budget")
    replies = [desk.reply(1, f"worse: {n} SKUs") for n in (14, 20, 31)]
    edit = desk.edit(1, "Resolved: stock back in budget")

    report = outbox.deliver()

    queued = [opened, *replies, edit]
    assert _ids(report.sent) == _ids(queued) and report.failed == [] and report.recovered == [] and report.waiting == 0
    assert _ids(delivered) == _ids(queued)
    (slack_root,) = slack.roots(STOCK)
    assert slack_root.text == "Resolved: stock back in budget" and slack_root.edits == 1
    assert _uid(slack_root) == opened.uid != edit.uid  # an edit keeps the root's uid: it is still the root's message
    thread = slack.replies(STOCK, slack_root.ts)
    assert _texts(thread) == ["worse: 14 SKUs", "worse: 20 SKUs", "worse: 31 SKUs"]
    assert [_uid(m) for m in thread] == [r.uid for r in replies]
    assert slack.violations == []

    # The name went to Slack once; Slack's answer (the ID) is used for the thread and the edit.
    posts = slack.calls("chat.postMessage")
    assert [c.params["channel"] for c in posts] == ["#stock-alerts", STOCK, STOCK, STOCK]
    assert [c.params.get("thread_ts") for c in posts] == [None, *[slack_root.ts] * 3]
    assert [_call_uid(c) for c in posts] == [opened.uid, *(r.uid for r in replies)]
    (update,) = slack.calls("chat.update")
    assert update.params["channel"] == STOCK and update.params["ts"] == slack_root.ts

    stored = [_now(store, n) for n in queued]
    assert all(n.state is Delivery.SENT and n.sent_channel == STOCK and not n.uncertain for n in stored)
    assert [n.ts for n in stored] == [slack_root.ts, *[m.ts for m in thread], slack_root.ts]
    assert all(n.attempts == 1 and n.last_error is None and n.sent_at is not None for n in stored)
    assert store.channel_id("#stock-alerts") == STOCK
    assert outbox.deliver() == DeliveryReport()  # nothing left


# ----- 2. pace ----------------------------------------------------------------------------------


def test_one_message_a_second_per_channel(
    outbox: Outbox, desk: Desk, slack: FakeSlack, clock: FixedClock, store: Store
) -> None:
    slack.channel_rate_limit = True
    for n, channel in enumerate([STOCK, STOCK, OPS, STOCK, OPS, STOCK, STOCK], start=1):
        desk.open(n, channel)

    report = outbox.deliver()

    assert len(report.sent) == 7 and report.waiting == 0
    posts = slack.calls("chat.postMessage")
    assert len(posts) == 7 and all(c.ok and c.status == 200 for c in posts)  # never a 429
    for channel, count in ((STOCK, 5), (OPS, 2)):
        times = [c.at for c in posts if c.params["channel"] == channel]
        assert len(times) == count
        assert all(later - earlier >= PACE.total_seconds() for earlier, later in zip(times, times[1:]))
    # Five to one channel take four seconds; the other channel's two fit in between.
    assert clock.now() - T0 == 4 * PACE
    assert len(slack.roots(STOCK)) == 5 and len(slack.roots(OPS)) == 2


def test_pace_holds_when_the_channel_is_given_by_name(
    outbox: Outbox, desk: Desk, slack: FakeSlack, clock: FixedClock
) -> None:
    slack.channel_rate_limit = True
    desk.open(1, "#stock-alerts")
    desk.reply(1, "worse")
    desk.open(2, "#stock-alerts")

    report = outbox.deliver()

    assert [c.status for c in slack.calls("chat.postMessage")] == [200, 200, 200]
    assert len(report.sent) == 3 and clock.now() - T0 >= 2 * PACE


# ----- 3. 429 and Retry-After ------------------------------------------------------------------


def test_429_holds_the_channel_for_its_retry_after(
    outbox: Outbox, desk: Desk, slack: FakeSlack, clock: FixedClock, store: Store
) -> None:
    slack.fail_next("chat.postMessage", 1, 429, retry_after=7)
    first = desk.open(1, STOCK, "first")
    second = desk.open(2, STOCK, "second")
    elsewhere = desk.open(3, OPS, "elsewhere")

    report = outbox.deliver()

    assert _ids(report.sent) == [elsewhere.id] and report.waiting == 2  # the other channel still goes
    held = _now(store, first)
    assert held.state is Delivery.PENDING and held.attempts == 1 and not held.uncertain  # a 429 did nothing
    assert held.next_attempt_at == T0 + timedelta(seconds=7)
    assert held.last_error is not None and "429" in held.last_error and "Retry-After 7" in held.last_error
    assert _now(store, second).attempts == 0  # not tried: it would have jumped the queue

    clock.advance(timedelta(seconds=3))
    report = outbox.deliver()  # the second is due, the first not yet: the channel is still held
    assert report.sent == [] and report.waiting == 2  # both wait: the first for its Retry-After, the second for it
    assert slack.roots(STOCK) == [] and len(slack.calls("chat.postMessage")) == 2

    clock.advance(timedelta(seconds=4))
    report = outbox.deliver()
    assert _ids(report.sent) == [first.id, second.id]
    assert _texts(slack.roots(STOCK)) == ["first", "second"]


# ----- order while a notice waits out its back-off ----------------------------------------------


def test_a_reply_in_back_off_holds_back_the_replies_after_it(
    outbox: Outbox, desk: Desk, slack: FakeSlack, clock: FixedClock
) -> None:
    desk.open(1, STOCK)
    outbox.deliver()
    slack.fail_next("chat.postMessage", 1, 503)
    desk.reply(1, "first")
    outbox.deliver()  # 503: "first" waits 2 s
    clock.advance(timedelta(seconds=1))
    desk.reply(1, "second")
    outbox.deliver()  # the service's sender thread wakes after every plan, and every 5 s
    clock.advance(timedelta(seconds=2))
    outbox.deliver()

    (slack_root,) = slack.roots(STOCK)
    assert _texts(slack.replies(STOCK, slack_root.ts)) == ["first", "second"]


def test_a_429_hold_survives_a_restart(
    outbox: Outbox, desk: Desk, slack: FakeSlack, clock: FixedClock, store: Store, sender: SlackSender
) -> None:
    desk.open(1, STOCK)
    outbox.deliver()
    slack.fail_next("chat.postMessage", 1, 429, retry_after=30)
    desk.reply(1, "first")
    outbox.deliver()
    desk.reply(1, "second")
    clock.advance(timedelta(seconds=2))
    restarted = Outbox(store, sender, clock, clock.sleep)
    restarted.deliver()
    clock.advance(timedelta(seconds=30))
    restarted.deliver()

    (slack_root,) = slack.roots(STOCK)
    assert _texts(slack.replies(STOCK, slack_root.ts)) == ["first", "second"]


# ----- 4. Slack down for an hour ------------------------------------------------------------------


def test_slack_down_for_an_hour_costs_an_hour_not_a_message(
    outbox: Outbox, desk: Desk, slack: FakeSlack, clock: FixedClock, store: Store
) -> None:
    slack.down()
    told: dict[int, list[str]] = {1: [], 2: []}
    desk.open(1, "#stock-alerts", "incident 1")
    desk.open(2, OPS, "incident 2")
    outbox.deliver()
    for minute in range(1, 61):
        clock.advance(timedelta(minutes=1))
        if minute % 6 == 0:
            incident = 1 if minute % 12 else 2
            text = f"incident {incident}, minute {minute}"
            desk.reply(incident, text)
            told[incident].append(text)
        if minute == 45:
            desk.edit(1, "incident 1, edited while Slack was down")
        outbox.deliver()
        for waiting in store.notices([Delivery.PENDING]):
            assert waiting.next_attempt_at is not None and waiting.next_attempt_at - clock.now() <= MAX_BACKOFF
    assert store.notices([Delivery.SENT]) == [] and store.notices([Delivery.FAILED]) == []
    assert not any(c.ok for c in slack.calls())

    slack.up()
    back = clock.now()
    while store.notices([Delivery.PENDING]) and clock.now() - back <= MAX_BACKOFF + timedelta(minutes=1):
        clock.advance(timedelta(minutes=1))
        outbox.deliver()

    everything = store.notices()
    assert all(n.state is Delivery.SENT for n in everything)
    assert clock.now() - back <= MAX_BACKOFF + timedelta(minutes=1)  # back-off is capped: at most 5 min late
    posted = [c for c in slack.calls("chat.postMessage") if c.ok]
    assert len(posted) == len([n for n in everything if n.method is not Method.UPDATE])
    assert sorted(_call_uid(c) for c in posted) == sorted(n.uid for n in everything if n.method is not Method.UPDATE)
    for channel, incident in ((STOCK, 1), (OPS, 2)):
        (slack_root,) = slack.roots(channel)  # one root per incident
        assert _texts(slack.replies(channel, slack_root.ts)) == told[incident]
    (stock_root,) = slack.roots(STOCK)
    assert stock_root.text == "incident 1, edited while Slack was down" and stock_root.edits == 1
    assert _texts(slack.roots(OPS)) == ["incident 2"]


def test_slack_down_for_an_hour_keeps_the_order_of_replies_to_existing_threads(
    outbox: Outbox, desk: Desk, slack: FakeSlack, clock: FixedClock, store: Store
) -> None:
    desk.open(1, STOCK, "incident 1")
    desk.open(2, OPS, "incident 2")
    outbox.deliver()
    slack.down()
    told: dict[int, list[str]] = {1: [], 2: []}
    for minute in range(1, 61):
        clock.advance(timedelta(minutes=1))
        if minute % 6 == 0:
            incident = 1 if minute % 12 else 2
            text = f"incident {incident}, minute {minute}"
            desk.reply(incident, text)
            told[incident].append(text)
        outbox.deliver()
    slack.up()
    for _ in range(7):
        clock.advance(timedelta(minutes=1))
        outbox.deliver()

    assert all(n.state is Delivery.SENT for n in store.notices())
    for channel, incident in ((STOCK, 1), (OPS, 2)):
        (slack_root,) = slack.roots(channel)
        assert _texts(slack.replies(channel, slack_root.ts)) == told[incident]


# ----- 5. a lost answer -----------------------------------------------------------------------


def test_a_lost_answer_is_found_in_slack_not_posted_twice(
    outbox: Outbox, desk: Desk, slack: FakeSlack, clock: FixedClock, store: Store, delivered: list[Notice]
) -> None:
    slack.fail_next("chat.postMessage", 1, DROP_AFTER)
    opened = desk.open(1, STOCK, "root")

    report = outbox.deliver()  # Slack posted it; the answer never came
    assert report.sent == [] and report.waiting == 1 and len(slack.roots(STOCK)) == 1
    lost = _now(store, opened)
    assert lost.state is Delivery.PENDING and lost.uncertain and lost.attempts == 1
    assert lost.last_error is not None and lost.last_error.startswith("Slack unreachable")
    assert lost.next_attempt_at == T0 + FIRST_BACKOFF

    clock.advance(FIRST_BACKOFF)
    report = outbox.deliver()
    assert report.sent == [] and _ids(report.recovered) == [opened.id] and _ids(delivered) == [opened.id]
    (slack_root,) = slack.roots(STOCK)
    found = _now(store, opened)
    assert found.state is Delivery.SENT and found.ts == slack_root.ts and found.sent_channel == STOCK
    assert not found.uncertain and found.attempts == 1
    assert len(slack.calls("chat.postMessage")) == 1
    (history,) = slack.calls("conversations.history")
    assert history.params["channel"] == STOCK and history.ok

    # The same for a reply, looked for in its thread.
    slack.fail_next("chat.postMessage", 1, DROP_AFTER)
    answer = desk.reply(1, "reply")
    assert outbox.deliver().sent == []
    assert _now(store, answer).uncertain
    clock.advance(FIRST_BACKOFF)
    report = outbox.deliver()
    assert _ids(report.recovered) == [answer.id]
    (slack_reply,) = slack.replies(STOCK, slack_root.ts)
    assert _now(store, answer).ts == slack_reply.ts and _uid(slack_reply) == answer.uid
    (replies,) = slack.calls("conversations.replies")
    assert replies.params["ts"] == slack_root.ts and replies.ok
    assert len(slack.calls("chat.postMessage")) == 2


def test_when_slack_cannot_be_asked_whether_it_got_a_message_the_outbox_asks_again_later(
    outbox: Outbox, desk: Desk, slack: FakeSlack, clock: FixedClock, store: Store
) -> None:
    slack.fail_next("chat.postMessage", 1, DROP_AFTER)
    opened = desk.open(1, STOCK, "root")
    outbox.deliver()  # posted; the answer lost
    slack.fail_next("conversations.history", 1, 503)
    clock.advance(FIRST_BACKOFF)
    report = outbox.deliver()  # the lookup fails: no guess, no second post
    assert report.sent == [] and report.recovered == [] and report.waiting == 1
    waiting = _now(store, opened)
    assert waiting.uncertain and waiting.state is Delivery.PENDING and waiting.attempts == 2
    assert waiting.next_attempt_at == clock.now() + 2 * FIRST_BACKOFF  # the back-off grows as for a send
    assert len(slack.calls("chat.postMessage")) == 1
    clock.advance(waiting.next_attempt_at - clock.now())
    assert _ids(outbox.deliver().recovered) == [opened.id]
    assert len(slack.roots(STOCK)) == 1 and len(slack.calls("chat.postMessage")) == 1


def test_an_uncertain_attempt_that_never_landed_is_posted(
    outbox: Outbox, desk: Desk, slack: FakeSlack, clock: FixedClock, store: Store
) -> None:
    slack.fail_next("chat.postMessage", 1, "drop")  # closed before Slack did anything
    opened = desk.open(1, STOCK)
    outbox.deliver()
    assert _now(store, opened).uncertain and slack.roots(STOCK) == []
    clock.advance(FIRST_BACKOFF)
    report = outbox.deliver()
    assert _ids(report.sent) == [opened.id] and report.recovered == []
    assert len(slack.calls("conversations.history")) == 1 and len(slack.roots(STOCK)) == 1


# ----- 6. a crash between sending and recording ------------------------------------------------


class Crash(BaseException):
    """The process dying (a kill, a power cut) right after Slack took the message."""


class CrashAfterPost:
    def __init__(self, sender: SlackSender) -> None:
        self.sender = sender

    def post(self, channel: str, message: Message, uid: str, thread_ts: str | None = None) -> Sent:
        self.sender.post(channel, message, uid, thread_ts)
        raise Crash

    def update(self, channel: str, ts: str, message: Message, uid: str) -> Sent:
        return self.sender.update(channel, ts, message, uid)

    def find(self, channel: str, uid: str, since: datetime, thread_ts: str | None = None) -> Sent | None:
        return self.sender.find(channel, uid, since, thread_ts)


@pytest.mark.parametrize("channel", [STOCK, "#stock-alerts"])
def test_a_crash_after_posting_is_recorded_by_the_next_process(
    channel: str, desk: Desk, slack: FakeSlack, clock: FixedClock, store: Store, server: LoopbackServer,
    sender: SlackSender,
) -> None:
    before = desk.open(1, channel, "an earlier incident")  # by name: the store learns the channel's ID
    Outbox(store, sender, clock, clock.sleep).deliver()
    opened = desk.open(2, channel, "the incident")

    with pytest.raises(Crash):
        Outbox(store, CrashAfterPost(sender), clock, clock.sleep).deliver()
    assert _now(store, opened).state is Delivery.PENDING and _now(store, opened).uncertain

    clock.advance(timedelta(seconds=30))
    fresh = SlackSender(Slack(token=TOKEN, api_url=server.url + "/api/"))
    report = Outbox(store, fresh, clock, clock.sleep).deliver()

    assert _ids(report.recovered) == [opened.id] and report.sent == []
    roots = slack.roots(STOCK)
    assert _texts(roots) == ["an earlier incident", "the incident"]
    done = _now(store, opened)
    assert done.state is Delivery.SENT and done.ts == roots[1].ts and done.sent_channel == STOCK
    assert _now(store, before).ts == roots[0].ts


def test_a_crash_after_the_first_post_to_a_channel_name_is_posted_again(
    desk: Desk, slack: FakeSlack, clock: FixedClock, store: Store, sender: SlackSender,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Documents a gap: a name whose ID the store has never seen cannot be searched
    (conversations.history wants the ID), so the outbox posts again and says so."""
    opened = desk.open(1, "#stock-alerts")
    with pytest.raises(Crash):
        Outbox(store, CrashAfterPost(sender), clock, clock.sleep).deliver()
    with caplog.at_level(logging.WARNING, logger="syncwatch.outbox"):
        report = Outbox(store, sender, clock, clock.sleep).deliver()
    assert _ids(report.sent) == [opened.id]
    assert len(slack.roots(STOCK)) == 2
    assert f"notice {opened.id}: cannot look for an earlier attempt in #stock-alerts (its ID is not known yet)" \
        in caplog.text


# ----- 7. no history scope: at least once ---------------------------------------------------------


def test_without_history_scope_a_lost_answer_is_posted_again_with_a_warning(
    outbox: Outbox, desk: Desk, slack: FakeSlack, clock: FixedClock, store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    slack.scopes = ("chat:write", "users:read")
    slack.fail_next("chat.postMessage", 1, DROP_AFTER)
    opened = desk.open(1, STOCK)
    outbox.deliver()
    clock.advance(FIRST_BACKOFF)
    with caplog.at_level(logging.WARNING, logger="syncwatch.outbox"):
        report = outbox.deliver()

    assert _ids(report.sent) == [opened.id] and report.recovered == []
    assert len(slack.roots(STOCK)) == 2  # the trade-off: twice rather than never
    (history,) = slack.calls("conversations.history")
    assert history.error == "missing_scope"
    assert (f"notice {opened.id}: cannot look for an earlier attempt (conversations.history: the app lacks "
            "the scope channels:history); sending again") in caplog.text


# ----- 8. permanent errors ----------------------------------------------------------------------


def test_a_refused_root_fails_with_its_replies_and_retry_sends_them(
    outbox: Outbox, desk: Desk, slack: FakeSlack, clock: FixedClock, store: Store
) -> None:
    slack.fail_channel("#ops", "channel_not_found")
    doomed = [desk.open(1, "#ops", "ops root"), desk.reply(1, "ops reply 1"), desk.reply(1, "ops reply 2"),
              desk.edit(1, "ops root, edited")]
    fine = [desk.open(2, "#stock-alerts", "stock root"), desk.reply(2, "stock reply")]

    report = outbox.deliver()

    assert _ids(report.failed) == _ids(doomed) and _ids(report.sent) == _ids(fine)
    states = [_now(store, n) for n in doomed]
    assert all(n.state is Delivery.FAILED and not n.uncertain for n in states)
    assert states[0].last_error == "chat.postMessage: channel_not_found"
    assert all(n.last_error == "the message it answers failed: chat.postMessage: channel_not_found"
               for n in states[1:])
    assert [n.attempts for n in states] == [1, 0, 0, 0]  # the dependents were never tried
    assert slack.roots(OPS) == [] and len(slack.calls("chat.postMessage")) == 3
    assert all(_now(store, n).state is Delivery.SENT for n in fine)

    # Someone invites the bot / fixes the channel, then `syncwatch outbox retry`.
    slack.fail_channel("#ops", None)
    clock.advance(timedelta(minutes=10))
    assert store.retry_failed_notices(clock.now()) == 4
    report = outbox.deliver()
    assert _ids(report.sent) == _ids(doomed) and report.failed == [] and report.recovered == []
    assert all(_now(store, n).state is Delivery.SENT for n in doomed)
    # They come back uncertain: the root could not be looked for (its name's ID is unknown), the
    # replies were looked for in the thread first.
    assert len(slack.calls("conversations.replies")) == 2
    (ops_root,) = slack.roots(OPS)
    assert ops_root.text == "ops root, edited"
    assert _texts(slack.replies(OPS, ops_root.ts)) == ["ops reply 1", "ops reply 2"]


def test_a_refused_reply_fails_alone_and_the_channel_goes_on(
    outbox: Outbox, desk: Desk, slack: FakeSlack, store: Store
) -> None:
    opened = desk.open(1, STOCK)
    outbox.deliver()
    slack.fail_next("chat.postMessage", 1, "msg_too_long")
    bad = desk.reply(1, "too long")
    good = desk.reply(1, "fine")
    report = outbox.deliver()
    assert _ids(report.failed) == [bad.id] and _ids(report.sent) == [good.id]
    assert _now(store, opened).state is Delivery.SENT
    assert _now(store, bad).last_error == "chat.postMessage: msg_too_long"


# ----- 9. 5xx: back-off -------------------------------------------------------------------------


def test_5xx_is_retried_with_capped_exponential_back_off_and_marked_uncertain(
    outbox: Outbox, desk: Desk, slack: FakeSlack, clock: FixedClock, store: Store
) -> None:
    kinds = [500, 503] * 5
    for kind in kinds:
        slack.fail_next("chat.postMessage", 1, kind)
    opened = desk.open(1, STOCK)

    waits = []
    for kind in kinds:
        report = outbox.deliver()
        assert report.sent == [] and report.waiting == 1
        now = _now(store, opened)
        assert now.state is Delivery.PENDING and now.uncertain  # Slack may have done it before failing
        assert now.last_error == f"chat.postMessage: Slack answered HTTP {kind}"
        assert now.next_attempt_at is not None
        waits.append((now.next_attempt_at - clock.now()).total_seconds())
        clock.set(now.next_attempt_at)
    assert waits == [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]

    report = outbox.deliver()
    assert _ids(report.sent) == [opened.id] and _now(store, opened).attempts == 11
    assert len(slack.roots(STOCK)) == 1
    # Every attempt after an uncertain one looked first.
    assert len(slack.calls("conversations.history")) == 10


# ----- 10. connection refused --------------------------------------------------------------------


def test_connection_refused_is_certain_and_waits(desk: Desk, clock: FixedClock, store: Store) -> None:
    sender = SlackSender(Slack(token=TOKEN, api_url=_closed_url() + "/api/"))
    with pytest.raises(SendError) as refused:
        sender.post(STOCK, _message("hello"), "uid-1")
    assert not refused.value.uncertain and not refused.value.permanent and refused.value.retry_after is None
    assert "ConnectionRefusedError" in str(refused.value)

    opened = desk.open(1, STOCK)
    report = Outbox(store, sender, clock, clock.sleep).deliver()
    assert report.sent == [] and report.failed == [] and report.waiting == 1
    waiting = _now(store, opened)
    assert waiting.state is Delivery.PENDING and not waiting.uncertain and waiting.attempts == 1
    assert waiting.next_attempt_at == T0 + FIRST_BACKOFF
    assert waiting.last_error is not None and "Slack unreachable (ConnectionRefusedError" in waiting.last_error


def test_classify_connection_error() -> None:
    assert not classify_connection_error(ConnectionRefusedError()).uncertain
    assert not classify_connection_error(urllib.error.URLError(ConnectionRefusedError(111, "refused"))).uncertain
    assert classify_connection_error(http.client.RemoteDisconnected("closed")).uncertain
    assert classify_connection_error(TimeoutError("timed out")).uncertain
    assert classify_connection_error(urllib.error.URLError(TimeoutError("timed out"))).uncertain
    error = classify_connection_error(urllib.error.URLError(ConnectionRefusedError(111, "refused")))
    assert str(error) == "Slack unreachable (ConnectionRefusedError: [Errno 111] refused)"
    assert not error.permanent


# ----- 11. the console ----------------------------------------------------------------------------


def test_console_sender_prints_and_the_outbox_marks_sent(desk: Desk, clock: FixedClock, store: Store) -> None:
    out = io.StringIO()
    view = example_view(T0)
    opened = desk.open(42, "#stock-alerts", message=root(view))
    answer = desk.reply(42, "Worse: 20 of 300 SKUs")
    edit = desk.edit(42, "Resolved")

    report = Outbox(store, ConsoleSender(out), clock, clock.sleep).deliver()

    assert _ids(report.sent) == _ids([opened, answer, edit])
    assert [_now(store, n).ts for n in (opened, answer, edit)] == ["console.000001", "console.000002",
                                                                    "console.000001"]
    assert all(_now(store, n).state is Delivery.SENT for n in (opened, answer, edit))
    printed = out.getvalue()
    assert "── Slack message for #stock-alerts (not sent: no Slack token) ──" in printed
    assert "Shopify shows more stock than the WMS for 14 of 300 sampled SKUs" in printed
    assert "[Acknowledge]  [Snooze 2 h]" in printed
    assert "*" not in printed and "<http" not in printed  # mrkdwn and link syntax rendered
    assert "── Slack message for #stock-alerts, in the thread of console.000001 (not sent: no Slack token) ──" \
        in printed and "Worse: 20 of 300 SKUs" in printed
    assert "── Slack message console.000001 in #stock-alerts edited (not sent: no Slack token) ──" in printed
    assert ConsoleSender(out).find("#stock-alerts", opened.uid, T0) is None


# ----- 12. check_owners ---------------------------------------------------------------------------

OWNERS_YAML = """\
owners:
  priya:
    name: Priya Shah
    slack: U04PRIYA01
  tom:
    name: Tom Reed
    slack: U04TOMREED
"""


@pytest.fixture
def owners_file(tmp_path: Path) -> Path:
    path = tmp_path / "owners.yaml"
    path.write_text(OWNERS_YAML)
    return path


@pytest.fixture
def owners(owners_file: Path) -> dict[str, Owner]:
    data = yaml.safe_load(owners_file.read_text())
    return {key: Owner.model_validate(value) for key, value in data["owners"].items()}


def test_check_owners_names_an_unknown_owner_with_file_and_line(
    server: LoopbackServer, owners: dict[str, Owner], owners_file: Path
) -> None:
    with pytest.raises(ConfigError) as raised:
        check_owners(web_client(server), owners, owners_file)
    (problem,) = raised.value.problems
    assert problem.file == str(owners_file) and problem.line == 7 and problem.field == "owners.tom.slack"
    assert "Tom Reed" in problem.message and TOM in problem.message
    assert f"{owners_file}:7: owners.tom.slack: Tom Reed: Slack has no user {TOM}" in str(raised.value)


def test_check_owners_without_a_line_when_the_file_is_gone(
    server: LoopbackServer, owners: dict[str, Owner], tmp_path: Path
) -> None:
    missing = tmp_path / "gone.yaml"
    with pytest.raises(ConfigError) as raised:
        check_owners(web_client(server), owners, missing)
    (problem,) = raised.value.problems
    assert problem.file == str(missing) and problem.line is None and problem.field == "owners.tom.slack"


def test_check_owners_all_known(
    server: LoopbackServer, slack: FakeSlack, owners: dict[str, Owner], owners_file: Path
) -> None:
    slack.add_user(TOM, real_name="Tom Reed")
    assert check_owners(web_client(server), owners, owners_file) == []
    assert sorted(c.params["user"] for c in slack.calls("users.info")) == [PRIYA, TOM]


@pytest.mark.parametrize(("deleted", "says"), [(True, "is deactivated"), (False, "is a bot, not a person")])
def test_check_owners_refuses_deactivated_users_and_bots(
    deleted: bool, says: str, server: LoopbackServer, slack: FakeSlack, owners: dict[str, Owner], owners_file: Path
) -> None:
    slack.add_user(TOM, deleted=deleted, is_bot=not deleted)
    with pytest.raises(ConfigError) as raised:
        check_owners(web_client(server), owners, owners_file)
    (problem,) = raised.value.problems
    assert problem.line == 7 and problem.message == f"Tom Reed: Slack user {TOM} {says}"


def test_check_owners_with_slack_unreachable_warns(
    owners: dict[str, Owner], owners_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = WebClient(token=TOKEN, base_url=_closed_url() + "/api/", retry_handlers=[], timeout=5)
    with caplog.at_level(logging.WARNING, logger="syncwatch.slack"):
        warnings = check_owners(unreachable, owners, owners_file)
    (warning,) = warnings  # one warning, not one per owner
    assert warning.startswith("could not reach Slack to check the owners' Slack IDs")
    assert warning in caplog.text


def test_check_owners_with_a_bad_token_names_slack_bot_token(
    server: LoopbackServer, owners: dict[str, Owner], owners_file: Path
) -> None:
    with pytest.raises(ConfigError) as raised:
        check_owners(web_client(server, token="xoxb-not-the-token"), owners, owners_file)
    (problem,) = raised.value.problems
    assert problem.field == "SLACK_BOT_TOKEN" and problem.file == "environment"
    assert problem.message == "Slack refused the bot token (invalid_auth)"


def test_check_owners_without_users_read_scope_names_slack_bot_token(
    server: LoopbackServer, slack: FakeSlack, owners: dict[str, Owner], owners_file: Path
) -> None:
    slack.scopes = ("chat:write", "channels:history")
    with pytest.raises(ConfigError) as raised:
        check_owners(web_client(server), owners, owners_file)
    (problem,) = raised.value.problems
    assert problem.field == "SLACK_BOT_TOKEN" and "users:read" in problem.message
