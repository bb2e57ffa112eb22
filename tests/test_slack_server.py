"""The fake Slack Web API, driven by the real ``slack_sdk.WebClient``."""

from __future__ import annotations

import http.client
import json
import types
import urllib.request
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, HeaderBlock, SectionBlock
from slack_sdk.models.metadata import Metadata
from slack_sdk.signature import Clock, SignatureVerifier

from monitor.loopback import LoopbackServer
from tests.slack_server import (
    TOKEN,
    FakeSlack,
    RecordingRateLimitHandler,
    action_payload,
    block_problems,
    sign_request,
    web_client,
)
from tests.support import FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1000.0)


@pytest.fixture
def slack(clock: FakeClock) -> FakeSlack:
    return FakeSlack(channels={"C1", "C2"}, users={"U1"}, clock=clock.monotonic)


@pytest.fixture
def server(slack: FakeSlack) -> Iterator[LoopbackServer]:
    with LoopbackServer(slack) as server:
        yield server


def error_of(excinfo: pytest.ExceptionInfo[SlackApiError]) -> tuple[int, str]:
    response = excinfo.value.response
    return response.status_code, response["error"]


def test_auth_test(server: LoopbackServer, slack: FakeSlack) -> None:
    answer = web_client(server).auth_test()
    assert answer["ok"] and answer["user_id"] == slack.bot_user_id and answer["bot_id"] == slack.bot_id
    (call,) = slack.calls("auth.test")
    assert call.authed and call.ok
    assert "authorization" not in call.headers  # the token is not kept


def test_root_reply_update_recorded(server: LoopbackServer, slack: FakeSlack) -> None:
    client = web_client(server)
    blocks = [HeaderBlock(text="Orders lagging"), SectionBlock(text="*shopify → erp*: 42 min behind")]
    root = client.chat_postMessage(channel="C1", text="Orders lagging", blocks=blocks)
    assert root["channel"] == "C1" and root["message"]["text"] == "Orders lagging"
    reply = client.chat_postMessage(channel="C1", text="still lagging", thread_ts=root["ts"], reply_broadcast=True)
    assert reply["message"]["thread_ts"] == root["ts"]
    assert float(reply["ts"]) > float(root["ts"])
    updated = client.chat_update(channel="C1", ts=root["ts"], text="Resolved")
    assert updated["ts"] == root["ts"] and updated["message"]["edited"]["user"] == slack.bot_user_id

    (parent,) = slack.roots("C1")
    assert parent.ts == root["ts"] and parent.text == "Resolved" and parent.edits == 1
    assert parent.blocks is not None and parent.blocks[0]["type"] == "header"  # kept: the update sent no blocks
    (thread_reply,) = slack.replies("C1", root["ts"])
    assert thread_reply.text == "still lagging" and thread_reply.reply_broadcast
    (edit,) = slack.edits
    assert (edit.old_text, edit.text) == ("Orders lagging", "Resolved")
    assert slack.roots("C2") == [] and slack.violations == []
    # slack_sdk sends these methods as JSON, with blocks as a list of objects.
    post = slack.calls("chat.postMessage")[0]
    assert post.headers["content-type"].startswith("application/json")
    assert post.params["blocks"][1]["text"]["text"] == "*shopify → erp*: 42 min behind"


def test_blocks_as_a_form_field_are_parsed(server: LoopbackServer, slack: FakeSlack) -> None:
    client = web_client(server)
    blocks = json.dumps([{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}])
    client.api_call("chat.postMessage", data={"channel": "C1", "text": "hi", "blocks": blocks})
    (message,) = slack.roots("C1")
    assert message.blocks == [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]
    assert slack.calls("chat.postMessage")[0].headers["content-type"] == "application/x-www-form-urlencoded"


def test_ts_increase(server: LoopbackServer, slack: FakeSlack) -> None:
    client = web_client(server)
    stamps = [client.chat_postMessage(channel="C1", text=str(i))["ts"] for i in range(3)]
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 3
    assert stamps[0] == "1700000000.000100"


def test_thread_ts_of_a_reply_is_rejected(server: LoopbackServer, slack: FakeSlack) -> None:
    client = web_client(server)
    root = client.chat_postMessage(channel="C1", text="root")
    reply = client.chat_postMessage(channel="C1", text="reply", thread_ts=root["ts"])
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="reply to a reply", thread_ts=reply["ts"])
    assert error_of(excinfo) == (200, "thread_not_found")
    for ts, channel in (("1.000001", "C1"), (root["ts"], "C2")):  # unknown ts; a parent in another channel
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel=channel, text="x", thread_ts=ts)
        assert error_of(excinfo) == (200, "thread_not_found")
    assert len(slack.replies("C1", root["ts"])) == 1


def test_update_unknown_ts_and_unknown_channel(server: LoopbackServer, slack: FakeSlack) -> None:
    client = web_client(server)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C1", ts="1700000000.999999", text="x")
    assert error_of(excinfo) == (200, "message_not_found")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C404", text="x")
    assert error_of(excinfo) == (200, "channel_not_found")
    assert slack.edits == [] and slack.posted_channels() == []


def test_channel_refusal(server: LoopbackServer, slack: FakeSlack) -> None:
    slack.fail_channel("C2", "not_in_channel")
    with pytest.raises(SlackApiError) as excinfo:
        web_client(server).chat_postMessage(channel="C2", text="x")
    assert error_of(excinfo) == (200, "not_in_channel")


def test_users_info(server: LoopbackServer, slack: FakeSlack) -> None:
    client = web_client(server)
    slack.add_user("U2", real_name="Ada Lovelace", deleted=True)
    assert client.users_info(user="U1")["user"]["id"] == "U1"
    gone = client.users_info(user="U2")["user"]
    assert gone["real_name"] == "Ada Lovelace" and gone["deleted"] is True
    with pytest.raises(SlackApiError) as excinfo:
        client.users_info(user="U999")
    assert error_of(excinfo) == (200, "user_not_found")
    assert slack.calls("users.info")[0].params == {"user": "U1"}  # sent as a form


@pytest.mark.parametrize(("token", "error"), [(None, "not_authed"), ("xoxb-wrong", "invalid_auth")])
def test_auth_required(server: LoopbackServer, slack: FakeSlack, token: str | None, error: str) -> None:
    client = web_client(server, token=token)
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="x")
    assert error_of(excinfo) == (200, error)
    assert slack.messages("C1") == [] and not slack.calls()[0].authed


def test_429_retried_by_rate_limit_handler(server: LoopbackServer, slack: FakeSlack) -> None:
    handler = RecordingRateLimitHandler(max_retry_count=2)
    slack.fail_next("chat.postMessage", 2, 429, retry_after=3)
    answer = web_client(server, retry_handlers=[handler]).chat_postMessage(channel="C1", text="x")
    assert answer["ok"] and handler.sleeps == [3.0, 3.0]
    assert [c.status for c in slack.calls("chat.postMessage")] == [429, 429, 200]
    assert len(slack.roots("C1")) == 1


def test_stock_rate_limit_handler_honours_retry_after(
    server: LoopbackServer, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The unmodified slack_sdk handler, with its module's sleep and jitter replaced."""
    sleeps: list[float] = []
    monkeypatch.setattr(builtin_handlers, "time", types.SimpleNamespace(sleep=sleeps.append))
    monkeypatch.setattr(builtin_handlers, "random", types.SimpleNamespace(random=lambda: 0.0))
    slack.fail_next("chat.postMessage", 1, 429, retry_after=7)
    client = web_client(server, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    assert client.chat_postMessage(channel="C1", text="x")["ok"]
    assert sleeps == [7.0]


def test_429_without_handler_surfaces_with_retry_after(server: LoopbackServer, slack: FakeSlack) -> None:
    slack.fail_next("*", 1, 429)
    with pytest.raises(SlackApiError) as excinfo:
        web_client(server).chat_postMessage(channel="C1", text="x")
    assert error_of(excinfo) == (429, "ratelimited")
    assert excinfo.value.response.headers["Retry-After"] == "1"


@pytest.mark.parametrize(("status", "error"), [(500, "internal_error"), (503, "service_unavailable")])
def test_5xx_surfaces_as_slack_api_error(server: LoopbackServer, slack: FakeSlack, status: int, error: str) -> None:
    slack.fail_next("chat.update", 1, status)
    client = web_client(server)
    root = client.chat_postMessage(channel="C1", text="x")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C1", ts=root["ts"], text="y")
    assert error_of(excinfo) == (status, error)
    assert slack.edits == [] and slack.calls("chat.update")[0].fault == str(status)


def test_drop_raises_connection_error(server: LoopbackServer, slack: FakeSlack) -> None:
    slack.fail_next("chat.postMessage", 1, "drop")
    with pytest.raises(http.client.RemoteDisconnected):
        web_client(server).chat_postMessage(channel="C1", text="x")
    assert slack.messages("C1") == [] and slack.calls()[0].status is None


def test_drop_after_posts_then_retry_duplicates(server: LoopbackServer, slack: FakeSlack) -> None:
    """The answer is lost after the post: a connection retry posts twice (what idempotency must guard)."""
    slack.fail_next("chat.postMessage", 1, "drop_after")
    retry = ConnectionErrorRetryHandler(interval_calculator=FixedValueRetryIntervalCalculator(0))
    web_client(server, retry_handlers=[retry]).chat_postMessage(channel="C1", text="x")
    assert [m.text for m in slack.roots("C1")] == ["x", "x"]


def test_down_until_up(server: LoopbackServer, slack: FakeSlack) -> None:
    client = web_client(server)
    slack.down()
    for _ in range(3):
        with pytest.raises(http.client.RemoteDisconnected):
            client.chat_postMessage(channel="C1", text="x")
    slack.down(503)
    with pytest.raises(SlackApiError) as excinfo:
        client.auth_test()
    assert error_of(excinfo) == (503, "service_unavailable")
    slack.up()
    assert client.chat_postMessage(channel="C1", text="back")["ok"]
    assert [m.text for m in slack.messages("C1")] == ["back"]


def test_slack_error_fault(server: LoopbackServer, slack: FakeSlack) -> None:
    slack.fail_next("chat.postMessage", 1, "token_revoked")
    with pytest.raises(SlackApiError) as excinfo:
        web_client(server).chat_postMessage(channel="C1", text="x")
    assert error_of(excinfo) == (200, "token_revoked")


def test_per_channel_rate_limit(server: LoopbackServer, slack: FakeSlack, clock: FakeClock) -> None:
    slack.channel_rate_limit = True
    client = web_client(server)
    client.chat_postMessage(channel="C1", text="1")
    client.chat_postMessage(channel="C2", text="other channel")  # its own budget
    clock.now += 0.4
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="2")
    assert error_of(excinfo) == (429, "ratelimited")
    assert excinfo.value.response.headers["Retry-After"] == "1"
    clock.now += 0.6
    assert client.chat_postMessage(channel="C1", text="2")["ok"]
    assert [m.text for m in slack.messages("C1")] == ["1", "2"]
    assert [c.at for c in slack.calls("chat.postMessage")] == [1000.0, 1000.0, 1000.4, 1001.0]


def test_invalid_blocks_rejected_and_recorded(server: LoopbackServer, slack: FakeSlack) -> None:
    client = web_client(server)
    too_many = [{"type": "divider"}] * 51
    long_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="x", blocks=too_many)
    assert error_of(excinfo) == (200, "invalid_blocks")
    root = client.chat_postMessage(channel="C1", text="x")
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_update(channel="C1", ts=root["ts"], text="x", blocks=long_section)
    assert error_of(excinfo) == (200, "invalid_blocks")
    assert "[json-pointer:/blocks/0/text/text]" in excinfo.value.response["response_metadata"]["messages"][0]
    with pytest.raises(SlackApiError) as excinfo:
        client.chat_postMessage(channel="C1", text="x" * 40_001)
    assert error_of(excinfo) == (200, "msg_too_long")
    assert [(v.method, v.error) for v in slack.violations] == [
        ("chat.postMessage", "invalid_blocks"),
        ("chat.update", "invalid_blocks"),
        ("chat.postMessage", "msg_too_long"),
    ]
    assert slack.message("C1", root["ts"]).blocks is None and len(slack.messages("C1")) == 1


def test_block_limits() -> None:
    def section(text: str) -> dict[str, object]:
        return {"type": "section", "text": {"type": "mrkdwn", "text": text}}

    button = {"type": "button", "text": {"type": "plain_text", "text": "Ack"}, "action_id": "ack"}
    assert block_problems([section("x" * 3000), {"type": "divider"}] + [{"type": "divider"}] * 48) == []
    assert len(block_problems([{"type": "divider"}] * 51)) == 1
    assert block_problems([section("x" * 3001)])
    assert block_problems([section("")])  # Slack refuses empty text
    assert block_problems([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}])
    assert block_problems([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}])
    fields = [{"type": "mrkdwn", "text": "f"}] * 11
    assert block_problems([{"type": "section", "fields": fields}])
    assert block_problems([{"type": "actions", "elements": [button] * 26}])
    assert block_problems([{"type": "actions", "elements": [button] * 25}]) == []
    long_button = {**button, "text": {"type": "plain_text", "text": "b" * 76}}
    assert block_problems([{"type": "actions", "elements": [long_button]}])
    assert block_problems([{"type": "secton", "text": {"type": "mrkdwn", "text": "typo"}}])
    assert block_problems("not a list")


def test_slack_sdk_models_pass_validation(server: LoopbackServer, slack: FakeSlack) -> None:
    blocks = [
        HeaderBlock(text="h" * 150),
        SectionBlock(text="s" * 3000, fields=["f"] * 10),
        ActionsBlock(elements=[ButtonElement(text="b" * 75, action_id=f"a{i}", value="v") for i in range(25)]),
    ]
    web_client(server).chat_postMessage(channel="C1", text="x", blocks=blocks)
    assert slack.violations == []


def test_bad_requests_are_answered_like_slack(server: LoopbackServer, slack: FakeSlack) -> None:
    def post(path: str, body: bytes, content_type: str) -> dict[str, object]:
        request = urllib.request.Request(
            server.url + path,
            data=body,
            headers={"Content-Type": content_type, "Authorization": f"Bearer {TOKEN}"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())  # type: ignore[no-any-return]

    assert post("/api/chat.postMessage", b"{nope", "application/json")["error"] == "invalid_json"
    assert post("/api/chat.delete", b"channel=C1", "application/x-www-form-urlencoded")["error"] == "unknown_method"
    assert post("/api/chat.postMessage", b"channel=C1", "application/x-www-form-urlencoded")["error"] == "no_text"
    assert slack.messages("C1") == []


# ----- channel names -----

STOCK = "C0STOCK01"


@pytest.fixture
def named(clock: FakeClock) -> FakeSlack:
    return FakeSlack(
        channels={STOCK, "C2"},
        channel_names={"stock-alerts": STOCK, "#unlisted": "C0UNLISTED"},
        clock=clock.monotonic,
    )


def test_channel_names_resolve_to_ids_for_posts_only(named: FakeSlack) -> None:
    with LoopbackServer(named) as server:
        client = web_client(server)
        answers = [client.chat_postMessage(channel=c, text=c) for c in ("#stock-alerts", "stock-alerts", STOCK)]
        assert [a["channel"] for a in answers] == [STOCK] * 3
        reply = client.chat_postMessage(channel="#stock-alerts", text="reply", thread_ts=answers[0]["ts"])
        assert reply["channel"] == STOCK
        for method, kwargs in (
            ("chat.update", {"ts": answers[0]["ts"], "text": "y"}),
            ("conversations.history", {}),
            ("conversations.replies", {"ts": answers[0]["ts"]}),
        ):
            for name in ("#stock-alerts", "stock-alerts"):
                with pytest.raises(SlackApiError) as excinfo:
                    client.api_call(method, json={"channel": name, **kwargs})
                assert error_of(excinfo) == (200, "channel_not_found"), (method, name)
        # An unknown #name, and a known name whose ID is not on the allow-list.
        for channel in ("#nope", "unlisted"):
            with pytest.raises(SlackApiError) as excinfo:
                client.chat_postMessage(channel=channel, text="x")
            assert error_of(excinfo) == (200, "channel_not_found")
    assert [m.text for m in named.messages("#stock-alerts")] == ["#stock-alerts", "stock-alerts", STOCK, "reply"]
    assert named.messages("stock-alerts") == named.messages(STOCK)
    assert [m.text for m in named.roots("stock-alerts")] == ["#stock-alerts", "stock-alerts", STOCK]
    assert [m.text for m in named.replies("#stock-alerts", answers[0]["ts"])] == ["reply"]
    assert named.message("stock-alerts", answers[0]["ts"]).channel == STOCK
    assert named.posted_channels() == [STOCK] and named.edits == []


def test_fail_channel_and_rate_limit_follow_the_id(named: FakeSlack, clock: FakeClock) -> None:
    named.channel_rate_limit = True
    named.fail_channel("#stock-alerts", "not_in_channel")
    with LoopbackServer(named) as server:
        client = web_client(server)
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel=STOCK, text="x")
        assert error_of(excinfo) == (200, "not_in_channel")
        named.fail_channel(STOCK, None)
        client.chat_postMessage(channel="stock-alerts", text="1")
        with pytest.raises(SlackApiError) as excinfo:
            client.chat_postMessage(channel=STOCK, text="2")  # the same channel's budget
        assert error_of(excinfo) == (429, "ratelimited")


# ----- metadata -----

INCIDENT = {"event_type": "syncwatch_incident", "event_payload": {"incident_id": "inc-7", "kind": "opened"}}


def test_metadata_round_trip_through_history_and_replies(server: LoopbackServer, slack: FakeSlack) -> None:
    client = web_client(server)
    root = client.chat_postMessage(channel="C1", text="breach", metadata=INCIDENT)
    assert "metadata" not in root["message"]  # chat.* answers never carry it
    reply = client.chat_postMessage(
        channel="C1",
        text="worse",
        thread_ts=root["ts"],
        metadata=Metadata(event_type="syncwatch_notice", event_payload={"incident_id": "inc-7", "kind": "worse"}),
    )
    post = slack.calls("chat.postMessage")[0]
    assert post.headers["content-type"].startswith("application/json") and post.params["metadata"] == INCIDENT
    assert slack.message("C1", root["ts"]).metadata == INCIDENT

    (with_metadata,) = client.conversations_history(channel="C1", include_all_metadata=True)["messages"]
    assert with_metadata["ts"] == root["ts"] and with_metadata["metadata"] == INCIDENT
    (without,) = client.conversations_history(channel="C1")["messages"]
    assert "metadata" not in without
    thread = client.conversations_replies(channel="C1", ts=root["ts"], include_all_metadata=True)["messages"]
    assert [m["metadata"]["event_type"] for m in thread] == ["syncwatch_incident", "syncwatch_notice"]
    assert thread[1]["ts"] == reply["ts"]
    assert all("metadata" not in m for m in client.conversations_replies(channel="C1", ts=root["ts"])["messages"])
    assert slack.calls("conversations.history")[0].params["include_all_metadata"] == "1"  # a GET query

    # chat.update replaces metadata it is given and keeps it otherwise.
    resolved = {"event_type": "syncwatch_incident", "event_payload": {"incident_id": "inc-7", "kind": "resolved"}}
    client.chat_update(channel="C1", ts=root["ts"], text="Resolved")
    assert slack.message("C1", root["ts"]).metadata == INCIDENT
    client.chat_update(channel="C1", ts=root["ts"], text="Resolved", metadata=resolved)
    (latest,) = client.conversations_history(channel="C1", include_all_metadata=True)["messages"]
    assert latest["metadata"] == resolved and latest["text"] == "Resolved"


@pytest.mark.parametrize(
    "metadata",
    [
        "not json",
        ["a list"],
        {"event_payload": {}},
        {"event_type": "", "event_payload": {}},
        {"event_type": 7, "event_payload": {}},
        {"event_type": "x"},
        {"event_type": "x", "event_payload": "not an object"},
    ],
)
def test_invalid_metadata_refused(server: LoopbackServer, slack: FakeSlack, metadata: Any) -> None:
    client = web_client(server)
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.postMessage", json={"channel": "C1", "text": "x", "metadata": metadata})
    assert error_of(excinfo) == (200, "invalid_metadata_format")
    root = client.chat_postMessage(channel="C1", text="x")
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("chat.update", json={"channel": "C1", "ts": root["ts"], "text": "y", "metadata": metadata})
    assert error_of(excinfo) == (200, "invalid_metadata_format")
    assert [m.text for m in slack.messages("C1")] == ["x"] and slack.edits == []


def test_metadata_as_a_form_field_is_parsed(server: LoopbackServer, slack: FakeSlack) -> None:
    form = {"channel": "C1", "text": "x", "metadata": json.dumps(INCIDENT)}
    web_client(server).api_call("chat.postMessage", data=form)
    assert slack.roots("C1")[0].metadata == INCIDENT


# ----- conversations.history / conversations.replies -----


def test_history_lists_roots_and_broadcasts_newest_first(server: LoopbackServer, slack: FakeSlack) -> None:
    client = web_client(server)
    first = client.chat_postMessage(channel="C1", text="first")
    second = client.chat_postMessage(channel="C1", text="second")
    client.chat_postMessage(channel="C1", text="quiet reply", thread_ts=first["ts"])
    loud = client.chat_postMessage(channel="C1", text="loud reply", thread_ts=first["ts"], reply_broadcast=True)
    client.chat_postMessage(channel="C2", text="elsewhere")

    answer = client.conversations_history(channel="C1")
    assert answer["has_more"] is False and "response_metadata" not in answer
    assert [m["text"] for m in answer["messages"]] == ["loud reply", "second", "first"]
    broadcast, plain, threaded = answer["messages"]
    assert broadcast["subtype"] == "thread_broadcast" and broadcast["thread_ts"] == first["ts"]
    assert "thread_ts" not in plain and "reply_count" not in plain and plain["ts"] == second["ts"]
    assert threaded["thread_ts"] == first["ts"] and threaded["reply_count"] == 2
    assert threaded["latest_reply"] == loud["ts"] and threaded["reply_users"] == [slack.bot_user_id]
    assert client.conversations_history(channel="C2")["messages"][0]["text"] == "elsewhere"
    with pytest.raises(SlackApiError) as excinfo:
        client.conversations_history(channel="C404")
    assert error_of(excinfo) == (200, "channel_not_found")


def test_history_pagination(server: LoopbackServer, slack: FakeSlack) -> None:
    client = web_client(server)
    stamps = [client.chat_postMessage(channel="C1", text=str(i))["ts"] for i in range(5)]
    first = client.conversations_history(channel="C1", limit=2)
    assert [m["text"] for m in first["messages"]] == ["4", "3"] and first["has_more"] is True
    cursor = first["response_metadata"]["next_cursor"]
    assert cursor and cursor not in stamps  # opaque
    client.chat_postMessage(channel="C1", text="posted between pages")  # does not shift the next page
    second = client.conversations_history(channel="C1", limit=2, cursor=cursor)
    assert [m["text"] for m in second["messages"]] == ["2", "1"]
    third = client.conversations_history(channel="C1", limit=2, cursor=second["response_metadata"]["next_cursor"])
    assert [m["text"] for m in third["messages"]] == ["0"] and third["has_more"] is False
    # slack_sdk's own iteration follows next_cursor to the end.
    pages = [[m["text"] for m in page["messages"]] for page in client.conversations_history(channel="C1", limit=4)]
    assert pages == [["posted between pages", "4", "3", "2"], ["1", "0"]]
    *_, asked, followed = slack.calls("conversations.history")
    assert "cursor" not in asked.params and asked.response is not None
    assert followed.params["cursor"] == asked.response["response_metadata"]["next_cursor"]
    for bad in ("bm9wZQ==", "%%%"):  # base64 of "nope"; not base64
        with pytest.raises(SlackApiError) as excinfo:
            client.conversations_history(channel="C1", cursor=bad)
        assert error_of(excinfo) == (200, "invalid_cursor")
    for limit in (0, -1, "many"):
        with pytest.raises(SlackApiError) as excinfo:
            client.api_call("conversations.history", http_verb="GET", params={"channel": "C1", "limit": limit})
        assert error_of(excinfo) == (200, "invalid_arguments")


def test_history_limit_defaults_to_100(server: LoopbackServer, slack: FakeSlack) -> None:
    client = web_client(server)
    for i in range(101):
        client.chat_postMessage(channel="C1", text=str(i))
    answer = client.conversations_history(channel="C1")
    assert len(answer["messages"]) == 100 and answer["has_more"] is True
    assert len(client.conversations_history(channel="C1", limit=5000)["messages"]) == 101  # 999 at most


def test_history_oldest_latest_inclusive(server: LoopbackServer, slack: FakeSlack) -> None:
    client = web_client(server)
    a, b, c = (client.chat_postMessage(channel="C1", text=t)["ts"] for t in "abc")

    def texts(**kwargs: Any) -> list[str]:
        return [m["text"] for m in client.conversations_history(channel="C1", **kwargs)["messages"]]

    assert texts(oldest=a) == ["c", "b"]
    assert texts(oldest=a, inclusive=True) == ["c", "b", "a"]
    assert texts(latest=c) == ["b", "a"]
    assert texts(oldest=a, latest=c) == ["b"]
    assert texts(oldest=a, latest=c, inclusive=True) == ["c", "b", "a"]
    assert texts(oldest=b.split(".")[0]) == ["c", "b", "a"]  # whole seconds are fine
    for key in ("oldest", "latest"):
        with pytest.raises(SlackApiError) as excinfo:
            client.api_call("conversations.history", http_verb="GET", params={"channel": "C1", key: "yesterday"})
        assert error_of(excinfo) == (200, f"invalid_ts_{key}")


def test_replies_parent_first_then_oldest_first(server: LoopbackServer, slack: FakeSlack) -> None:
    client = web_client(server)
    root = client.chat_postMessage(channel="C1", text="root")
    lone = client.chat_postMessage(channel="C1", text="no thread")
    replies = [client.chat_postMessage(channel="C1", text=f"r{i}", thread_ts=root["ts"])["ts"] for i in range(3)]

    answer = client.conversations_replies(channel="C1", ts=root["ts"])
    assert [m["text"] for m in answer["messages"]] == ["root", "r0", "r1", "r2"] and answer["has_more"] is False
    parent, *rest = answer["messages"]
    assert parent["thread_ts"] == root["ts"] and parent["reply_count"] == 3 and parent["latest_reply"] == replies[-1]
    assert all(m["thread_ts"] == root["ts"] and m["parent_user_id"] == slack.bot_user_id for m in rest)
    # A reply's ts stands for its thread; a message without replies is answered alone.
    assert [m["text"] for m in client.conversations_replies(channel="C1", ts=replies[1])["messages"]][0] == "root"
    (alone,) = client.conversations_replies(channel="C1", ts=lone["ts"])["messages"]
    assert alone["text"] == "no thread" and "reply_count" not in alone
    # oldest filters the replies only.
    after = client.conversations_replies(channel="C1", ts=root["ts"], oldest=replies[0])["messages"]
    assert [m["text"] for m in after] == ["root", "r1", "r2"]

    paged = client.conversations_replies(channel="C1", ts=root["ts"], limit=3)
    pages = [[m["text"] for m in page["messages"]] for page in paged]
    assert pages == [["root", "r0", "r1"], ["r2"]]


def test_replies_unknown_thread(server: LoopbackServer, slack: FakeSlack) -> None:
    client = web_client(server)
    root = client.chat_postMessage(channel="C1", text="root")
    for channel, ts in (("C1", "1700000099.000100"), ("C2", root["ts"])):
        with pytest.raises(SlackApiError) as excinfo:
            client.conversations_replies(channel=channel, ts=ts)
        assert error_of(excinfo) == (200, "thread_not_found")
    with pytest.raises(SlackApiError) as excinfo:
        client.api_call("conversations.replies", http_verb="GET", params={"channel": "C1"})
    assert error_of(excinfo) == (200, "invalid_arguments")


# ----- scopes -----


def test_missing_scope_and_scope_headers(clock: FakeClock) -> None:
    slack = FakeSlack(channels={"C1"}, users={"U1"}, clock=clock.monotonic, scopes=["chat:write", "users:read"])
    with LoopbackServer(slack) as server:
        client = web_client(server)
        posted = client.chat_postMessage(channel="C1", text="x")
        assert posted.headers["x-oauth-scopes"] == "chat:write,users:read"
        assert posted.headers["x-accepted-oauth-scopes"] == "chat:write"
        assert client.users_info(user="U1").headers["x-oauth-scopes"] == "chat:write,users:read"
        for method, params in (
            ("conversations.history", {"channel": "C1"}),
            ("conversations.replies", {"channel": "C1", "ts": posted["ts"]}),
        ):
            with pytest.raises(SlackApiError) as excinfo:
                client.api_call(method, http_verb="GET", params=params)
            response = excinfo.value.response
            assert response.status_code == 200
            assert response.data == {
                "ok": False,
                "error": "missing_scope",
                "needed": "channels:history",
                "provided": "chat:write,users:read",
            }
            assert response.headers["x-oauth-scopes"] == "chat:write,users:read"
        slack.fail_next("auth.test", 1, 503)  # faults carry the header too
        with pytest.raises(SlackApiError) as excinfo:
            client.auth_test()
        assert excinfo.value.response.headers["x-oauth-scopes"] == "chat:write,users:read"

    reader = FakeSlack(clock=clock.monotonic, scopes=["channels:history"])
    with LoopbackServer(reader) as server:
        client = web_client(server)
        for method, params, needed in (
            ("chat.postMessage", {"channel": "C1", "text": "x"}, "chat:write"),
            ("chat.update", {"channel": "C1", "ts": "1700000000.000100", "text": "x"}, "chat:write"),
            ("users.info", {"user": "U1"}, "users:read"),
        ):
            with pytest.raises(SlackApiError) as excinfo:
                client.api_call(method, json=params)
            assert (excinfo.value.response["error"], excinfo.value.response["needed"]) == ("missing_scope", needed)
            assert excinfo.value.response["provided"] == "channels:history"
        assert client.conversations_history(channel="C1")["messages"] == []
        assert client.auth_test()["ok"]  # needs no scope
    assert reader.messages("C1") == []


def test_no_scope_header_without_scopes(server: LoopbackServer, slack: FakeSlack) -> None:
    answer = web_client(server).chat_postMessage(channel="C1", text="x")
    assert "x-oauth-scopes" not in {k.lower() for k in answer.headers}
    assert web_client(server).conversations_history(channel="C1")["ok"]


# ----- faults on the new methods -----


def test_drop_after_post_then_history_shows_it(server: LoopbackServer, slack: FakeSlack) -> None:
    """The post happened but the answer was lost: history (with metadata) is how the caller finds out."""
    client = web_client(server)
    slack.fail_next("chat.postMessage", 1, "drop_after")
    with pytest.raises(http.client.RemoteDisconnected):
        client.chat_postMessage(channel="C1", text="breach", metadata=INCIDENT)
    (call,) = slack.calls("chat.postMessage")
    assert call.status is None and call.fault == "drop_after" and call.response is not None and call.response["ok"]
    (found,) = client.conversations_history(channel="C1", include_all_metadata=True, limit=20)["messages"]
    assert found["ts"] == call.response["ts"] and found["metadata"] == INCIDENT
    # Having found it, the caller threads under it rather than posting the root again.
    client.chat_postMessage(channel="C1", text="still failing", thread_ts=found["ts"])
    assert [m.text for m in slack.roots("C1")] == ["breach"]


@pytest.mark.parametrize("method", ["conversations.history", "conversations.replies"])
def test_faults_on_reads(server: LoopbackServer, slack: FakeSlack, method: str) -> None:
    client = web_client(server)
    root = client.chat_postMessage(channel="C1", text="root")

    def read() -> Any:
        if method == "conversations.history":
            return client.conversations_history(channel="C1")
        return client.conversations_replies(channel="C1", ts=root["ts"])

    slack.fail_next(method, 1, 429, retry_after=4)
    with pytest.raises(SlackApiError) as excinfo:
        read()
    assert error_of(excinfo) == (429, "ratelimited") and excinfo.value.response.headers["Retry-After"] == "4"
    slack.fail_next(method, 1, "drop")
    with pytest.raises(http.client.RemoteDisconnected):
        read()
    slack.fail_next(method, 1, "drop_after")
    with pytest.raises(http.client.RemoteDisconnected):
        read()
    slack.fail_next(method, 1, "not_in_channel")
    with pytest.raises(SlackApiError) as excinfo:
        read()
    assert error_of(excinfo) == (200, "not_in_channel")
    slack.down(500)
    with pytest.raises(SlackApiError) as excinfo:
        read()
    assert error_of(excinfo) == (500, "internal_error")
    slack.up()
    assert read()["messages"][0]["text"] == "root"
    assert [c.fault for c in slack.calls(method)] == ["429", "drop", "drop_after", "not_in_channel", "500", None]


def test_history_429_retried_by_rate_limit_handler(server: LoopbackServer, slack: FakeSlack) -> None:
    handler = RecordingRateLimitHandler(max_retry_count=1)
    slack.fail_next("conversations.history", 1, 429, retry_after=2)
    assert web_client(server, retry_handlers=[handler]).conversations_history(channel="C1")["ok"]
    assert handler.sleeps == [2.0]


# ----- interactivity -----


class FixedClock(Clock):
    def __init__(self, now: float) -> None:
        self._now = now

    def now(self) -> float:
        return self._now


def test_sign_request_verified_by_slack_sdk() -> None:
    body = action_payload("syncwatch_ack", "inc-7", "U1")
    headers = sign_request(body, "s3cret", 1_700_000_000)
    assert set(headers) == {"X-Slack-Request-Timestamp", "X-Slack-Signature"}
    assert headers["X-Slack-Request-Timestamp"] == "1700000000" and headers["X-Slack-Signature"].startswith("v0=")
    verifier = SignatureVerifier("s3cret", clock=FixedClock(1_700_000_000 + 300))
    assert verifier.is_valid_request(body, headers)
    assert verifier.is_valid_request(body.decode(), {k.lower(): v for k, v in headers.items()})
    assert not verifier.is_valid_request(body + b"x", headers)
    assert not SignatureVerifier("other", clock=FixedClock(1_700_000_000)).is_valid_request(body, headers)
    assert not SignatureVerifier("s3cret", clock=FixedClock(1_700_000_000 + 301)).is_valid_request(body, headers)


def test_action_payload_is_a_block_actions_form() -> None:
    body = action_payload("syncwatch_ack", "inc-7", "U1", channel="C9", message_ts="1700000123.000400")
    form = parse_qs(body.decode(), strict_parsing=True)
    assert list(form) == ["payload"]
    payload = json.loads(form["payload"][0])
    assert payload["type"] == "block_actions"
    assert payload["user"]["id"] == "U1" and payload["user"]["username"] == "u1"
    assert payload["team"]["id"] == "T0SYNCWAT" and payload["channel"] == {"id": "C9"}
    assert payload["container"] == {
        "type": "message",
        "message_ts": "1700000123.000400",
        "channel_id": "C9",
        "is_ephemeral": False,
    }
    assert payload["message"]["ts"] == "1700000123.000400"
    (action,) = payload["actions"]
    assert (action["action_id"], action["value"], action["type"]) == ("syncwatch_ack", "inc-7", "button")
    assert action["block_id"] and float(action["action_ts"]) > float("1700000123.000400")
    assert payload["response_url"].startswith("http://127.0.0.1:") and payload["trigger_id"]
    assert action_payload("a", "v", "U1") == action_payload("a", "v", "U1")  # deterministic
    custom = action_payload("a", "v", "U1", response_url="http://127.0.0.1:1234/respond")
    assert json.loads(parse_qs(custom.decode())["payload"][0])["response_url"] == "http://127.0.0.1:1234/respond"


def test_files_upload_v2_sends_the_bytes_and_shares_them_in_the_channel() -> None:
    slack = FakeSlack(channel_names={"leadership": "C0LEADERS"})
    with LoopbackServer(slack) as server:
        client = web_client(server)
        done = client.files_upload_v2(channel="C0LEADERS", filename="week-48.html", content="<p>report</p>",
                                      title="Integration health, week 48", initial_comment="The weekly summary")
        assert done["ok"]
        with pytest.raises(SlackApiError) as refused:
            client.files_upload_v2(channel="#leadership", filename="x.html", content="x")  # an ID is needed
    (upload,) = slack.uploads("#leadership")
    assert upload.data == b"<p>report</p>" and upload.title == "Integration health, week 48"
    assert upload.channel == "C0LEADERS" and upload.initial_comment == "The weekly summary"
    assert refused.value.response["error"] == "channel_not_found"


def test_files_upload_needs_the_files_write_scope() -> None:
    slack = FakeSlack(scopes={"chat:write"})
    with LoopbackServer(slack) as server, pytest.raises(SlackApiError) as refused:
        web_client(server).files_upload_v2(channel="C0LEADERS", filename="r.html", content="x")
    assert refused.value.response["error"] == "missing_scope" and refused.value.response["needed"] == "files:write"
