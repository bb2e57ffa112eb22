"""What people do to incidents, from Slack's buttons or the CLI: acknowledge, snooze, resolve.

Each is one guarded UPDATE (``Store.change_incident``), so a probe run writing the same
incident at the same moment loses nothing. The notifier tells the thread on its next plan.

``interaction`` reads a Slack ``block_actions`` payload (already verified by the caller with
Slack's signing secret) and applies the button it carries.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from monitor.alerting.notices import ACK_ACTION, SNOOZE_ACTION
from monitor.config.models import Owner
from monitor.results import Incident, IncidentState
from monitor.store import Store
from monitor.units import format_duration

__all__ = ["ActionRefused", "Done", "acknowledge", "snooze", "resolve", "interaction", "who"]


class ActionRefused(Exception):
    """The action makes no sense for this incident (unknown, resolved, ...); the message says why."""


@dataclass(frozen=True)
class Done:
    incident: Incident
    said: str  # what happened, in words


def _unresolved(store: Store, incident_id: int) -> Incident:
    found = store.incident(incident_id)
    if found is None:
        raise ActionRefused(f"there is no incident {incident_id}")
    if found.state is IncidentState.RESOLVED:
        raise ActionRefused(f"incident {incident_id} is resolved already")
    return found


def _changed(store: Store, incident_id: int, **values: Any) -> Incident:
    changed = store.change_incident(incident_id, **values)
    if changed is None:  # resolved between the read and the write
        raise ActionRefused(f"incident {incident_id} is resolved already")
    return changed


def acknowledge(store: Store, incident_id: int, by: str, now: datetime) -> Done:
    """Someone is on it: escalation and reminders stop; the thread still hears of changes."""
    found = _unresolved(store, incident_id)
    if found.state is IncidentState.ACKNOWLEDGED:
        return Done(found, f"incident {incident_id} was acknowledged already by {found.acknowledged_by}")
    done = _changed(store, incident_id, state=IncidentState.ACKNOWLEDGED, acknowledged_at=now, acknowledged_by=by)
    return Done(done, f"incident {incident_id} acknowledged by {by}")


def snooze(store: Store, incident_id: int, by: str, now: datetime, length: timedelta) -> Done:
    """Quiet for ``length``: no escalation, no reminders; measuring and the thread's changes go on."""
    if length <= timedelta(0):
        raise ActionRefused("a snooze must last more than 0, e.g. 2h")
    _unresolved(store, incident_id)
    done = _changed(store, incident_id, snoozed_until=now + length, snoozed_by=by)
    return Done(done, f"incident {incident_id} snoozed for {format_duration(length)} by {by}")


def resolve(store: Store, incident_id: int, by: str, now: datetime) -> Done:
    """Resolved by hand; a breach in the next runs reopens it (within the cool-down) or opens another."""
    found = _unresolved(store, incident_id)
    done = _changed(store, incident_id, state=IncidentState.RESOLVED, resolved_at=now,
                    facts={**found.facts, "resolved_by": by})
    return Done(done, f"incident {incident_id} resolved by {by}")


def who(slack_user: str, owners: Mapping[str, Owner]) -> str:
    """The owner key of a Slack user, or their Slack ID when they are not an owner."""
    for key, owner in owners.items():
        if owner.slack == slack_user:
            return key
    return slack_user


def interaction(payload_text: str, store: Store, owners: Mapping[str, Owner], now: datetime,
                snooze_for: timedelta) -> list[Done]:
    """Apply the Acknowledge/Snooze buttons of a ``block_actions`` payload (the ``payload``
    form field Slack posts). Raises ``ActionRefused`` for a payload that is not ours."""
    try:
        payload = json.loads(payload_text)
    except json.JSONDecodeError:
        raise ActionRefused("the payload is not JSON") from None
    if not isinstance(payload, dict) or payload.get("type") != "block_actions":
        raise ActionRefused("not a block_actions payload")
    user = payload.get("user")
    user_id = str(user.get("id") or "") if isinstance(user, dict) else ""
    if not user_id:
        raise ActionRefused("the payload names no user")
    actions = payload.get("actions")
    if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
        raise ActionRefused("the payload's actions are not a list of actions")
    by = who(user_id, owners)
    done: list[Done] = []
    for action in actions:
        action_id = action.get("action_id")
        if action_id not in (ACK_ACTION, SNOOZE_ACTION):
            continue
        value = str(action.get("value"))
        if not value.isdigit() or not 0 < int(value) < 2**63:
            raise ActionRefused(f"button value {action.get('value')!r} is not an incident number")
        incident_id = int(value)
        if action_id == ACK_ACTION:
            done.append(acknowledge(store, incident_id, by, now))
        else:
            done.append(snooze(store, incident_id, by, now, snooze_for))
    if not done:
        raise ActionRefused("no syncwatch button in the payload")
    return done
