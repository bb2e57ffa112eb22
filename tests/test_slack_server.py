"""The fake Slack Web API, driven by the real ``slack_sdk.WebClient``."""

from __future__ import annotations

import http.client
import json
import types
import urllib.request
from collections.abc import Iterator

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.models.blocks import ActionsBlock, ButtonElement, HeaderBlock, SectionBlock

from monitor.loopback import LoopbackServer
from tests.slack_server import (
    TOKEN,
    FakeSlack,
    RecordingRateLimitHandler,
    block_problems,
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
