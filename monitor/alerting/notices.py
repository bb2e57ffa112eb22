"""What the owner is told about an incident, as plain data: the notice kinds, the message a
renderer makes of one (``Message``), and everything a renderer needs to know (``IncidentView``).

The planner (``monitor.alerting.planner``) decides which notices are due; the renderer
(``monitor.alerting.messages``) turns them into Block Kit; the outbox (``monitor.alerting.outbox``)
delivers them. None of them reads the clock.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from monitor.config.models import Contract
from monitor.results import Incident

__all__ = [
    "NoticeKind", "Message", "IncidentView", "ACK_ACTION", "SNOOZE_ACTION", "Method", "Delivery", "Notice", "Thread",
    "ROOT", "ESCALATION",
]

# action_id of the buttons on a root message; their value is the incident's id.
ACK_ACTION = "syncwatch_ack"
SNOOZE_ACTION = "syncwatch_snooze"


class NoticeKind(StrEnum):
    """Why a message is sent. ``OPENED``/``REOPENED`` post the root message (``REOPENED`` as a
    thread reply when the incident already has a thread); the rest are thread replies, apart
    from ``ESCALATED`` to a channel, which also posts in the escalation channel."""

    OPENED = "opened"
    REOPENED = "reopened"
    WORSE = "worse"
    BETTER = "better"
    ESCALATED = "escalated"
    REMINDER = "reminder"
    ACKNOWLEDGED = "acknowledged"
    SNOOZED = "snoozed"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class Message:
    """One Slack message: ``text`` is the notification and fallback text (plain words, mrkdwn
    allowed, never a customer's personal data); ``blocks`` the Block Kit layout."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class IncidentView:
    """An incident with what it takes to describe it.

    ``mention``: who is called on, already in Slack's syntax (``<@U04PRIYA01>``, or a user
    group ``<!subteam^S0ONCALL>``), None for nobody. ``responsible``: their name in words.
    ``systems``: display names by system key (``{"wms": "the WMS", "shopify": "Shopify"}``);
    a key missing here is shown as it is. ``grafana_url``: Grafana's base URL, or None.
    ``snooze_for``: how long the Snooze button snoozes.
    """

    incident: Incident
    contract: Contract
    mention: str | None
    responsible: str
    now: datetime
    systems: dict[str, str] = field(default_factory=dict)
    grafana_url: str | None = None
    snooze_for: timedelta = timedelta(hours=2)


class Method(StrEnum):
    """How a notice reaches Slack: a new message in the channel, a reply in the incident's
    thread, or an edit of an earlier message (the root, or the escalation post)."""

    POST = "post"
    REPLY = "reply"
    UPDATE = "update"


class Delivery(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"  # refused for good (e.g. channel_not_found); kept, and shown by `syncwatch outbox`


# What a planned reply or edit refers to, before the store has given the messages their ids.
ROOT = "root"
ESCALATION = "escalation"


@dataclass(slots=True)
class Notice:
    """One message in the outbox: written before it is sent, sent once, in order per channel.

    ``uid`` travels with the message (Slack message metadata) so that a send whose answer was
    lost can be found again instead of posted twice. ``parent_id``: the notice whose message a
    reply threads under or an update edits (planned as ``parent`` = ``ROOT``/``ESCALATION``).
    ``uncertain``: an attempt may have reached Slack; look before sending again.
    """

    id: int | None
    uid: str
    incident_id: int | None
    kind: NoticeKind
    method: Method
    channel: str
    message: Message
    created_at: datetime
    parent: str | None = None
    parent_id: int | None = None
    state: Delivery = Delivery.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    uncertain: bool = False
    sent_at: datetime | None = None
    sent_channel: str | None = None
    ts: str | None = None


@dataclass(slots=True)
class Thread:
    """What has been told about one incident, and where: the planner's memory between runs.

    ``responsible``: the owner called on (their key in owners.yaml); ``out_of_hours``: announced
    on the out-of-hours route (then every minute counts towards escalation). ``escalation``:
    ``none``, ``backup`` or ``channel``, as far as it went. The ``told_*`` fields mirror the
    incident as last described, so a change (acknowledged, snoozed, worse, better, reopened,
    resolved) is told once.
    """

    incident_id: int
    channel: str
    announced_at: datetime
    responsible: str
    out_of_hours: bool = False
    root_id: int | None = None
    escalation_id: int | None = None
    escalation: str = "none"
    escalated_at: datetime | None = None
    last_notice_at: datetime | None = None
    told_state: str = "open"
    told_ack_at: datetime | None = None
    told_snooze_until: datetime | None = None
    told_peak: float = 0.0
    told_better: bool = False
    told_reopened: int = 0

    @property
    def closed(self) -> bool:
        return self.told_state == "resolved"
