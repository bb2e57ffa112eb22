"""Delivering the outbox: every notice written before it is sent, sent once, in order.

``Outbox.deliver`` sends the due notices in the order they were queued:

* at most one message a second per channel (Slack's limit for posting), waiting with the
  ``sleep`` it is given (the wall clock in the service, simulated time in replays);
* a 429 holds the channel back for its ``Retry-After``; a connection refused or a 5xx is tried
  again with capped exponential back-off (2 s doubling to 5 min), without end: Slack down for an
  hour costs an hour, not a message;
* a channel whose oldest notice cannot go yet holds back its later ones, so threads keep their
  order; a reply waits for its root;
* before each attempt the notice is marked ``uncertain``. If the answer never comes (the
  connection dropped, a timeout, a crash), the next attempt first looks for the message in
  Slack by the ``uid`` it carries in its metadata, and records it instead of posting it twice;
* a notice Slack refuses for good (``channel_not_found``, ``invalid_blocks``, ...) is marked
  failed, with the error, and so are the replies and edits that depend on it; `syncwatch
  outbox` lists them and `syncwatch outbox retry` queues them again.
"""

from __future__ import annotations

import logging
import urllib.error
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from monitor.alerting.notices import Delivery, Message, Method, Notice
from monitor.clock import Clock
from monitor.store import Store

__all__ = ["Sent", "SendError", "Sender", "Outbox", "DeliveryReport", "PACE", "MAX_BACKOFF"]

log = logging.getLogger("syncwatch.outbox")

PACE = timedelta(seconds=1)  # one message a second per channel
FIRST_BACKOFF = timedelta(seconds=2)
MAX_BACKOFF = timedelta(minutes=5)


@dataclass(frozen=True)
class Sent:
    """Where a message landed: the channel's ID and the message's ts."""

    channel: str
    ts: str


class SendError(Exception):
    """A send that did not succeed. ``uncertain``: it may have reached Slack all the same.
    ``permanent``: trying again will not help (the notice fails). ``retry_after``: seconds Slack
    asked us to wait (429)."""

    def __init__(self, message: str, *, uncertain: bool = False, permanent: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.uncertain = uncertain
        self.permanent = permanent
        self.retry_after = retry_after


class Sender(Protocol):
    """Where messages go: Slack (``SlackSender``) or the console (``ConsoleSender``)."""

    def post(self, channel: str, message: Message, uid: str, thread_ts: str | None = None) -> Sent: ...

    def update(self, channel: str, ts: str, message: Message, uid: str) -> Sent: ...

    def find(self, channel: str, uid: str, since: datetime, thread_ts: str | None = None) -> Sent | None:
        """The message carrying ``uid`` posted since ``since``, if any. Raises ``SendError``
        when it cannot look (then the notice is sent again: at least once beats not at all)."""
        ...


@dataclass
class DeliveryReport:
    sent: list[Notice] = field(default_factory=list)
    recovered: list[Notice] = field(default_factory=list)  # found in Slack after a lost answer
    failed: list[Notice] = field(default_factory=list)
    waiting: int = 0  # due but held back (back-off, a channel or parent not ready)


class Outbox:
    """Sends what the store's outbox holds through a ``Sender``; see the module docstring."""

    def __init__(self, store: Store, sender: Sender, clock: Clock, sleep: Callable[[float], None],
                 on_sent: Callable[[Notice], None] | None = None) -> None:
        self._store = store
        self._sender = sender
        self._clock = clock
        self._sleep = sleep
        self._on_sent = on_sent
        self._last_post: dict[str, datetime] = {}
        self._channel_ids: dict[str, str] = {}

    def deliver(self, limit: int = 500) -> DeliveryReport:
        """Send every due notice that can go now; return what happened.

        Every pending notice counts, due or not: one waiting out a back-off or a 429 holds back
        the later notices of its channel, so a channel's messages never overtake each other.
        """
        report = DeliveryReport()
        blocked: set[str] = set()
        parents: dict[int, Notice] = {}
        for notice in self._store.pending_notices(limit):
            assert notice.id is not None
            parent = None
            if notice.parent_id is not None:
                parent = parents.get(notice.parent_id) or self._store.notice(notice.parent_id)
                if parent is not None:
                    parents[notice.parent_id] = parent
            key = self._channel_key(notice, parent)
            if key in blocked:
                report.waiting += 1
                continue
            if notice.next_attempt_at is not None and notice.next_attempt_at > self._clock.now():
                blocked.add(key)  # waiting out a back-off or Retry-After: its channel waits with it
                report.waiting += 1
                continue
            if notice.method is not Method.POST:
                if parent is None or parent.state is Delivery.FAILED:
                    why = "the message it answers was never sent" if parent is None else \
                        f"the message it answers failed: {parent.last_error}"
                    self._fail(notice, why, report)
                    continue
                if parent.state is not Delivery.SENT:
                    blocked.add(key)
                    report.waiting += 1
                    continue
            if not self._attempt(notice, parent, key, report):
                blocked.add(key)
        return report

    # -- one notice ---------------------------------------------------------------------------

    def _attempt(self, notice: Notice, parent: Notice | None, key: str, report: DeliveryReport) -> bool:
        assert notice.id is not None
        channel, thread_ts = notice.channel, None
        if parent is not None:
            assert parent.sent_channel is not None and parent.ts is not None
            channel = parent.sent_channel
            thread_ts = parent.ts if notice.method is Method.REPLY else None
        elif notice.method is Method.POST:
            channel = key if not key.startswith("#") else notice.channel
        if notice.uncertain and notice.method is not Method.UPDATE:
            try:
                found = self._look_for(notice, channel, thread_ts)
            except SendError as exc:  # Slack cannot be asked now: ask again later, do not guess
                notice.attempts += 1  # an attempt all the same: the back-off grows
                self._store.update_notice(notice.id, attempts=notice.attempts)
                return self._failed_attempt(notice, key, exc, report)
            if found is not None:
                self._sent(notice, found, report.recovered)
                return True
        self._pace(key)
        now = self._clock.now()
        self._store.update_notice(notice.id, attempts=notice.attempts + 1, uncertain=True)
        notice.attempts += 1
        try:
            if notice.method is Method.UPDATE:
                assert parent is not None and parent.ts is not None
                # The edited message keeps its own uid: it is still the message that notice sent.
                landed = self._sender.update(channel, parent.ts, notice.message, parent.uid)
            else:
                landed = self._sender.post(channel, notice.message, notice.uid, thread_ts)
        except SendError as exc:
            self._last_post[key] = now
            return self._failed_attempt(notice, key, exc, report)
        self._last_post[key] = now
        if notice.method is Method.POST and landed.channel != notice.channel:
            self._channel_ids[notice.channel] = landed.channel  # from now on the channel is known by its ID
            self._last_post[landed.channel] = now
        self._sent(notice, landed, report.sent)
        return True

    def _look_for(self, notice: Notice, channel: str, thread_ts: str | None) -> Sent | None:
        assert notice.id is not None
        if not channel.startswith(("C", "G", "D")):  # a name: search needs the channel's ID
            known = self._store.channel_id(notice.channel)
            if known is None:
                log.warning("notice %d: cannot look for an earlier attempt in %s (its ID is not known yet); "
                            "sending again", notice.id, notice.channel)
                return None
            channel = known
        try:
            return self._sender.find(channel, notice.uid, notice.created_at - timedelta(minutes=1), thread_ts)
        except SendError as exc:
            if not exc.permanent:
                raise
            # The app may not read history (no channels:history scope): at least once beats never.
            log.warning("notice %d: cannot look for an earlier attempt (%s); sending again", notice.id, exc)
            return None

    def _failed_attempt(self, notice: Notice, key: str, exc: SendError, report: DeliveryReport) -> bool:
        assert notice.id is not None
        now = self._clock.now()
        if exc.permanent:
            self._fail(notice, str(exc), report)
            return True  # the channel's later notices may still go
        if exc.retry_after is not None:
            wait = timedelta(seconds=max(exc.retry_after, 1.0))
        else:
            wait = min(FIRST_BACKOFF * 2 ** min(notice.attempts - 1, 16), MAX_BACKOFF)
        # The first failure and every tenth are worth a warning; Slack down for an hour is ~15 tries.
        level = logging.WARNING if notice.attempts <= 1 or notice.attempts % 10 == 0 else logging.INFO
        log.log(level, "notice %d (%s in %s) not sent, attempt %d: %s; next try in %s", notice.id,
                notice.kind.value, notice.channel, notice.attempts, exc, wait)
        self._store.update_notice(notice.id, next_attempt_at=now + wait, last_error=str(exc), uncertain=exc.uncertain)
        report.waiting += 1
        return False

    def _fail(self, notice: Notice, why: str, report: DeliveryReport) -> None:
        assert notice.id is not None
        log.error("notice %d (%s in %s) failed for good: %s; `syncwatch outbox retry` queues it again",
                  notice.id, notice.kind.value, notice.channel, why)
        self._store.update_notice(notice.id, state=Delivery.FAILED, last_error=why, uncertain=False)
        notice.state, notice.last_error = Delivery.FAILED, why
        report.failed.append(notice)

    def _sent(self, notice: Notice, landed: Sent, into: list[Notice]) -> None:
        assert notice.id is not None
        now = self._clock.now()
        self._store.update_notice(notice.id, state=Delivery.SENT, sent_at=now, sent_channel=landed.channel,
                                  ts=landed.ts, uncertain=False, last_error=None)
        notice.state, notice.sent_at, notice.sent_channel, notice.ts = Delivery.SENT, now, landed.channel, landed.ts
        into.append(notice)
        if self._on_sent is not None:
            self._on_sent(notice)

    # -- channels -----------------------------------------------------------------------------

    def _channel_key(self, notice: Notice, parent: Notice | None) -> str:
        """One key per channel, whether a notice names it or gives its ID: its ID once known."""
        if parent is not None and parent.sent_channel:
            return parent.sent_channel
        channel = notice.channel
        if channel.startswith("#"):
            if channel not in self._channel_ids:
                known = self._store.channel_id(channel)
                if known is None:
                    return channel
                self._channel_ids[channel] = known
            return self._channel_ids[channel]
        return channel

    def _pace(self, key: str) -> None:
        last = self._last_post.get(key)
        if last is None:
            return
        wait = (last + PACE - self._clock.now()).total_seconds()
        if wait > 0:
            self._sleep(wait)


def classify_connection_error(exc: BaseException) -> SendError:
    """A transport failure as a ``SendError``: refused means nothing reached Slack; anything
    else (a dropped connection, a timeout) may have."""
    reason = getattr(exc, "reason", None)
    refused = isinstance(exc, ConnectionRefusedError) or (
        isinstance(exc, urllib.error.URLError) and isinstance(reason, ConnectionRefusedError)
    )
    name = type(reason if isinstance(reason, BaseException) else exc).__name__
    return SendError(f"Slack unreachable ({name}: {reason or exc})", uncertain=not refused)
