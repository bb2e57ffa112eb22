"""Which notices an incident needs now: the routing rules, as one pure function.

``plan`` compares an incident with what its thread has been told (``Thread``) and returns the
messages that close the gap, each rendered once and queued in the outbox:

* not announced yet: the root message, in the contract's channel mentioning the owner (the
  technical owner for a probe failure); out of the owner's working hours, on the
  out-of-hours route. An incident whose breaches all fell in a maintenance window or under a
  silence is announced only if it breaches again after it (a WMS down for its planned
  maintenance fails its probes; that is no news once it is back).
* announced: a reply in the thread for each change (worse, better, acknowledged, snoozed,
  reopened, resolved), and the root message edited when its state changes; escalation to the
  backup, then to the escalation channel, when nobody acknowledges within ``escalate_after``
  of working time (counted again from the end of a snooze); once escalation has gone as far as
  it can, a reminder in the thread every ``repeat_every`` (in working hours) while nobody has
  acknowledged.
* while a maintenance window or a silence covers the incident, nothing is sent: what is still
  true when it ends is told then (the resolution too). Snoozed: no escalation, no reminders.

Because it plans from state, not from events, it is safe to call as often as you like: after
every probe run, on a timer, after a button press, after a restart.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

from monitor.alerting import messages
from monitor.alerting.calendar import active_window, add_working_time, in_working_hours, silenced
from monitor.alerting.notices import (
    ESCALATION,
    ROOT,
    IncidentView,
    Message,
    Method,
    Notice,
    NoticeKind,
    Thread,
)
from monitor.config.models import Alerting, Contract, Owner
from monitor.results import BreachKind, Incident, IncidentState, Silence

__all__ = ["Routing", "plan", "held_back", "responsible_for", "system_names"]


@dataclass(frozen=True)
class Routing:
    """Everything routing needs from the configuration."""

    alerting: Alerting
    owners: Mapping[str, Owner]
    systems: Mapping[str, str]  # display names by system key

    def channel_of(self, contract: Contract) -> str:
        return contract.channel or self.alerting.channel


def system_names(systems: Mapping[str, object]) -> dict[str, str]:
    """Display names of systems: ``Shopify`` for a shopify system, ``the WMS`` for a short key."""
    names = {}
    for key, system in systems.items():
        if getattr(system, "kind", None) == "shopify":
            names[key] = "Shopify"
        elif len(key) <= 4 and key.isalpha():
            names[key] = f"the {key.upper()}"
        else:
            names[key] = key.replace("_", " ").replace("-", " ")
    return names


def responsible_for(incident: Incident, contract: Contract) -> str:
    """Who answers for the incident: the technical owner when we cannot see, else the owner."""
    if incident.kind is BreachKind.PROBE_FAILING:
        return contract.effective_technical_owner
    return contract.owner


def held_back(
    incident: Incident, contract: Contract, routing: Routing, silences: Iterable[Silence], now: datetime
) -> str | None:
    """Why notifications about the incident are held back now (a maintenance window, a silence), or None."""
    systems = (contract.source.system, incident.target)
    windows = [w for w in routing.alerting.maintenance if w.applies_to(contract.contract, systems)]
    window = active_window(windows, now)
    if window is not None:
        return f"maintenance window {window.name}"
    silence = silenced(silences, incident.contract, incident.target, incident.kind, now)
    if silence is not None:
        return f"silence {silence.id}"
    return None


def plan(
    incident: Incident,
    thread: Thread | None,
    contract: Contract,
    routing: Routing,
    silences: Iterable[Silence],
    now: datetime,
) -> tuple[Thread | None, list[Notice]]:
    """The thread as it will be once ``notices`` are sent, and the notices; (None, []) when an
    incident needs no thread (never announced, nothing to announce)."""
    if incident.id is None:
        raise ValueError("plan needs a stored incident (its id is the thread's key)")
    if held_back(incident, contract, routing, silences, now) is not None:
        return thread, []
    if thread is None:
        if incident.state is IncidentState.RESOLVED:
            return None, []
        if held_back(incident, contract, routing, silences, incident.last_breach_at) is not None:
            # It last breached while held back (a system under maintenance is expected to fail): it is
            # announced if it breaches again once the window or silence is over, not for what it did in it.
            return None, []
        return _announce(incident, contract, routing, now)
    return _follow(incident, replace(thread), contract, routing, now)


# -- announcing -------------------------------------------------------------------------------


def _announce(incident: Incident, contract: Contract, routing: Routing, now: datetime) -> tuple[Thread, list[Notice]]:
    key = responsible_for(incident, contract)
    owner = routing.owners[key]
    channel, mention, out_of_hours = routing.channel_of(contract), f"<@{owner.slack}>", False
    ooh = routing.alerting.out_of_hours
    if ooh is not None and not in_working_hours(owner.working_hours, now):
        out_of_hours = True
        channel = ooh.channel or channel
        mention = ooh.mention_text or mention
    thread = Thread(
        incident_id=_id(incident), channel=channel, announced_at=now, responsible=key, out_of_hours=out_of_hours,
        last_notice_at=now, told_state=incident.state.value, told_ack_at=incident.acknowledged_at,
        told_snooze_until=incident.snoozed_until, told_peak=_peak(incident), told_better=_better(incident),
        told_reopened=incident.reopened,
    )
    view = _view(incident, contract, routing, now, mention, _name(routing, key))
    return thread, [_notice(incident, NoticeKind.OPENED, Method.POST, channel, messages.root(view), now)]


# -- following an announced incident ----------------------------------------------------------


def _follow(
    incident: Incident, thread: Thread, contract: Contract, routing: Routing, now: datetime
) -> tuple[Thread, list[Notice]]:
    notices: list[Notice] = []
    if thread.responsible not in routing.owners:  # the owner left owners.yaml: whoever answers now
        thread.responsible = responsible_for(incident, contract)
    owner = routing.owners[thread.responsible]
    called = _called(thread, routing)
    view = _view(incident, contract, routing, now, called, _name(routing, thread.responsible))

    def reply(kind: NoticeKind, **extra: str | None) -> None:
        notices.append(_notice(incident, kind, Method.REPLY, thread.channel, messages.reply(view, kind, **extra), now,
                               parent=ROOT))

    def edit_root() -> None:
        notices.append(_notice(incident, kind_of_state(incident), Method.UPDATE, thread.channel,
                               messages.root(view), now, parent=ROOT))
        if thread.escalation_id is not None:
            notices.append(_notice(incident, kind_of_state(incident), Method.UPDATE,
                                   routing.alerting.escalation_channel or thread.channel,
                                   messages.escalation(view, thread.channel), now, parent=ESCALATION))

    if incident.state is IncidentState.RESOLVED:
        if not thread.closed:
            reply(NoticeKind.RESOLVED)
            edit_root()
            thread.told_state = IncidentState.RESOLVED.value
            thread.last_notice_at = now
        return thread, notices

    if thread.closed or incident.reopened > thread.told_reopened:
        # Back within the cool-down: the same thread and the same story. Whoever was called stays
        # called (no second "calling on Tom"); the clock towards the next level starts again.
        reply(NoticeKind.REOPENED)
        thread.told_state, thread.told_reopened = incident.state.value, incident.reopened
        thread.announced_at, thread.last_notice_at = now, now
        if thread.escalation != "none":
            thread.escalated_at = now
        thread.told_ack_at, thread.told_snooze_until = incident.acknowledged_at, incident.snoozed_until
        thread.told_peak, thread.told_better = _peak(incident), _better(incident)
        edit_root()
        return thread, notices

    edited = False
    if incident.acknowledged_at is not None and thread.told_ack_at != incident.acknowledged_at:
        reply(NoticeKind.ACKNOWLEDGED, by=_who(routing, incident.acknowledged_by))
        thread.told_ack_at, edited = incident.acknowledged_at, True
    if (incident.snoozed_until is not None and incident.snoozed_until > now
            and thread.told_snooze_until != incident.snoozed_until):
        reply(NoticeKind.SNOOZED, by=_who(routing, incident.snoozed_by))
        thread.told_snooze_until, edited = incident.snoozed_until, True
    thread.told_state = incident.state.value
    if _peak(incident) > thread.told_peak:
        reply(NoticeKind.WORSE)
        thread.last_notice_at = now
    elif _better(incident) and not thread.told_better:
        reply(NoticeKind.BETTER)
        thread.last_notice_at = now
    thread.told_peak, thread.told_better = _peak(incident), _better(incident)
    if edited:
        edit_root()

    snoozed = incident.snoozed_until is not None and incident.snoozed_until > now
    if incident.acknowledged_at is not None or snoozed:
        return thread, notices

    backup = routing.owners.get(owner.backup) if owner.backup else None
    escalation_channel = routing.alerting.escalation_channel
    step = _next_step(thread.escalation, backup is not None, escalation_channel is not None)
    if step is not None:
        # The clock towards the next step runs from the last step (or the announcement, or a
        # reopening), and from the end of a snooze: whoever snoozed asked for that long. It counts
        # the working time of whoever is called now (every minute on the out-of-hours route).
        since = thread.escalated_at if thread.escalation != "none" and thread.escalated_at else thread.announced_at
        if incident.snoozed_until is not None and incident.snoozed_until > since:
            since = incident.snoozed_until
        hours = owner.working_hours if thread.escalation == "none" or backup is None else backup.working_hours
        after = routing.alerting.escalate_after
        due_at = since + after if thread.out_of_hours else add_working_time(hours, since, after)
        if now >= due_at:
            if step == "backup" and backup is not None:
                reply(NoticeKind.ESCALATED, escalated_to=f"<@{backup.slack}>")
            elif escalation_channel is not None:
                thread.escalation = step
                called_view = replace(view, mention=_called(thread, routing))
                notices.append(_notice(incident, NoticeKind.ESCALATED, Method.POST, escalation_channel,
                                       messages.escalation(called_view, thread.channel), now))
                notices.append(_notice(incident, NoticeKind.ESCALATED, Method.REPLY, thread.channel,
                                       messages.reply(view, NoticeKind.ESCALATED, channel=escalation_channel), now,
                                       parent=ROOT))
            thread.escalation, thread.escalated_at, thread.last_notice_at = step, now, now
            return thread, notices

    # Reminders once escalation has gone as far as it can (until then, escalating is reminding).
    last = thread.last_notice_at or thread.announced_at
    if step is None and now - last >= routing.alerting.repeat_every and (
        thread.out_of_hours or in_working_hours(_current(thread, routing).working_hours, now)
    ):
        reminder_view = replace(view, mention=_called(thread, routing))
        notices.append(_notice(incident, NoticeKind.REMINDER, Method.REPLY, thread.channel,
                               messages.reply(reminder_view, NoticeKind.REMINDER), now, parent=ROOT))
        thread.last_notice_at = now
    return thread, notices


def _next_step(level: str, has_backup: bool, has_channel: bool) -> str | None:
    """The escalation step after ``level``: the backup, then the escalation channel; None at the end."""
    if level == "none" and has_backup:
        return "backup"
    if level in ("none", "backup") and has_channel:
        return "channel"
    return None


def kind_of_state(incident: Incident) -> NoticeKind:
    """The notice kind an edit of the root message records (what changed its state)."""
    if incident.state is IncidentState.RESOLVED:
        return NoticeKind.RESOLVED
    if incident.state is IncidentState.ACKNOWLEDGED:
        return NoticeKind.ACKNOWLEDGED
    if incident.snoozed_until is not None:
        return NoticeKind.SNOOZED
    return NoticeKind.REOPENED


# -- helpers ----------------------------------------------------------------------------------


def _id(incident: Incident) -> int:
    assert incident.id is not None
    return incident.id


def _peak(incident: Incident) -> float:
    return float(incident.facts.get("peak") or 0.0)


def _better(incident: Incident) -> bool:
    return bool(incident.facts.get("told_better"))


def _name(routing: Routing, key: str) -> str:
    owner = routing.owners.get(key)
    return owner.name if owner is not None else key


def _who(routing: Routing, by: object) -> str | None:
    """An owner's name for an owner key, a Slack user ID as a mention, anything else as given."""
    if by is None:
        return None
    text = str(by)
    if text in routing.owners:
        return routing.owners[text].name
    for owner in routing.owners.values():
        if owner.slack == text:
            return owner.name
    return f"<@{text}>" if text[:1] in ("U", "W") and text[1:].isalnum() and text.isupper() else text


def _current(thread: Thread, routing: Routing) -> Owner:
    """Who should act now: the backup once escalated to them, else the responsible owner."""
    owner = routing.owners[thread.responsible]
    if thread.escalation != "none" and owner.backup and owner.backup in routing.owners:
        return routing.owners[owner.backup]
    return owner


def _called(thread: Thread, routing: Routing) -> str:
    """The mentions for the thread now: the owner (or the out-of-hours route), and the backup
    once escalated."""
    owner = routing.owners[thread.responsible]
    ooh = routing.alerting.out_of_hours
    first = ooh.mention_text if thread.out_of_hours and ooh is not None and ooh.mention_text else f"<@{owner.slack}>"
    if thread.escalation != "none" and owner.backup and owner.backup in routing.owners:
        return f"{first} <@{routing.owners[owner.backup].slack}>"
    return first


def _view(incident: Incident, contract: Contract, routing: Routing, now: datetime, mention: str | None,
          responsible: str) -> IncidentView:
    # People as the messages name them: an owner by name, a Slack user as a mention.
    facts = incident.facts
    if "resolved_by" in facts:
        facts = {**facts, "resolved_by": _who(routing, facts["resolved_by"])}
    shown = replace(incident, acknowledged_by=_who(routing, incident.acknowledged_by),
                    snoozed_by=_who(routing, incident.snoozed_by), facts=facts)
    return IncidentView(
        incident=shown, contract=contract, mention=mention, responsible=responsible, now=now,
        systems=dict(routing.systems), grafana_url=routing.alerting.grafana_url, snooze_for=routing.alerting.snooze,
    )


def _notice(incident: Incident, kind: NoticeKind, method: Method, channel: str, message: Message, now: datetime,
            parent: str | None = None) -> Notice:
    return Notice(None, uuid.uuid4().hex, incident.id, kind, method, channel, message, now, parent=parent,
                  next_attempt_at=now)
