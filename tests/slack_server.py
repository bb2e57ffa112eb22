"""A fake Slack Web API for tests, served by ``LoopbackServer``.

``FakeSlack`` answers ``auth.test``, ``chat.postMessage``, ``chat.update``,
``conversations.history``, ``conversations.replies`` and ``users.info`` the way
Slack does (HTTP 200 with ``{"ok": false, "error": ...}`` for API errors),
records every call and the resulting channel state, and injects faults on
demand (``fail_next``, ``down``; they apply to every method alike)::

    slack = FakeSlack(users={"U1"}, channel_names={"stock-alerts": "C0STOCK01"})
    with LoopbackServer(slack) as server:
        client = web_client(server)          # the real slack_sdk.WebClient
        root = client.chat_postMessage(channel="#stock-alerts", text="breach",
                                       metadata={"event_type": "incident", "event_payload": {"id": "7"}})
        client.chat_postMessage(channel=root["channel"], text="still failing", thread_ts=root["ts"])
        page = client.conversations_history(channel="C0STOCK01", include_all_metadata=True)
    assert root["channel"] == "C0STOCK01" and page["messages"][0]["metadata"]["event_type"] == "incident"
    assert [m.text for m in slack.replies("#stock-alerts", root["ts"])] == ["still failing"]
    assert slack.violations == []

``sign_request`` and ``action_payload`` build what Slack sends to an app's
interactivity URL when a button is clicked (a signed ``block_actions`` form).

Channels: ``chat.postMessage`` takes an ID, ``#name`` or ``name`` (resolved by
``channel_names``) and answers with, and stores under, the ID; ``chat.update``
and the ``conversations.*`` methods take only the ID (a name is
``channel_not_found``, as in Slack). The helper accessors take either.

Deliberate simplifications, each stricter than Slack or a plain model of it:

* Threads: ``thread_ts`` must be the ts of a root message in the same channel.
  A reply's ts is answered ``thread_not_found`` too (Slack's docs say never to
  use a reply's ts; the real service may quietly attach it to the parent).
* The optional per-channel rate limit allows one ``chat.postMessage`` per
  channel per second with no burst, and counts only accepted posts.
* A top-level ``text`` over 40,000 characters is answered ``msg_too_long``
  (Slack truncates it silently; a test would rather know).
* Only the ``Authorization: Bearer`` header authenticates (slack_sdk never sends
  a ``token`` field). Missing: ``not_authed``; unknown token: ``invalid_auth``.
* Missing required arguments are answered ``invalid_arguments``; so is a
  ``limit`` that is not a positive integer (over 999 is taken as 999).
* A bare ``channel`` that is not a known name is taken as an ID; ``#name`` must
  be known. Every channel is public: history needs ``channels:history``.
* Metadata must be ``{"event_type": str, "event_payload": object}`` (other keys
  are dropped); it appears in messages only with ``include_all_metadata``, never
  in the ``chat.*`` answers. A ``chat.update`` without metadata keeps the old.
* ``conversations.history`` lists roots and thread broadcasts, newest first.
  ``conversations.replies`` lists the parent, then its replies oldest first;
  ``oldest``/``latest`` filter only the replies, and a reply's ts stands for its
  thread. Both page with ``limit`` and an opaque ``next_cursor`` (given only
  while ``has_more``); ``fail_channel`` errors do not apply to them.
* Scopes (when given) are the same for every token; ``x-oauth-scopes`` (and
  ``x-accepted-oauth-scopes`` for methods needing one) come on every answer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlencode

from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from monitor.loopback import LoopbackRequest, LoopbackResponse, LoopbackServer

__all__ = [
    "TOKEN",
    "BlockViolation",
    "FakeSlack",
    "RecordingRateLimitHandler",
    "SlackCall",
    "SlackEdit",
    "SlackMessage",
    "action_payload",
    "block_problems",
    "sign_request",
    "web_client",
]

TOKEN = "xoxb-test-token"

# Block Kit limits (Slack docs; the same constants as slack_sdk 3.48's models).
MAX_BLOCKS = 50
MAX_TEXT = 40_000
SECTION_TEXT = 3000
SECTION_FIELDS = 10
SECTION_FIELD_TEXT = 2000
HEADER_TEXT = 150
MARKDOWN_TEXT = 12_000
ACTIONS_ELEMENTS = 25
CONTEXT_ELEMENTS = 10
BUTTON_TEXT = 75
BUTTON_VALUE = 2000
URL_LENGTH = 3000
ID_LENGTH = 255  # block_id and action_id

BLOCK_TYPES = frozenset(
    {"actions", "context", "divider", "file", "header", "image", "input", "markdown", "rich_text", "section", "video"}
)

# Fault kinds with a meaning of their own; any other string is answered as a Slack API error of that name.
HTTP_FAULTS = {429: "ratelimited", 500: "internal_error", 503: "service_unavailable"}
DROP = "drop"  # close the connection without answering, before doing anything
DROP_AFTER = "drop_after"  # do the work, then close without answering (the caller cannot know it happened)

Fault = int | str

# The scope each method needs when ``FakeSlack(scopes=...)`` is given (all channels are public ones).
NEEDED_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "conversations.history": "channels:history",
    "conversations.replies": "channels:history",
    "users.info": "users:read",
    "files.getUploadURLExternal": "files:write",
    "files.completeUploadExternal": "files:write",
}
HISTORY_LIMIT = 100  # conversations.history / replies: default page size
HISTORY_MAX_LIMIT = 999


UPLOAD_PATH = "/upload/v1/"  # where files.getUploadURLExternal sends the bytes (files.slack.com in Slack)


@dataclass
class UploadedFile:
    """A file sent with files_upload_v2: its bytes once uploaded, its channel once completed."""

    file_id: str
    filename: str
    length: int
    data: bytes | None = None
    title: str | None = None
    channel: str | None = None
    initial_comment: str | None = None
    completed: bool = False


@dataclass(frozen=True)
class SlackCall:
    """One API call as received and answered. ``headers`` omit ``authorization``;
    ``status`` is None when the connection was dropped."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    authed: bool
    status: int | None
    response: dict[str, Any] | None
    fault: str | None
    at: float

    @property
    def ok(self) -> bool:
        return self.status == 200 and bool(self.response and self.response.get("ok"))

    @property
    def error(self) -> str | None:
        return None if self.response is None else self.response.get("error")


@dataclass
class SlackMessage:
    """A message in a channel. ``thread_ts`` is the parent's ts for a reply, None for a root."""

    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]] | None
    thread_ts: str | None = None
    reply_broadcast: bool = False
    edits: int = 0
    edited_ts: str | None = None
    metadata: dict[str, Any] | None = None

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None


@dataclass(frozen=True)
class SlackEdit:
    """One accepted ``chat.update``: the message before and after."""

    channel: str
    ts: str
    old_text: str
    old_blocks: list[dict[str, Any]] | None
    text: str
    blocks: list[dict[str, Any]] | None


@dataclass(frozen=True)
class BlockViolation:
    """A message refused for its content (``invalid_blocks`` or ``msg_too_long``)."""

    method: str
    channel: str
    error: str
    problems: tuple[str, ...]


@dataclass
class _User:
    id: str
    name: str
    real_name: str
    deleted: bool = False
    is_bot: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


class FakeSlack:
    """A ``LoopbackServer`` handler playing Slack's Web API (see the module docstring).

    ``channels``: an allow-list of channel IDs (others get ``channel_not_found``);
    None accepts any. ``channel_names``: name (without ``#``) to ID, for
    ``chat.postMessage`` and the accessors. ``users``: known user IDs for
    ``users.info``. ``clock``: seconds, for the per-channel rate limit and the
    call record. ``channel_rate_limit``: refuse a second post to a channel
    within a second. ``scopes``: the token's granted scopes; None grants all
    and sends no ``x-oauth-scopes`` header.
    """

    def __init__(
        self,
        *,
        tokens: Iterable[str] = (TOKEN,),
        channels: Iterable[str] | None = None,
        channel_names: Mapping[str, str] = {},
        users: Iterable[str] = (),
        clock: Callable[[], float] = time.monotonic,
        channel_rate_limit: bool = False,
        team_id: str = "T0SYNCWAT",
        bot_user_id: str = "U0SYNCBOT",
        bot_id: str = "B0SYNCBOT",
        first_ts: int = 1_700_000_000_000_100,
        scopes: Iterable[str] | None = None,
    ) -> None:
        self.tokens = set(tokens)
        self.channels = None if channels is None else set(channels)
        self.channel_names = {name.removeprefix("#"): channel_id for name, channel_id in channel_names.items()}
        self.scopes = None if scopes is None else tuple(dict.fromkeys(scopes))
        self.clock = clock
        self.channel_rate_limit = channel_rate_limit
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self._lock = threading.RLock()
        self._next_ts = first_ts  # microseconds
        self._users: dict[str, _User] = {}
        for user_id in users:
            self.add_user(user_id)
        self._messages: dict[str, dict[str, SlackMessage]] = {}
        self._calls: list[SlackCall] = []
        self.edits: list[SlackEdit] = []
        self.violations: list[BlockViolation] = []
        self._faults: dict[str, deque[tuple[Fault, int]]] = {}
        self._down: tuple[Fault, int] | None = None
        self._channel_errors: dict[str, str] = {}
        self._last_post: dict[str, float] = {}
        self._files: dict[str, UploadedFile] = {}
        self._host = "http://127.0.0.1"  # where this server is reached; learnt from each request's Host

    # ----- configuration -----

    def add_user(
        self,
        user_id: str,
        *,
        name: str | None = None,
        real_name: str | None = None,
        deleted: bool = False,
        is_bot: bool = False,
        **extra: Any,
    ) -> None:
        """Make ``user_id`` known to ``users.info`` (``extra`` goes into the user object)."""
        with self._lock:
            self._users[user_id] = _User(
                user_id, name or user_id.lower(), real_name or f"User {user_id}", deleted, is_bot, extra
            )

    def fail_next(self, method: str, n: int = 1, kind: Fault = 429, *, retry_after: int = 1) -> None:
        """Answer the next ``n`` calls of ``method`` (``"*"``: any method) with ``kind``.

        ``kind``: 429 (``Retry-After: retry_after``, error ``ratelimited``), 500, 503,
        ``"drop"``, ``"drop_after"``, or any other string, answered as HTTP 200 with
        that Slack error (``"token_revoked"``, ``"is_archived"``...).
        """
        _check_fault(kind)
        with self._lock:
            queue = self._faults.setdefault(method, deque())
            queue.extend([(kind, retry_after)] * n)

    def down(self, kind: Fault = DROP, *, retry_after: int = 1) -> None:
        """Fail every call with ``kind`` until ``up()``: Slack unreachable."""
        _check_fault(kind)
        with self._lock:
            self._down = (kind, retry_after)

    def up(self) -> None:
        with self._lock:
            self._down = None

    def fail_channel(self, channel: str, error: str | None) -> None:
        """Answer posts and updates in ``channel`` (ID or name) with ``error`` (``not_in_channel``...); None clears."""
        with self._lock:
            channel = self.channel_id(channel)
            if error is None:
                self._channel_errors.pop(channel, None)
            else:
                self._channel_errors[channel] = error

    # ----- what happened -----

    def calls(self, method: str | None = None) -> list[SlackCall]:
        """Every call, or those of ``method``, in arrival order."""
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def channel_id(self, channel: str) -> str:
        """The ID of ``channel``: a known ``name`` or ``#name`` resolved, anything else as is."""
        return self.channel_names.get(channel.removeprefix("#"), channel)

    def messages(self, channel: str) -> list[SlackMessage]:
        """Roots and replies of ``channel`` (ID or name) in posting order."""
        with self._lock:
            return list(self._messages.get(self.channel_id(channel), {}).values())

    def roots(self, channel: str) -> list[SlackMessage]:
        return [m for m in self.messages(channel) if m.thread_ts is None]

    def replies(self, channel: str, ts: str) -> list[SlackMessage]:
        """The thread replies under the root ``ts``."""
        return [m for m in self.messages(channel) if m.thread_ts == ts]

    def message(self, channel: str, ts: str) -> SlackMessage:
        with self._lock:
            return self._messages[self.channel_id(channel)][ts]

    def posted_channels(self) -> list[str]:
        with self._lock:
            return [c for c, messages in self._messages.items() if messages]

    # ----- the handler -----

    def __call__(self, request: LoopbackRequest) -> LoopbackResponse:
        if request.path.startswith(UPLOAD_PATH):
            return self._receive_upload(request)
        method = request.path.rstrip("/").rsplit("/", 1)[-1]
        if request.headers.get("host"):
            self._host = f"http://{request.headers['host']}"
        headers = {k: v for k, v in request.headers.items() if k != "authorization"}
        auth = request.headers.get("authorization", "")
        authed = auth.startswith("Bearer ") and auth[len("Bearer ") :] in self.tokens
        with self._lock:
            at = self.clock()
            params, parse_error = _params(request)

            def record(status: int | None, body: dict[str, Any] | None, fault: str | None) -> None:
                self._calls.append(SlackCall(method, params, headers, authed, status, body, fault, at))

            fault = self._take_fault(method)
            if fault is not None and fault[0] != DROP_AFTER:
                kind, retry_after = fault
                response = _fault_response(kind, retry_after)
                if not response.drop:
                    response.headers.update(self._scope_headers(method))
                record(None if response.drop else response.status, None if response.drop else response.body, str(kind))
                return response

            if parse_error is not None:
                body = _error(parse_error)
            elif not auth.startswith("Bearer ") or not auth[len("Bearer ") :]:
                body = _error("not_authed")
            elif not authed:
                body = _error("invalid_auth")
            else:
                handler = self._methods.get(method)
                if handler is None:
                    body = _error("unknown_method")
                else:
                    body = self._missing_scope(method) or handler(self, params, at)
            status = 200
            out_headers = self._scope_headers(method)
            if body.get("error") == "ratelimited":
                status = 429
                out_headers["Retry-After"] = str(body.pop("_retry_after"))
            if fault is not None:  # drop_after: the work is done, the answer is lost
                record(None, body, DROP_AFTER)
                return LoopbackResponse(drop=True)
            record(status, body, "ratelimited" if status == 429 else None)
            return LoopbackResponse(status, body, out_headers)

    def _missing_scope(self, method: str) -> dict[str, Any] | None:
        needed = NEEDED_SCOPES.get(method)
        if self.scopes is None or needed is None or needed in self.scopes:
            return None
        return {"ok": False, "error": "missing_scope", "needed": needed, "provided": ",".join(self.scopes)}

    def _scope_headers(self, method: str) -> dict[str, str]:
        """What Slack says about scopes on every answer (nothing when scopes were not given)."""
        if self.scopes is None:
            return {}
        headers = {"x-oauth-scopes": ",".join(self.scopes)}
        if method in NEEDED_SCOPES:
            headers["x-accepted-oauth-scopes"] = NEEDED_SCOPES[method]
        return headers

    def _take_fault(self, method: str) -> tuple[Fault, int] | None:
        if self._down is not None:
            return self._down
        for key in (method, "*"):
            queue = self._faults.get(key)
            if queue:
                return queue.popleft()
        return None

    # ----- methods -----

    def _auth_test(self, params: dict[str, Any], at: float) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://syncwatch-test.slack.com/",
            "team": "syncwatch test",
            "user": "syncwatch",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _post_message(self, params: dict[str, Any], at: float) -> dict[str, Any]:
        channel = params.get("channel")
        if not isinstance(channel, str) or not channel:
            return _error("channel_not_found")
        if channel.startswith("#") and channel[1:] not in self.channel_names:
            return _error("channel_not_found")
        channel = self.channel_id(channel)
        refused = self._channel_refusal(channel)
        if refused:
            return refused
        if self.channel_rate_limit:
            last = self._last_post.get(channel)
            if last is not None and at - last < 1.0:
                body = _error("ratelimited")
                body["_retry_after"] = max(1, math.ceil(1.0 - (at - last)))
                return body
        text = params.get("text")
        blocks_raw = params.get("blocks")
        if not text and not blocks_raw and not params.get("attachments"):
            return _error("no_text")
        text = "" if text is None else str(text)
        checked = self._check_content("chat.postMessage", channel, text, blocks_raw)
        if isinstance(checked, dict):
            return checked
        blocks = checked
        metadata = _metadata(params.get("metadata"))
        if isinstance(metadata, str):
            return _error(metadata)
        thread_ts = params.get("thread_ts")
        if thread_ts is not None:
            thread_ts = str(thread_ts)
            parent = self._messages.get(channel, {}).get(thread_ts)
            if parent is None or parent.thread_ts is not None:
                return _error("thread_not_found")
        message = SlackMessage(
            channel=channel,
            ts=self._new_ts(),
            text=text,
            blocks=blocks,
            thread_ts=thread_ts,
            reply_broadcast=thread_ts is not None and _truthy(params.get("reply_broadcast")),
            metadata=metadata,
        )
        self._messages.setdefault(channel, {})[message.ts] = message
        self._last_post[channel] = at
        return {"ok": True, "channel": channel, "ts": message.ts, "message": self._payload(message)}

    def _update(self, params: dict[str, Any], at: float) -> dict[str, Any]:
        channel = params.get("channel")
        ts = params.get("ts")
        if not isinstance(channel, str) or not channel:
            return _error("channel_not_found")
        if ts is None or ts == "":
            return _error("invalid_arguments")
        refused = self._id_only(channel) or self._channel_refusal(channel)
        if refused:
            return refused
        message = self._messages.get(channel, {}).get(str(ts))
        if message is None:
            return _error("message_not_found")
        text = params.get("text")
        blocks_raw = params.get("blocks")
        if not text and blocks_raw is None and not params.get("attachments"):
            return _error("no_text")
        new_text = message.text if text is None else str(text)
        checked = self._check_content("chat.update", channel, new_text, blocks_raw)
        if isinstance(checked, dict):
            return checked
        # As in Slack: blocks left out keep the old ones; an empty list removes them.
        new_blocks = message.blocks if blocks_raw is None else (checked or None)
        metadata = _metadata(params.get("metadata"))
        if isinstance(metadata, str):
            return _error(metadata)
        if metadata is not None:
            message.metadata = metadata
        self.edits.append(SlackEdit(channel, message.ts, message.text, message.blocks, new_text, new_blocks))
        message.text, message.blocks = new_text, new_blocks
        message.edits += 1
        message.edited_ts = self._new_ts()
        return {
            "ok": True,
            "channel": channel,
            "ts": message.ts,
            "text": message.text,
            "message": self._payload(message),
        }

    def _history(self, params: dict[str, Any], at: float) -> dict[str, Any]:
        channel = self._readable_channel(params)
        if isinstance(channel, dict):
            return channel
        window = _window(params)
        if isinstance(window, str):
            return _error(window)
        listed = [
            m
            for m in reversed(self._messages.get(channel, {}).values())
            if (m.thread_ts is None or m.reply_broadcast) and _in_window(m.ts, window)
        ]
        return self._page(listed, params, newest_first=True)

    def _replies(self, params: dict[str, Any], at: float) -> dict[str, Any]:
        channel = self._readable_channel(params)
        if isinstance(channel, dict):
            return channel
        ts = params.get("ts")
        if ts is None or ts == "":
            return _error("invalid_arguments")
        messages = self._messages.get(channel, {})
        parent = messages.get(str(ts))
        if parent is None:
            return _error("thread_not_found")
        if parent.thread_ts is not None:  # a reply's ts stands for its thread
            parent = messages[parent.thread_ts]
        window = _window(params)
        if isinstance(window, str):
            return _error(window)
        thread = [parent] + [m for m in messages.values() if m.thread_ts == parent.ts and _in_window(m.ts, window)]
        return self._page(thread, params, newest_first=False)

    def _users_info(self, params: dict[str, Any], at: float) -> dict[str, Any]:
        user = self._users.get(str(params.get("user") or ""))
        if user is None:
            return _error("user_not_found")
        return {
            "ok": True,
            "user": {
                "id": user.id,
                "team_id": self.team_id,
                "name": user.name,
                "deleted": user.deleted,
                "real_name": user.real_name,
                "tz": "Europe/London",
                "is_bot": user.is_bot,
                "is_app_user": False,
                "profile": {"real_name": user.real_name, "display_name": user.name, "team": self.team_id},
                **user.extra,
            },
        }

    # ----- files (files_upload_v2: get an upload URL, send the bytes there, complete) -----

    def _get_upload_url(self, params: dict[str, Any], at: float) -> dict[str, Any]:
        filename, length = params.get("filename"), params.get("length")
        if not filename or length in (None, ""):
            return _error("invalid_arguments")
        file_id = f"F{len(self._files) + 1:08d}"
        self._files[file_id] = UploadedFile(file_id, str(filename), int(length))
        return {"ok": True, "upload_url": f"{self._host}{UPLOAD_PATH}{file_id}", "file_id": file_id}

    def _receive_upload(self, request: LoopbackRequest) -> LoopbackResponse:
        with self._lock:
            upload = self._files.get(request.path[len(UPLOAD_PATH):])
            if upload is None or upload.data is not None:
                return LoopbackResponse(404, b"unknown or used upload URL")
            upload.data = request.body
            return LoopbackResponse(200, b"OK - " + str(len(request.body)).encode())

    def _complete_upload(self, params: dict[str, Any], at: float) -> dict[str, Any]:
        raw = params.get("files")
        files = json.loads(raw) if isinstance(raw, str) else raw
        if not isinstance(files, list) or not files:
            return _error("invalid_arguments")
        channel = params.get("channel_id")
        if channel is not None:
            refused = self._id_only(str(channel)) or self._channel_refusal(str(channel))
            if refused:
                return refused
        done = []
        for item in files:
            upload = self._files.get(str(item.get("id")))
            if upload is None or upload.data is None:
                return _error("file_not_found")
            if upload.data is not None and len(upload.data) != upload.length:
                return _error("file_upload_size_mismatch")
            upload.title = str(item.get("title") or upload.filename)
            upload.channel = None if channel is None else str(channel)
            upload.initial_comment = params.get("initial_comment")
            upload.completed = True
            done.append({"id": upload.file_id, "name": upload.filename, "title": upload.title})
        return {"ok": True, "files": done}

    def uploads(self, channel: str | None = None) -> list[UploadedFile]:
        """Completed uploads, oldest first (of one channel, name or ID, when given)."""
        with self._lock:
            wanted = None if channel is None else self.channel_id(channel)
            return [f for f in self._files.values() if f.completed and (wanted is None or f.channel == wanted)]

    _methods: dict[str, Callable[[FakeSlack, dict[str, Any], float], dict[str, Any]]] = {
        "files.getUploadURLExternal": _get_upload_url,
        "files.completeUploadExternal": _complete_upload,
        "auth.test": _auth_test,
        "chat.postMessage": _post_message,
        "chat.update": _update,
        "conversations.history": _history,
        "conversations.replies": _replies,
        "users.info": _users_info,
    }

    # ----- helpers -----

    def _id_only(self, channel: str) -> dict[str, Any] | None:
        """``channel_not_found`` for a channel name where Slack wants the ID."""
        if channel.startswith("#") or channel in self.channel_names:
            return _error("channel_not_found")
        return None

    def _readable_channel(self, params: dict[str, Any]) -> str | dict[str, Any]:
        """The channel ID of a ``conversations.*`` call, or the error body."""
        channel = params.get("channel")
        if not isinstance(channel, str) or not channel:
            return _error("channel_not_found")
        refused = self._id_only(channel)
        if refused is None and self.channels is not None and channel not in self.channels:
            refused = _error("channel_not_found")
        return refused or channel

    def _page(self, listed: list[SlackMessage], params: dict[str, Any], *, newest_first: bool) -> dict[str, Any]:
        """One page of ``listed`` (already in answer order) as ``conversations.*`` answers it."""
        limit = _limit(params.get("limit"))
        if limit is None:
            return _error("invalid_arguments")
        cursor = params.get("cursor")
        if cursor:
            start = _decode_cursor(str(cursor))
            if start is None:
                return _error("invalid_cursor")
            if newest_first:
                listed = [m for m in listed if _micros(m.ts) <= start]
            else:
                listed = [m for m in listed if _micros(m.ts) >= start]
        page, rest = listed[:limit], listed[limit:]
        with_metadata = _truthy(params.get("include_all_metadata"))
        body: dict[str, Any] = {
            "ok": True,
            "messages": [self._payload(m, metadata=with_metadata, thread=True) for m in page],
            "has_more": bool(rest),
            "pin_count": 0,
        }
        if rest:
            body["response_metadata"] = {"next_cursor": _encode_cursor(rest[0].ts)}
        return body

    def _channel_refusal(self, channel: str) -> dict[str, Any] | None:
        if self.channels is not None and channel not in self.channels:
            return _error("channel_not_found")
        error = self._channel_errors.get(channel)
        return _error(error) if error else None

    def _check_content(
        self, method: str, channel: str, text: str, blocks_raw: Any
    ) -> list[dict[str, Any]] | None | dict[str, Any]:
        """The parsed blocks, or the error body (recorded as a violation)."""
        if len(text) > MAX_TEXT:
            problem = f"text is {len(text)} characters, more than {MAX_TEXT}"
            self.violations.append(BlockViolation(method, channel, "msg_too_long", (problem,)))
            return _error("msg_too_long")
        if blocks_raw is None:
            return None
        blocks: Any = blocks_raw
        if isinstance(blocks_raw, str):
            try:
                blocks = json.loads(blocks_raw)
            except ValueError:
                blocks = None
                problems = ["[ERROR] blocks is not valid JSON [json-pointer:/blocks]"]
            else:
                problems = block_problems(blocks)
        else:
            problems = block_problems(blocks)
        if problems:
            self.violations.append(BlockViolation(method, channel, "invalid_blocks", tuple(problems)))
            body = _error("invalid_blocks")
            body["errors"] = problems
            body["response_metadata"] = {"messages": problems}
            return body
        return list(blocks)

    def _new_ts(self) -> str:
        value = self._next_ts
        self._next_ts += 100
        return f"{value // 1_000_000}.{value % 1_000_000:06d}"

    def _payload(self, message: SlackMessage, *, metadata: bool = False, thread: bool = False) -> dict[str, Any]:
        """``message`` as Slack shows it; ``thread``: with a root's reply summary, as read back."""
        payload: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": "A0SYNCWAT",
            "team": self.team_id,
            "text": message.text,
            "ts": message.ts,
        }
        if message.blocks is not None:
            payload["blocks"] = message.blocks
        if message.thread_ts is not None:
            payload["thread_ts"] = message.thread_ts
            payload["parent_user_id"] = self.bot_user_id
            if message.reply_broadcast:
                payload["subtype"] = "thread_broadcast"
        elif thread:
            replies = [m.ts for m in self._messages.get(message.channel, {}).values() if m.thread_ts == message.ts]
            if replies:
                payload["thread_ts"] = message.ts
                payload["reply_count"] = len(replies)
                payload["reply_users_count"] = 1
                payload["reply_users"] = [self.bot_user_id]
                payload["latest_reply"] = replies[-1]
        if message.edited_ts is not None:
            payload["edited"] = {"user": self.bot_user_id, "ts": message.edited_ts}
        if metadata and message.metadata is not None:
            payload["metadata"] = message.metadata
        return payload


# ----- Block Kit validation -----


def block_problems(blocks: Any) -> list[str]:
    """Slack-style messages for every Block Kit limit ``blocks`` breaks (empty: valid)."""
    if not isinstance(blocks, list):
        return ["[ERROR] must be an array [json-pointer:/blocks]"]
    problems: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        _check_block(block, f"/blocks/{i}", problems)
    return problems


def _check_block(block: Any, at: str, problems: list[str]) -> None:
    if not isinstance(block, dict) or not isinstance(block.get("type"), str):
        problems.append(f"[ERROR] missing required field: type [json-pointer:{at}]")
        return
    kind = block["type"]
    if kind not in BLOCK_TYPES:
        problems.append(f"[ERROR] unsupported type: {kind} [json-pointer:{at}/type]")
        return
    _check_length(block, "block_id", ID_LENGTH, at, problems)
    if kind == "section":
        if "text" not in block and "fields" not in block:
            problems.append(f"[ERROR] must provide either text or fields [json-pointer:{at}]")
        if "text" in block:
            _check_text(block["text"], SECTION_TEXT, f"{at}/text", problems)
        fields = block.get("fields")
        if fields is not None:
            if not isinstance(fields, list):
                problems.append(f"[ERROR] must be an array [json-pointer:{at}/fields]")
            else:
                if len(fields) > SECTION_FIELDS:
                    problems.append(f"[ERROR] no more than {SECTION_FIELDS} items allowed [json-pointer:{at}/fields]")
                for j, item in enumerate(fields):
                    _check_text(item, SECTION_FIELD_TEXT, f"{at}/fields/{j}", problems)
        if isinstance(block.get("accessory"), dict):
            _check_element(block["accessory"], f"{at}/accessory", problems)
    elif kind == "header":
        _check_text(block.get("text"), HEADER_TEXT, f"{at}/text", problems, plain_only=True)
    elif kind == "markdown":
        _check_length(block, "text", MARKDOWN_TEXT, at, problems, required=True)
    elif kind in ("actions", "context"):
        limit = ACTIONS_ELEMENTS if kind == "actions" else CONTEXT_ELEMENTS
        elements = block.get("elements")
        if not isinstance(elements, list) or not elements:
            problems.append(f"[ERROR] must provide a non-empty array [json-pointer:{at}/elements]")
            return
        if len(elements) > limit:
            problems.append(f"[ERROR] no more than {limit} items allowed [json-pointer:{at}/elements]")
        for j, element in enumerate(elements):
            if kind == "actions":
                _check_element(element, f"{at}/elements/{j}", problems)
            elif isinstance(element, dict) and element.get("type") in ("plain_text", "mrkdwn"):
                _check_text(element, MAX_TEXT, f"{at}/elements/{j}", problems)


def _check_element(element: Any, at: str, problems: list[str]) -> None:
    if not isinstance(element, dict) or not isinstance(element.get("type"), str):
        problems.append(f"[ERROR] missing required field: type [json-pointer:{at}]")
        return
    _check_length(element, "action_id", ID_LENGTH, at, problems)
    if element["type"] == "button":
        _check_text(element.get("text"), BUTTON_TEXT, f"{at}/text", problems, plain_only=True)
        _check_length(element, "value", BUTTON_VALUE, at, problems)
        _check_length(element, "url", URL_LENGTH, at, problems)


def _check_text(obj: Any, limit: int, at: str, problems: list[str], *, plain_only: bool = False) -> None:
    allowed = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if not isinstance(obj, dict) or obj.get("type") not in allowed:
        problems.append(f"[ERROR] must be a text object of type {' or '.join(allowed)} [json-pointer:{at}]")
        return
    _check_length(obj, "text", limit, at, problems, required=True)


def _check_length(obj: dict[str, Any], key: str, limit: int, at: str, problems: list[str], *, required: bool = False) -> None:
    value = obj.get(key)
    if value is None:
        if required:
            problems.append(f"[ERROR] missing required field: {key} [json-pointer:{at}]")
        return
    if not isinstance(value, str):
        problems.append(f"[ERROR] must be a string [json-pointer:{at}/{key}]")
    elif required and not value:
        problems.append(f"[ERROR] must be more than 0 characters [json-pointer:{at}/{key}]")
    elif len(value) > limit:
        problems.append(f"[ERROR] must be less than {limit + 1} characters [json-pointer:{at}/{key}]")


# ----- request parsing and answers -----


def _params(request: LoopbackRequest) -> tuple[dict[str, Any], str | None]:
    """Query and body parameters merged (JSON keeps its types; a form gives strings)."""
    params: dict[str, Any] = {k: v[0] for k, v in request.query.items() if v}
    if not request.body:
        return params, None
    content_type = request.headers.get("content-type", "application/x-www-form-urlencoded").lower()
    if content_type.startswith("application/json"):
        try:
            body = json.loads(request.body)
        except ValueError:
            return params, "invalid_json"
        if not isinstance(body, dict):
            return params, "invalid_json"
        params.update(body)
    elif content_type.startswith("application/x-www-form-urlencoded"):
        form = parse_qs(request.body.decode("utf-8"), keep_blank_values=True)
        params.update({k: v[0] for k, v in form.items() if v})
    else:
        return params, "invalid_form_data"
    return params, None


def _metadata(raw: Any) -> dict[str, Any] | None | str:
    """Message metadata as stored, None when absent, or the error code. A form sends it as JSON text."""
    if raw is None:
        return None
    value = raw
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return "invalid_metadata_format"
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("event_type"), str)
        or not value["event_type"]
        or not isinstance(value.get("event_payload"), dict)
    ):
        return "invalid_metadata_format"
    return {"event_type": value["event_type"], "event_payload": value["event_payload"]}


_TS = re.compile(r"(\d+)(?:\.(\d{1,6})\d*)?")

Window = tuple[int, int | None, bool]  # oldest and latest in microseconds, inclusive


def _micros(ts: str) -> int:
    """A Slack ts (``"1700000000.000100"``, ``"1700000000"``) in microseconds; ValueError if it is none."""
    match = _TS.fullmatch(ts.strip())
    if match is None:
        raise ValueError(ts)
    return int(match[1]) * 1_000_000 + int((match[2] or "0").ljust(6, "0"))


def _window(params: dict[str, Any]) -> Window | str:
    """``oldest``/``latest``/``inclusive`` of a ``conversations.*`` call, or the error code."""
    bounds: list[int | None] = []
    for key in ("oldest", "latest"):
        value = params.get(key)
        if value is None or value == "":
            bounds.append(None)
            continue
        try:
            bounds.append(_micros(str(value)))
        except ValueError:
            return f"invalid_ts_{key}"
    return bounds[0] or 0, bounds[1], _truthy(params.get("inclusive"))


def _in_window(ts: str, window: Window) -> bool:
    oldest, latest, inclusive = window
    value = _micros(ts)
    if inclusive:
        return value >= oldest and (latest is None or value <= latest)
    return value > oldest and (latest is None or value < latest)


def _limit(raw: Any) -> int | None:
    """The page size (default 100, at most 999), or None when ``raw`` is not a positive integer."""
    if raw is None or raw == "":
        return HISTORY_LIMIT
    if isinstance(raw, bool):
        return None
    try:
        value = int(raw)
    except (TypeError, ValueError):
        return None
    return min(value, HISTORY_MAX_LIMIT) if value > 0 else None


def _encode_cursor(ts: str) -> str:
    """An opaque cursor in Slack's style: base64 of ``next_ts:<microseconds>``."""
    return base64.b64encode(f"next_ts:{_micros(ts)}".encode()).decode()


def _decode_cursor(cursor: str) -> int | None:
    try:
        text = base64.b64decode(cursor, validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return None
    prefix, _, value = text.partition(":")
    return int(value) if prefix == "next_ts" and value.isdigit() else None


def _error(code: str) -> dict[str, Any]:
    return {"ok": False, "error": code}


def _truthy(value: Any) -> bool:
    return value is True or (isinstance(value, str) and value.lower() in ("1", "true"))


def _check_fault(kind: Fault) -> None:
    if isinstance(kind, bool) or not isinstance(kind, int | str):
        raise TypeError(f"fault kind must be 429, 500, 503 or a string, not {kind!r}")
    if isinstance(kind, int) and kind not in HTTP_FAULTS:
        raise ValueError(f"HTTP fault must be one of {sorted(HTTP_FAULTS)}, not {kind}")


def _fault_response(kind: Fault, retry_after: int) -> LoopbackResponse:
    if kind == DROP:
        return LoopbackResponse(drop=True)
    if isinstance(kind, int):
        headers = {"Retry-After": str(retry_after)} if kind == 429 else {}
        return LoopbackResponse(kind, _error(HTTP_FAULTS[kind]), headers)
    return LoopbackResponse(200, _error(kind))


# ----- interactivity: what Slack sends to the app -----


def sign_request(body: bytes, secret: str, timestamp: int) -> dict[str, str]:
    """The headers Slack signs a request to the app with: ``v0=`` HMAC-SHA256 of ``v0:{timestamp}:{body}``."""
    digest = hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


def action_payload(
    action_id: str,
    value: str,
    user_id: str,
    *,
    channel: str = "C0STOCK01",
    message_ts: str = "1700000000.000100",
    block_id: str = "syncwatch_actions",
    team_id: str = "T0SYNCWAT",
    response_url: str | None = None,
) -> bytes:
    """The form body (``payload=<json>``) Slack posts when ``user_id`` clicks the button
    ``action_id`` (with ``value``) on the message ``message_ts`` in ``channel``.

    ``response_url`` defaults to a loopback URL nothing listens on (port 9).
    """
    seconds = _micros(message_ts) // 1_000_000
    action_ts = f"{seconds + 30}.{_micros(message_ts) % 1_000_000:06d}"
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id},
        "api_app_id": "A0SYNCWAT",
        "token": "verification-token-unused",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel, "is_ephemeral": False},
        "trigger_id": f"{seconds}.{seconds % 9973}.{hashlib.sha256(action_ts.encode()).hexdigest()[:32]}",
        "team": {"id": team_id, "domain": "syncwatch-test"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel},
        "message": {"type": "message", "ts": message_ts, "user": "U0SYNCBOT", "bot_id": "B0SYNCBOT"},
        "state": {"values": {}},
        "response_url": response_url or f"http://127.0.0.1:9/actions/{team_id}/{seconds}/loopback",
        "actions": [
            {
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": action_id, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": action_ts,
            }
        ],
    }
    return urlencode({"payload": json.dumps(payload)}).encode()


# ----- client side -----


def web_client(server: LoopbackServer, token: str | None = TOKEN, **kwargs: Any) -> WebClient:
    """A real ``WebClient`` aimed at ``server``. Without ``retry_handlers`` it gets none:
    slack_sdk's default retries a dropped connection once after a real 0.5-1.5 s sleep."""
    kwargs.setdefault("retry_handlers", [])
    kwargs.setdefault("timeout", 5)
    return WebClient(token=token, base_url=f"{server.url}/api/", **kwargs)


class RecordingRateLimitHandler(RateLimitErrorRetryHandler):
    """slack_sdk's 429 retry handler with the wait recorded in ``sleeps`` instead of slept.

    The stock ``prepare_for_next_attempt`` sleeps ``int(Retry-After) + random()``
    with the real ``time.sleep``; this one records ``Retry-After`` and calls ``sleep``
    (default: nothing).
    """

    def __init__(self, max_retry_count: int = 1, sleep: Callable[[float], None] | None = None) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.sleeps: list[float] = []
        self._sleep = sleep

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            raise error  # type: ignore[misc]
        state.next_attempt_requested = True
        values = _header(response.headers, "retry-after")
        seconds = float(values[0]) if values else 1.0
        self.sleeps.append(seconds)
        if self._sleep is not None:
            self._sleep(seconds)
        state.increment_current_attempt()


def _header(headers: Mapping[str, Any], name: str) -> list[str]:
    for key, value in headers.items():
        if key.lower() == name:
            return list(value) if isinstance(value, list) else [value]
    return []
