"""``/slack/actions``: Slack's Acknowledge and Snooze buttons, through the real HTTP server.

The app is served by uvicorn on loopback (``HttpServer``) and clicked with httpx, each request
signed as Slack signs it (``sign_request``); the time the signature is checked against is
injected (``build_app(runtime, wall=...)``), so a stale request needs no waiting. The incident's
thread lives in ``FakeSlack``, which the real ``SlackSender`` posts to: a click must end as a
reply in the thread and an edited root message.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import httpx
import pytest

from monitor.alerting.notices import ACK_ACTION, SNOOZE_ACTION, Delivery, Method, Notice, NoticeKind
from monitor.alerting.notifier import Notifier
from monitor.alerting.slack import SlackSender
from monitor.clock import FixedClock
from monitor.config import Config, load_config
from monitor.loopback import LoopbackServer
from monitor.metrics import SyncMetrics
from monitor.results import BreachKind, Incident, IncidentState
from monitor.service.app import FixedRuntime, build_app
from monitor.service.http import HttpServer
from monitor.store import Store
from tests.service_support import build_sql_world
from tests.slack_server import TOKEN, FakeSlack, SlackMessage, action_payload, sign_request
from tests.support import T0

SECRET = "8f742231b10e8888abcd99b1c2d3e4f5"
WALL = 1_764_244_800  # the real time (s) the signature is checked against; any fixed second will do
ALERTS = "C0ALERTS1"  # #syncwatch-alerts: alerting.channel's default, where the stock contract's incidents go
PRIYA, SAM, STRANGER = "U04PRIYA01", "U04SAMPAT1", "U04STRANGE"  # owners priya and sam; someone else
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@dataclass
class Desk:
    """The service's app on loopback, its store, clock and notifier, and the fake Slack behind it."""

    config: Config
    store: Store
    clock: FixedClock
    notifier: Notifier
    slack: FakeSlack
    http: httpx.Client

    def click(self, body: bytes, *, secret: str = SECRET, timestamp: int = WALL) -> httpx.Response:
        """POST ``body`` to /slack/actions signed with ``secret`` at ``timestamp``."""
        return self.post(body, {**FORM, **sign_request(body, secret, timestamp)})

    def post(self, body: bytes, headers: dict[str, str]) -> httpx.Response:
        return self.http.post("/slack/actions", content=body, headers=headers)

    def notices(self, incident_id: int) -> list[Notice]:
        return self.store.notices(incident_id=incident_id)


def _facts() -> dict[str, Any]:
    """An out-of-budget incident's facts as the engine writes them: 5 of 50 SKUs 30 min behind."""
    return {
        "at": T0.isoformat(), "sampled": 50, "out_of_budget": 5, "ratio": 0.1, "upper_bound": 0.21,
        "conflicts": 0, "unreadable": 0, "by_kind": {"stale": 5}, "at_risk": {"oversell": 5},
        "lag_p95": 1800.0, "fields": ["available"], "examples": ["SKU045", "SKU046"], "evidence": [50, 5],
        "peak": 0.1,
    }


@pytest.fixture
def slack() -> Iterator[tuple[FakeSlack, LoopbackServer]]:
    fake = FakeSlack(users=(PRIYA, SAM), channel_names={"syncwatch-alerts": ALERTS})
    with LoopbackServer(fake) as server:
        yield fake, server


@contextmanager
def _desk(root: Path, slack: tuple[FakeSlack, LoopbackServer], signing_secret: str | None = SECRET,
          settings: str = "") -> Iterator[Desk]:
    """tests/service_support's world (owners priya and sam, contract ``stock`` owned by priya),
    ``settings`` added to its syncwatch.yaml, Slack configured by the environment as in
    production, and the app served on loopback."""
    fake, server = slack
    environ = {"SLACK_BOT_TOKEN": TOKEN, "SYNCWATCH_SLACK_API_URL": f"{server.url}/api/"}
    if signing_secret is not None:
        environ["SLACK_SIGNING_SECRET"] = signing_secret
    path = build_sql_world(root).config_path
    path.write_text(path.read_text() + settings)
    config = load_config(path, environ=environ)
    assert (config.settings.slack.signing_secret is None) == (signing_secret is None)
    store = Store.open(config.storage_url)
    clock = FixedClock(T0)  # a Friday, 12:00 in London: Priya's working hours
    notifier = Notifier(config, store, clock, SlackSender(config.settings.slack), sleep=clock.sleep)
    runtime = FixedRuntime(config, store, SyncMetrics(config, clock), clock, running=lambda: True, notifier=notifier)
    http_server = HttpServer(build_app(runtime, wall=lambda: float(WALL)), "127.0.0.1", 0)
    http_server.start()
    try:
        with httpx.Client(base_url=http_server.url, timeout=10) as http:
            yield Desk(config, store, clock, notifier, fake, http)
    finally:
        http_server.stop()
        store.close()


@pytest.fixture
def desk(tmp_path: Path, slack: tuple[FakeSlack, LoopbackServer]) -> Iterator[Desk]:
    with _desk(tmp_path, slack) as made:
        yield made


def _announced(desk: Desk) -> tuple[int, SlackMessage]:
    """An open incident of the stock contract, announced in Slack (the root message with its buttons)."""
    incident = desk.store.save_incident(Incident(
        None, "stock", "shop", BreachKind.OUT_OF_BUDGET, IncidentState.OPEN,
        desk.clock.now() - timedelta(minutes=3), desk.clock.now(), facts=_facts(),
    ))
    assert incident.id is not None
    report = desk.notifier.tick()
    assert [n.kind for n in report.sent] == [NoticeKind.OPENED] and not report.failed
    roots = [m for m in desk.slack.roots(ALERTS) if f"Incident {incident.id} " in json.dumps(m.blocks)]
    assert len(roots) == 1
    assert ACK_ACTION in json.dumps(roots[0].blocks) and SNOOZE_ACTION in json.dumps(roots[0].blocks)
    return incident.id, roots[0]


def _click(desk: Desk, action: str, incident_id: int, user: str, root: SlackMessage) -> httpx.Response:
    """``user`` clicks the button ``action`` on the root message (its value: ``incident_id``)."""
    return desk.click(action_payload(action, str(incident_id), user, channel=ALERTS, message_ts=root.ts))


def _kinds(notices: list[Notice]) -> list[tuple[NoticeKind, Method]]:
    return [(n.kind, n.method) for n in notices]


def _snapshot(desk: Desk, incident_id: int) -> tuple[Incident | None, list[tuple[NoticeKind, Method, Delivery]]]:
    """The incident and its outbox, to show that a refused request changed nothing."""
    return desk.store.incident(incident_id), [(n.kind, n.method, n.state) for n in desk.notices(incident_id)]


# -- Acknowledge ---------------------------------------------------------------------------------


def test_an_owner_acknowledges_and_the_thread_hears_of_it(desk: Desk) -> None:
    incident_id, root = _announced(desk)
    desk.clock.advance(timedelta(minutes=5))

    answer = _click(desk, ACK_ACTION, incident_id, PRIYA, root)

    assert answer.status_code == 200 and answer.content == b""  # Slack wants an empty 200
    acked = desk.store.incident(incident_id)
    assert acked is not None and acked.state is IncidentState.ACKNOWLEDGED
    assert acked.acknowledged_by == "priya"  # the owner's key, not her Slack ID
    assert acked.acknowledged_at == desk.clock.now()
    # The click queued the thread's news in the outbox (sent by the sender, not in the request).
    pending = desk.store.pending_notices()
    assert _kinds(pending) == [(NoticeKind.ACKNOWLEDGED, Method.REPLY), (NoticeKind.ACKNOWLEDGED, Method.UPDATE)]
    root_notice = next(n for n in desk.notices(incident_id) if n.kind is NoticeKind.OPENED)
    assert all(n.parent_id == root_notice.id for n in pending)
    assert len(desk.slack.calls("chat.postMessage")) == 1 and desk.slack.edits == []  # nothing sent yet

    report = desk.notifier.deliver()

    assert len(report.sent) == 2 and not report.failed and report.waiting == 0
    [reply] = desk.slack.replies(ALERTS, root.ts)
    assert reply.text == ":eyes: Priya Shah acknowledged this at 12:05."
    edited = desk.slack.message(ALERTS, root.ts)
    assert edited.edits == 1 and edited.thread_ts is None
    blocks = json.dumps(edited.blocks)
    assert "Acknowledged by" in blocks and ":eyes:" in edited.text
    assert ACK_ACTION not in blocks and SNOOZE_ACTION in blocks  # the Acknowledge button is gone, Snooze stays
    assert desk.slack.roots(ALERTS) == [edited]  # an edit, not a second root
    assert desk.slack.violations == []
    assert all(n.state is Delivery.SENT for n in desk.notices(incident_id))


def test_the_edited_root_names_the_owner_who_acknowledged(desk: Desk) -> None:
    incident_id, root = _announced(desk)
    assert _click(desk, ACK_ACTION, incident_id, PRIYA, root).status_code == 200
    desk.notifier.deliver()
    blocks = json.dumps(desk.slack.message(ALERTS, root.ts).blocks)
    assert "Acknowledged by Priya Shah" in blocks


def test_someone_who_is_not_an_owner_acknowledges_under_their_slack_id(desk: Desk) -> None:
    incident_id, root = _announced(desk)

    assert _click(desk, ACK_ACTION, incident_id, STRANGER, root).status_code == 200

    acked = desk.store.incident(incident_id)
    assert acked is not None and acked.state is IncidentState.ACKNOWLEDGED and acked.acknowledged_by == STRANGER
    desk.notifier.deliver()
    [reply] = desk.slack.replies(ALERTS, root.ts)
    assert reply.text.startswith(f":eyes: <@{STRANGER}> acknowledged this")
    assert f"Acknowledged by <@{STRANGER}>" in json.dumps(desk.slack.message(ALERTS, root.ts).blocks)


def test_a_second_acknowledge_is_answered_200_and_told_once(desk: Desk) -> None:
    incident_id, root = _announced(desk)
    assert _click(desk, ACK_ACTION, incident_id, PRIYA, root).status_code == 200
    desk.notifier.deliver()
    first = desk.store.incident(incident_id)
    desk.clock.advance(timedelta(minutes=2))

    again = _click(desk, ACK_ACTION, incident_id, SAM, root)  # Sam clicks a stale copy of the message

    assert again.status_code == 200 and again.content == b""
    assert desk.store.incident(incident_id) == first  # still Priya's, at her time
    assert desk.store.pending_notices() == []
    desk.notifier.deliver()
    acknowledged = [n for n in desk.notices(incident_id) if n.kind is NoticeKind.ACKNOWLEDGED and n.method is Method.REPLY]
    assert len(acknowledged) == 1
    assert len(desk.slack.replies(ALERTS, root.ts)) == 1 and desk.slack.message(ALERTS, root.ts).edits == 1


# -- Snooze --------------------------------------------------------------------------------------


def test_snooze_quietens_the_incident_for_the_configured_length(desk: Desk) -> None:
    incident_id, root = _announced(desk)
    desk.clock.advance(timedelta(minutes=1))
    assert desk.config.settings.alerting.snooze == timedelta(hours=2)  # the default

    answer = _click(desk, SNOOZE_ACTION, incident_id, SAM, root)

    assert answer.status_code == 200 and answer.content == b""
    snoozed = desk.store.incident(incident_id)
    assert snoozed is not None
    assert snoozed.state is IncidentState.OPEN  # a snooze is not an acknowledgement
    assert snoozed.snoozed_until == desk.clock.now() + timedelta(hours=2) and snoozed.snoozed_by == "sam"
    assert snoozed.acknowledged_by is None
    assert _kinds(desk.store.pending_notices()) == [(NoticeKind.SNOOZED, Method.REPLY), (NoticeKind.SNOOZED, Method.UPDATE)]

    desk.notifier.deliver()

    [reply] = desk.slack.replies(ALERTS, root.ts)
    assert reply.text == ":zzz: Sam Patel snoozed this until 14:01."
    edited = json.dumps(desk.slack.message(ALERTS, root.ts).blocks)
    assert "Snoozed until 14:01" in edited and ACK_ACTION in edited  # still to be acknowledged


def test_snooze_lasts_alerting_snooze(tmp_path: Path, slack: tuple[FakeSlack, LoopbackServer]) -> None:
    with _desk(tmp_path, slack, settings="alerting: {snooze: 45m}\n") as desk:
        incident_id, root = _announced(desk)

        assert _click(desk, SNOOZE_ACTION, incident_id, PRIYA, root).status_code == 200

        snoozed = desk.store.incident(incident_id)
        assert snoozed is not None and snoozed.snoozed_by == "priya"
        assert snoozed.snoozed_until == desk.clock.now() + timedelta(minutes=45)


def test_snooze_then_acknowledge_each_tell_the_thread_once(desk: Desk) -> None:
    incident_id, root = _announced(desk)
    assert _click(desk, SNOOZE_ACTION, incident_id, PRIYA, root).status_code == 200
    desk.notifier.deliver()
    desk.clock.advance(timedelta(minutes=10))
    assert _click(desk, ACK_ACTION, incident_id, PRIYA, root).status_code == 200
    desk.notifier.deliver()
    texts = [m.text for m in desk.slack.replies(ALERTS, root.ts)]
    assert [t.split(" ", 1)[0] for t in texts] == [":zzz:", ":eyes:"]
    incident = desk.store.incident(incident_id)
    assert incident is not None and incident.state is IncidentState.ACKNOWLEDGED and incident.snoozed_by == "priya"
    assert desk.slack.message(ALERTS, root.ts).edits == 2


# -- refused: signatures -------------------------------------------------------------------------


def _refused_unchanged(desk: Desk, incident_id: int, answer: httpx.Response, status: int,
                       before: tuple[Incident | None, list[tuple[NoticeKind, Method, Delivery]]]) -> None:
    assert answer.status_code == status, answer.text
    assert _snapshot(desk, incident_id) == before
    assert desk.store.pending_notices() == []


@pytest.mark.parametrize("how", ["wrong secret", "stale", "from the future", "tampered body"])
def test_a_bad_or_stale_signature_is_refused_401(desk: Desk, how: str) -> None:
    incident_id, root = _announced(desk)
    before = _snapshot(desk, incident_id)
    body = action_payload(ACK_ACTION, str(incident_id), PRIYA, channel=ALERTS, message_ts=root.ts)
    if how == "wrong secret":
        answer = desk.click(body, secret="0" * 32)
    elif how == "stale":
        answer = desk.click(body, timestamp=WALL - 5 * 60 - 1)
    elif how == "from the future":
        answer = desk.click(body, timestamp=WALL + 5 * 60 + 1)
    else:  # signed for one incident, sent for another
        other = action_payload(ACK_ACTION, str(incident_id + 1), PRIYA)
        answer = desk.post(body, {**FORM, **sign_request(other, SECRET, WALL)})
    _refused_unchanged(desk, incident_id, answer, 401, before)
    assert answer.text == "invalid signature\n"


def test_a_signature_within_five_minutes_of_skew_is_accepted(desk: Desk) -> None:
    incident_id, root = _announced(desk)
    body = action_payload(SNOOZE_ACTION, str(incident_id), PRIYA, channel=ALERTS, message_ts=root.ts)
    assert desk.click(body, timestamp=WALL - 5 * 60).status_code == 200
    assert desk.click(body, timestamp=WALL + 5 * 60).status_code == 200


@pytest.mark.parametrize("headers", [
    pytest.param({}, id="no signature headers"),
    pytest.param({"X-Slack-Request-Timestamp": str(WALL)}, id="no signature"),
    pytest.param({"X-Slack-Signature": "v0=00"}, id="no timestamp"),
])
def test_missing_signature_headers_are_refused_401(desk: Desk, headers: dict[str, str]) -> None:
    incident_id, root = _announced(desk)
    before = _snapshot(desk, incident_id)
    body = action_payload(ACK_ACTION, str(incident_id), PRIYA, channel=ALERTS, message_ts=root.ts)
    signed = sign_request(body, SECRET, WALL)
    sent = {name: signed[name] for name in headers}  # the real values of the headers kept
    _refused_unchanged(desk, incident_id, desk.post(body, {**FORM, **sent}), 401, before)


@pytest.mark.parametrize("timestamp", ["soon", "1764244800.5", "", "0x6929B600"])
def test_a_timestamp_that_is_not_a_number_is_refused_401(desk: Desk, timestamp: str) -> None:
    incident_id, root = _announced(desk)
    before = _snapshot(desk, incident_id)
    body = action_payload(ACK_ACTION, str(incident_id), PRIYA, channel=ALERTS, message_ts=root.ts)
    headers = {**FORM, **sign_request(body, SECRET, WALL), "X-Slack-Request-Timestamp": timestamp}
    _refused_unchanged(desk, incident_id, desk.post(body, headers), 401, before)


def test_a_signature_header_that_is_not_ascii_is_refused_401(desk: Desk) -> None:
    incident_id, root = _announced(desk)
    before = _snapshot(desk, incident_id)
    body = action_payload(ACK_ACTION, str(incident_id), PRIYA, channel=ALERTS, message_ts=root.ts)
    headers = {b"Content-Type": FORM["Content-Type"].encode(), b"X-Slack-Request-Timestamp": str(WALL).encode(),
               b"X-Slack-Signature": "v0=\u00e9t\u00e9".encode("latin-1")}
    answer = desk.http.post("/slack/actions", content=body, headers=headers)
    _refused_unchanged(desk, incident_id, answer, 401, before)


def test_without_a_signing_secret_the_endpoint_is_not_there(
    tmp_path: Path, slack: tuple[FakeSlack, LoopbackServer]
) -> None:
    with _desk(tmp_path, slack, signing_secret=None) as desk:
        incident_id, root = _announced(desk)
        before = _snapshot(desk, incident_id)
        body = action_payload(ACK_ACTION, str(incident_id), PRIYA, channel=ALERTS, message_ts=root.ts)
        for signed_with in (SECRET, ""):
            answer = desk.post(body, {**FORM, **sign_request(body, signed_with, WALL)})
            assert answer.status_code == 404 and "slack.signing_secret" in answer.text
        assert _snapshot(desk, incident_id) == before and desk.store.pending_notices() == []


# -- refused: payloads ---------------------------------------------------------------------------


def _form(payload: object) -> bytes:
    return urlencode({"payload": payload if isinstance(payload, str) else json.dumps(payload)}).encode()


def _payload_of(body: bytes) -> dict[str, Any]:
    loaded = json.loads(parse_qs(body.decode())["payload"][0])
    assert isinstance(loaded, dict)
    return loaded


def test_an_unknown_incident_is_refused_400(desk: Desk) -> None:
    incident_id, root = _announced(desk)
    before = _snapshot(desk, incident_id)
    for action in (ACK_ACTION, SNOOZE_ACTION):
        answer = _click(desk, action, incident_id + 1000, PRIYA, root)
        assert answer.status_code == 400 and answer.text == f"there is no incident {incident_id + 1000}\n"
    assert _snapshot(desk, incident_id) == before and desk.store.pending_notices() == []


def test_an_incident_number_beyond_the_databases_range_is_refused_400(desk: Desk) -> None:
    incident_id, root = _announced(desk)
    before = _snapshot(desk, incident_id)
    answer = desk.click(action_payload(ACK_ACTION, "99999999999999999999", PRIYA, channel=ALERTS, message_ts=root.ts))
    _refused_unchanged(desk, incident_id, answer, 400, before)


def test_a_resolved_incident_is_refused_400(desk: Desk) -> None:
    incident_id, root = _announced(desk)
    desk.store.change_incident(incident_id, state=IncidentState.RESOLVED, resolved_at=desk.clock.now())
    desk.notifier.tick()  # the thread hears of the resolution
    before = _snapshot(desk, incident_id)
    assert [m.text.split(" ", 1)[0] for m in desk.slack.replies(ALERTS, root.ts)] == [":white_check_mark:"]
    for action in (ACK_ACTION, SNOOZE_ACTION):
        answer = _click(desk, action, incident_id, PRIYA, root)
        assert answer.status_code == 400 and "resolved already" in answer.text
    assert _snapshot(desk, incident_id) == before and desk.store.pending_notices() == []
    desk.notifier.deliver()
    assert len(desk.slack.replies(ALERTS, root.ts)) == 1


def _garbage(incident_id: int) -> dict[str, bytes]:
    ours = _payload_of(action_payload(ACK_ACTION, str(incident_id), PRIYA))
    return {
        "view_submission": _form({**ours, "type": "view_submission"}),
        "message_action": _form({**ours, "type": "message_action"}),
        "not JSON": _form("{not json"),
        "a JSON list": _form([ours]),
        "no payload field": urlencode({"command": "/syncwatch"}).encode(),
        "empty body": b"",
        "a JSON body": json.dumps(ours).encode(),
        "someone else's button": _form({**ours, "actions": [{**ours["actions"][0], "action_id": "approve_refund"}]}),
        "no actions": _form({**ours, "actions": []}),
        "no user": _form({key: value for key, value in ours.items() if key != "user"}),
        "a value that is not a number": _form({**ours, "actions": [{**ours["actions"][0], "value": "seven"}]}),
        "a payload that is not UTF-8": b"payload=%FF%FE%7B%7D",
    }


@pytest.mark.parametrize("kind", list(_garbage(1)))
def test_a_payload_that_is_not_ours_is_refused_400(desk: Desk, kind: str) -> None:
    incident_id, _ = _announced(desk)
    before = _snapshot(desk, incident_id)
    answer = desk.click(_garbage(incident_id)[kind])
    _refused_unchanged(desk, incident_id, answer, 400, before)


@pytest.mark.parametrize("kind", ["user is a string", "an action is a string", "actions is a string"])
def test_a_malformed_block_actions_payload_is_refused_400(desk: Desk, kind: str) -> None:
    incident_id, _ = _announced(desk)
    before = _snapshot(desk, incident_id)
    ours = _payload_of(action_payload(ACK_ACTION, str(incident_id), PRIYA))
    bad = {
        "user is a string": {**ours, "user": PRIYA},
        "an action is a string": {**ours, "actions": [ACK_ACTION]},
        "actions is a string": {**ours, "actions": ACK_ACTION},
    }[kind]
    answer = desk.click(_form(bad))
    _refused_unchanged(desk, incident_id, answer, 400, before)
