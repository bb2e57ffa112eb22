"""The two places a notice can go: Slack (slack-sdk's ``WebClient``, bot token) or the console.

``SlackSender`` makes single attempts (the client's own retry handlers are off): the outbox
decides when to try again, so a 429's ``Retry-After`` and the one-a-second pace per channel
are honoured in one place and a retry never hides a second post. Each message carries its
notice's ``uid`` as Slack message metadata, which ``find`` looks for after a lost answer
(``conversations.history``/``conversations.replies``: scopes ``channels:history``, and
``groups:history`` for private channels).

``check_owners`` asks Slack (``users.info``) whether every owner's ID is a person in the
workspace, at start-up: an unknown ID is a configuration error naming the owner.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from monitor.alerting import messages
from monitor.alerting.notices import Message
from monitor.alerting.outbox import SendError, Sent, classify_connection_error
from monitor.config.models import Owner, Slack
from monitor.config.yamlsource import YamlDocument, load_yaml
from monitor.errors import ConfigError, ConfigProblem

__all__ = ["SlackSender", "ConsoleSender", "check_owners", "EVENT_TYPE", "PERMANENT_ERRORS"]

log = logging.getLogger("syncwatch.slack")

EVENT_TYPE = "syncwatch_notice"

# Slack errors that trying again will not mend (for this message). Token errors are not among
# them: a fixed token and a restart send everything that waited.
PERMANENT_ERRORS = frozenset({
    "channel_not_found", "not_in_channel", "is_archived", "msg_too_long", "no_text", "invalid_blocks",
    "invalid_blocks_format", "invalid_metadata_format", "invalid_metadata_schema", "too_many_attachments",
    "restricted_action", "restricted_action_read_only_channel", "restricted_action_thread_only_channel",
    "restricted_action_non_threadable_channel", "cannot_reply_to_message", "message_not_found", "cant_update_message",
    "edit_window_closed", "thread_not_found", "invalid_arguments", "duplicate_channel_not_found",
    "channel_type_not_supported", "as_user_not_supported",
})


class SlackSender:
    """Single attempts through slack-sdk's ``WebClient`` (see the module docstring)."""

    def __init__(self, settings: Slack, client: WebClient | None = None) -> None:
        if client is None:
            if not settings.token:
                raise ValueError("SlackSender needs a bot token (slack.token or SLACK_BOT_TOKEN)")
            client = WebClient(token=settings.token.get_secret_value(), base_url=settings.api_url,
                               timeout=int(settings.timeout.total_seconds()), retry_handlers=[])
        self.client = client

    def post(self, channel: str, message: Message, uid: str, thread_ts: str | None = None) -> Sent:
        answer = self._call("chat.postMessage", lambda: self.client.chat_postMessage(
            channel=channel, text=message.text, blocks=message.blocks or None, thread_ts=thread_ts,
            unfurl_links=False, unfurl_media=False, metadata=_metadata(uid),
        ))
        return Sent(str(answer["channel"]), str(answer["ts"]))

    def update(self, channel: str, ts: str, message: Message, uid: str) -> Sent:
        answer = self._call("chat.update", lambda: self.client.chat_update(
            channel=channel, ts=ts, text=message.text, blocks=message.blocks, metadata=_metadata(uid),
        ))
        return Sent(str(answer["channel"]), str(answer["ts"]))

    def find(self, channel: str, uid: str, since: datetime, thread_ts: str | None = None) -> Sent | None:
        oldest = f"{since.timestamp():.6f}"
        cursor: str | None = None
        for _ in range(20):  # at most 20 pages of 200: far more than a channel posts in a retry window
            if thread_ts is None:
                answer = self._call("conversations.history", lambda: self.client.conversations_history(
                    channel=channel, oldest=oldest, limit=200, include_all_metadata=True, cursor=cursor))
            else:
                answer = self._call("conversations.replies", lambda: self.client.conversations_replies(
                    channel=channel, ts=thread_ts, oldest=oldest, limit=200, include_all_metadata=True,
                    cursor=cursor))
            for found in answer.get("messages") or []:
                meta = found.get("metadata") or {}
                if meta.get("event_type") == EVENT_TYPE and (meta.get("event_payload") or {}).get("uid") == uid:
                    return Sent(channel, str(found["ts"]))
            cursor = ((answer.get("response_metadata") or {}).get("next_cursor")) or None
            if not cursor:
                return None
        return None

    def _call(self, method: str, call: Any) -> Any:
        try:
            return call()
        except SlackApiError as exc:
            raise _api_error(method, exc) from None
        except OSError as exc:  # urllib's URLError, a dropped connection, a timeout
            raise classify_connection_error(exc) from None


def _metadata(uid: str) -> dict[str, Any]:
    return {"event_type": EVENT_TYPE, "event_payload": {"uid": uid}}


def _api_error(method: str, exc: SlackApiError) -> SendError:
    response = exc.response
    status = getattr(response, "status_code", None)
    data = getattr(response, "data", None)
    error = data.get("error") if isinstance(data, dict) else None
    if status == 429:
        headers = {k.lower(): v for k, v in (getattr(response, "headers", None) or {}).items()}
        raw = headers.get("retry-after")
        raw = raw[0] if isinstance(raw, list) else raw
        try:
            retry_after = float(raw) if raw is not None else 1.0
        except ValueError:
            retry_after = 1.0
        return SendError(f"{method}: rate limited (429, Retry-After {raw})", retry_after=retry_after)
    if status is not None and status >= 500:
        return SendError(f"{method}: Slack answered HTTP {status}", uncertain=True)
    if error == "ratelimited":
        return SendError(f"{method}: rate limited", retry_after=1.0)
    if error == "missing_scope":
        needed = data.get("needed") if isinstance(data, dict) else None
        return SendError(f"{method}: the app lacks the scope {needed or '?'}", permanent=True)
    return SendError(f"{method}: {error or status}", permanent=error in PERMANENT_ERRORS)


class ConsoleSender:
    """Without a Slack token: each notice printed, readably, to ``out``, and stored as sent."""

    def __init__(self, out: IO[str]) -> None:
        self._out = out
        self._n = 0

    def post(self, channel: str, message: Message, uid: str, thread_ts: str | None = None) -> Sent:
        self._n += 1
        where = f"{channel}, in the thread of {thread_ts}" if thread_ts else channel
        self._print(f"── Slack message for {where} (not sent: no Slack token) ──", message)
        return Sent(channel, f"console.{self._n:06d}")

    def update(self, channel: str, ts: str, message: Message, uid: str) -> Sent:
        # An edit repeats the whole message; its first lines say what changed.
        lines = messages.plain_text(message).splitlines()[:2]
        print(f"── Slack message {ts} in {channel} edited (not sent: no Slack token) ──", file=self._out)
        print("\n".join(lines), file=self._out)
        print(file=self._out, flush=True)
        return Sent(channel, ts)

    def find(self, channel: str, uid: str, since: datetime, thread_ts: str | None = None) -> Sent | None:
        return None  # printing cannot half-happen

    def _print(self, heading: str, message: Message) -> None:
        print(heading, file=self._out)
        print(messages.plain_text(message), file=self._out)
        print(file=self._out, flush=True)


def check_owners(client: WebClient, owners: Mapping[str, Owner], owners_path: Path) -> list[str]:
    """Ask Slack about every owner's ID (``users.info``). Unknown or deactivated IDs raise a
    ``ConfigError`` naming the owner; a Slack that cannot be reached is only a warning (returned):
    monitoring must not wait for Slack, and the outbox keeps what it cannot send yet."""
    problems: list[ConfigProblem] = []
    warnings: list[str] = []
    try:
        doc: YamlDocument | None = load_yaml(owners_path)
    except ConfigError:
        doc = None

    def problem(key: str, message: str) -> ConfigProblem:
        if doc is None:
            return ConfigProblem(str(owners_path), None, f"owners.{key}.slack", message)
        return doc.problem(("owners", key, "slack"), message)

    for key, owner in owners.items():
        try:
            answer = client.users_info(user=owner.slack)
        except SlackApiError as exc:
            data = getattr(exc.response, "data", None)
            error = data.get("error") if isinstance(data, dict) else None
            if error in ("user_not_found", "user_not_visible"):
                problems.append(problem(key, f"{owner.name}: Slack has no user {owner.slack} in this workspace "
                                             "(copy the member ID from their Slack profile: ⋮ → Copy member ID)"))
                continue
            if error in ("invalid_auth", "not_authed", "token_revoked", "account_inactive"):
                raise ConfigError([ConfigProblem("environment", None, "SLACK_BOT_TOKEN",
                                                 f"Slack refused the bot token ({error})")]) from None
            if error == "missing_scope":
                raise ConfigError([ConfigProblem("environment", None, "SLACK_BOT_TOKEN",
                                                 "the Slack app lacks the users:read scope needed to check owners")]) \
                    from None
            warnings.append(f"could not check {owner.name}'s Slack ID {owner.slack}: {error or exc}")
            continue
        except OSError as exc:
            warnings.append(f"could not reach Slack to check the owners' Slack IDs: {exc}")
            break
        user = answer.get("user") or {}
        if user.get("deleted"):
            problems.append(problem(key, f"{owner.name}: Slack user {owner.slack} is deactivated"))
        elif user.get("is_bot"):
            problems.append(problem(key, f"{owner.name}: Slack user {owner.slack} is a bot, not a person"))
    if problems:
        raise ConfigError(problems)
    for warning in warnings:
        log.warning("%s", warning)
    return warnings
