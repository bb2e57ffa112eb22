"""Slack messages for incidents: an ``IncidentView`` in, a ``Message`` (text and Block Kit) out.

Pure functions: no I/O, no clock (``view.now`` is the time), no slack_sdk. This module is the
layout: which blocks, fields, links and buttons each message has, within Slack's limits. The words
(the headline sentence per breach kind, names, durations, shares, London times) come from
``monitor.alerting.wording``. Every message starts with what is wrong in business words, then the
figures; the root, the thread replies and the escalation post reuse the one headline.

* ``root``: the incident's one message in the owner's channel, re-rendered from the incident's
  state (open, acknowledged, snoozed, resolved) each time it changes, for ``chat.update``.
* ``reply``: a thread reply for each ``NoticeKind``.
* ``escalation``: the post in the escalation channel when nobody acknowledged in time.
* ``plain_text``: the same message for a terminal (no Slack token, the README).

``duration_text`` and ``share_text`` are re-exported from ``wording`` for callers of this module.
Anything from config or data (descriptions, names, keys, reasons) is escaped for mrkdwn; the
mentions and links built here are not. Example keys are shown exactly as the facts give them
(already masked when personal). Long inputs are cut with "…" so that no Block Kit limit is
exceeded.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from monitor.alerting.notices import ACK_ACTION, SNOOZE_ACTION, IncidentView, Message, NoticeKind
from monitor.alerting.wording import (
    NAME_CAP,
    REASON_CAP,
    TITLES,
    back_text,
    channel_text,
    day_time_text,
    duration_text,
    esc,
    fact_count,
    fact_number,
    field_words,
    headline_text,
    involved_fields,
    out_of_budget_ratio,
    owner_text,
    person_text,
    plural,
    records_noun,
    share_text,
    source_name,
    target_name,
    times_text,
    when_text,
)
from monitor.config.models import Contract
from monitor.results import BreachKind, Incident, IncidentState

__all__ = ["root", "reply", "escalation", "plain_text", "example_view", "duration_text", "share_text"]

# Block Kit limits (Slack's; the same as slack_sdk's models).
HEADER_TEXT = 150
SECTION_TEXT = 3000
FIELD_TEXT = 2000
BUTTON_TEXT = 75
CONTEXT_TEXT = 2000
# Our own caps, to keep a message short whatever the config holds (names and reasons: ``wording``).
_DESCRIPTION = 300
_KEY = 60
_EXAMPLES = 5
_LINE = 1000  # the notification text

_KIND_ORDER = ("stale", "missing", "conflict", "duplicate", "unreadable")


# ----- the public renderers -----


def root(view: IncidentView) -> Message:
    """The incident's root message, as its state is now (post it, or ``chat.update`` it)."""
    incident = view.incident
    headline = headline_text(view)
    emoji, status = _status(view)
    if incident.state is IncidentState.RESOLVED:
        lines = [f"{emoji} *{status}*", f"It was: {headline}"]
        text = f"{emoji} {incident.contract}: {_lower_first(status)}"
    else:
        lines = [f"*{headline}*"] + ([f"{emoji} {status}"] if status else [])
        text = f"{emoji} {incident.contract}: {headline}"
    blocks = [_header(f"{emoji} {TITLES[incident.kind]}: {incident.contract} → {target_name(view)}"),
              _section("\n".join(lines)), _fields(view), _context(view)]
    actions = _actions(view)
    if actions is not None:
        blocks.append(actions)
    return Message(_one_line(text), blocks)


def reply(
    view: IncidentView,
    kind: NoticeKind,
    *,
    by: str | None = None,
    escalated_to: str | None = None,
    channel: str | None = None,
) -> Message:
    """A thread reply saying what changed: one sentence, also the notification text."""
    incident = view.incident
    headline = headline_text(view)
    who = person_text(by) if by else None
    if kind is NoticeKind.OPENED:
        sentence = f":rotating_light: {headline}"
    elif kind is NoticeKind.WORSE:
        sentence = f":chart_with_upwards_trend: Worse: {headline}"
    elif kind is NoticeKind.BETTER:
        sentence = f":chart_with_downwards_trend: Better, but not resolved yet: {headline}"
    elif kind is NoticeKind.ESCALATED:
        steps = ([f"calling on {escalated_to}"] if escalated_to else []) + (
            [f"posted in {channel_text(channel)}"] if channel else [])
        sentence = ":sos: Nobody acknowledged this in time" + (f": {'; '.join(steps)}." if steps else ".")
    elif kind is NoticeKind.REMINDER:
        acked = incident.state is IncidentState.ACKNOWLEDGED
        after = duration_text(view.now - incident.opened_at)
        owner = view.mention or esc(view.responsible, NAME_CAP)
        sentence = f":bell: {owner}: still open after {after}" + (
            f", acknowledged by {person_text(incident.acknowledged_by)}" if acked and incident.acknowledged_by else ""
        ) + f". {headline}"
    elif kind is NoticeKind.ACKNOWLEDGED:
        who = who or (person_text(incident.acknowledged_by) if incident.acknowledged_by else None)
        when = when_text(incident.acknowledged_at or view.now, view.now)
        sentence = f":eyes: {who} acknowledged this at {when}." if who else f":eyes: Acknowledged at {when}."
    elif kind is NoticeKind.SNOOZED:
        who = who or (person_text(incident.snoozed_by) if incident.snoozed_by else None)
        until = f" until {when_text(incident.snoozed_until, view.now)}" if incident.snoozed_until else ""
        sentence = f":zzz: {who} snoozed this{until}." if who else f":zzz: Snoozed{until}."
    elif kind is NoticeKind.RESOLVED:
        who = who or (person_text(str(incident.facts["resolved_by"])) if incident.facts.get("resolved_by") else None)
        lasted = duration_text(_lasted(incident, view.now))
        if who:
            sentence = f":white_check_mark: Resolved by {who} after {lasted}."
        else:
            sentence = f":white_check_mark: Resolved after {lasted}: {back_text(view)}."
    else:  # REOPENED
        sentence = f":repeat: It is back: {headline}. Reopened {times_text(max(1, incident.reopened))}."
    return Message(_one_line(sentence), [_section(sentence)])


def escalation(view: IncidentView, channel: str) -> Message:
    """The post in the escalation channel: nobody acknowledged in time; who was called on and
    where the incident's thread is (``channel``), with the buttons."""
    incident = view.incident
    headline = headline_text(view)
    called = f"Called on: {owner_text(view)}. The thread is in {channel_text(channel)}."
    lines = [f"*{headline}*", f":sos: Nobody acknowledged this in time. {called}"]
    blocks = [_header(f":sos: Not acknowledged: {incident.contract} → {target_name(view)}"),
              _section("\n".join(lines)), _fields(view), _context(view)]
    actions = _actions(view)
    if actions is not None:
        blocks.append(actions)
    return Message(_one_line(f":sos: {incident.contract}: nobody acknowledged in time: {headline}"), blocks)


def plain_text(message: Message) -> str:
    """The message for a terminal: each block's text on its own lines, mrkdwn markers removed,
    links as "label (url)", entities decoded; mentions kept as they are."""
    lines: list[str] = []
    for block in message.blocks:
        kind = block.get("type")
        if kind in ("header", "section") and isinstance(block.get("text"), dict):
            lines += _plain(block["text"].get("text", "")).splitlines()
        for item in (block.get("fields") or []) if kind == "section" else []:
            label, _, rest = _plain(item.get("text", "")).partition("\n")
            lines.append(f"{label}: {rest.replace(chr(10), ' · ')}" if rest else label)
        if kind == "context":
            lines += [_plain(e.get("text", "")) for e in block.get("elements", []) if isinstance(e, dict)]
        if kind == "actions":
            labels = [e["text"]["text"] for e in block.get("elements", []) if isinstance(e.get("text"), dict)]
            lines.append("  ".join(f"[{_plain(label)}]" for label in labels))
    return "\n".join(lines) if lines else _plain(message.text)


def example_view(now: datetime) -> IncidentView:
    """A realistic incident for docs: the WMS → Shopify stock sync, 14 of 300 SKUs out of budget,
    Shopify showing more than the WMS (overselling), open for 1 h 12 min at ``now``."""
    contract = Contract.model_validate({
        "contract": "stock-wms-to-shopify",
        "domain": "inventory",
        "description": "Sellable stock per SKU. The WMS owns it; Shopify shows it to shoppers.",
        "owner": "priya",
        "technical_owner": "sam",
        "source": {"system": "wms", "entity": "stock", "key": "sku", "updated_at": "last_updated"},
        "targets": [{"system": "shopify", "entity": "inventory", "key": "sku", "updated_at": "updated_at"}],
        "fields": {"available": {"compare": "number", "risk": "oversell", "critical": True}},
        "budget": {"latency": "5m", "drift": "0.5%"},
        "sampling": {"every": "3m", "size": 300},
        "runbook": "https://wiki.example.com/runbooks/stock-sync",
    })
    opened = now - timedelta(hours=1, minutes=12)
    facts: dict[str, Any] = {
        "at": now.isoformat(), "sampled": 300, "out_of_budget": 14, "ratio": 14 / 300, "upper_bound": 0.077,
        "conflicts": 0, "unreadable": 0, "by_kind": {"stale": 14}, "at_risk": {"oversell": 14}, "lag_p95": 1140.0,
        "fields": ["available"], "examples": ["85123A", "22423", "84879", "21212", "85099B"],
        "evidence": [600, 25], "peak": 14 / 300,
    }
    incident = Incident(42, contract.contract, "shopify", BreachKind.OUT_OF_BUDGET, IncidentState.OPEN,
                        opened, now, facts=facts)
    return IncidentView(incident, contract, "<@U04PRIYA01>", "Priya Shah (Ops lead, inventory)", now,
                        systems={"wms": "the WMS", "shopify": "Shopify"}, grafana_url="http://127.0.0.1:3000")


# ----- small helpers -----


def _clip(text: str, limit: int) -> str:
    """Cut mrkdwn to ``limit`` characters with "…", never inside an entity or a <link>."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    opened = max(cut.rfind("<"), cut.rfind("&"))
    if opened > max(cut.rfind(">"), cut.rfind(";")):
        cut = cut[:opened]
    return cut + "…"


def _one_line(text: str) -> str:
    return _clip(" ".join(text.split()), _LINE)


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _lasted(incident: Incident, now: datetime) -> timedelta:
    return (incident.resolved_at or now) - incident.opened_at


def _status(view: IncidentView) -> tuple[str, str]:
    """The state's emoji and its line ("" when plainly open)."""
    incident, now = view.incident, view.now
    if incident.state is IncidentState.RESOLVED:
        by = incident.facts.get("resolved_by")
        who = f" by {person_text(str(by))}" if by else ""
        return ":white_check_mark:", f"Resolved{who} after {duration_text(_lasted(incident, now))}"
    parts: list[str] = []
    if incident.state is IncidentState.ACKNOWLEDGED:
        when = f" at {when_text(incident.acknowledged_at, now)}" if incident.acknowledged_at else ""
        parts.append(f"Acknowledged by {person_text(incident.acknowledged_by)}{when}")
    snoozed = incident.snoozed_until is not None and incident.snoozed_until > now
    if snoozed and incident.snoozed_until is not None:
        parts.append(f"Snoozed until {when_text(incident.snoozed_until, now)}")
    if incident.reopened:
        parts.append(f"Reopened {times_text(incident.reopened)}")
    emoji = ":zzz:" if snoozed else ":eyes:" if incident.state is IncidentState.ACKNOWLEDGED else ":rotating_light:"
    return emoji, " · ".join(parts)


# ----- blocks -----


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": _clip(text, HEADER_TEXT), "emoji": True}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SECTION_TEXT)}}


def _fields(view: IncidentView) -> dict[str, Any]:
    """Since / Owner / Budget / Measured."""
    incident, contract, facts = view.incident, view.contract, view.incident.facts
    budget = contract.budget
    lasted = duration_text(_lasted(incident, view.now))
    items = [("Since", f"{day_time_text(incident.opened_at)}\nfor {lasted}"), ("Owner", owner_text(view))]
    kind = incident.kind
    if kind is BreachKind.OUT_OF_BUDGET:
        sampled, oob = fact_count(facts.get("sampled")), fact_count(facts.get("out_of_budget"))
        measured = f"{share_text(out_of_budget_ratio(facts))} ({oob} of {sampled} sampled)"
        lag = fact_number(facts.get("lag_p95"))
        if lag is not None:
            measured += f"\nlag p95 {duration_text(timedelta(seconds=lag))} (budget {duration_text(budget.latency)})"
        items += [("Budget", f"at most {share_text(budget.drift)} of {records_noun(contract)} "
                             f"more than {duration_text(budget.latency)} behind"), ("Measured", measured)]
    elif kind is BreachKind.CONFLICT:
        items += [("Budget", f"only {source_name(view)} writes {field_words(involved_fields(view))}"),
                  ("Measured", f"{plural(fact_count(facts.get('conflicts')), 'conflict')} "
                               f"in {fact_count(facts.get('sampled'))} sampled")]
    elif kind is BreachKind.SCHEMA_CHANGE:
        items += [("Budget", "every record readable"),
                  ("Measured", f"{fact_count(facts.get('unreadable'))} unreadable, "
                               f"{fact_count(facts.get('sampled'))} read")]
    else:
        items.append(("Reason", f"`{esc(facts.get('reason') or 'error', REASON_CAP)}`"))
    if incident.state is IncidentState.RESOLVED:
        items = [("Last measured" if label == "Measured" else label, value) for label, value in items]
    return {"type": "section",
            "fields": [{"type": "mrkdwn", "text": _clip(f"*{label}*\n{value}", FIELD_TEXT)} for label, value in items]}


def _context(view: IncidentView) -> dict[str, Any]:
    """Divergence kinds, example keys, the contract, links."""
    incident, contract, facts = view.incident, view.contract, view.incident.facts
    elements: list[str] = []
    by_kind = {str(k): fact_count(n) for k, n in (facts.get("by_kind") or {}).items() if fact_count(n) > 0}
    if by_kind and incident.kind is not BreachKind.PROBE_FAILING:
        order = sorted(by_kind, key=lambda k: (_KIND_ORDER.index(k) if k in _KIND_ORDER else 99, k))
        elements.append(" · ".join(f"{esc(k, NAME_CAP)} {by_kind[k]}" for k in order))
    examples = [str(k) for k in facts.get("examples") or []][:_EXAMPLES]
    if examples and incident.kind is not BreachKind.PROBE_FAILING:
        elements.append("Keys: " + ", ".join(f"`{esc(k, _KEY).replace('`', chr(39))}`" for k in examples))
    about = f"Incident {incident.id} · *{esc(contract.contract, NAME_CAP)}*" if incident.id is not None \
        else f"*{esc(contract.contract, NAME_CAP)}*"
    if contract.description:
        about += f": {esc(contract.description.strip(), _DESCRIPTION)}"
    elements.append(about)
    links = []
    if view.grafana_url:
        url = f"{view.grafana_url.rstrip('/')}/d/syncwatch-contract/contract-detail?var-contract=" \
              f"{quote(contract.contract)}"
        links.append(f"<{_link(url)}|Dashboard>")
    if contract.runbook:
        links.append(f"<{_link(contract.runbook)}|Runbook>")
    if links:
        elements.append(" · ".join(links))
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": _clip(e, CONTEXT_TEXT)} for e in elements]}


def _link(url: str) -> str:
    # "|" would end the URL part of <url|label>; & < > are escaped as everywhere.
    return esc(url.replace("|", "%7C").replace(" ", "%20"))


def _actions(view: IncidentView) -> dict[str, Any] | None:
    """Acknowledge (until acknowledged) and Snooze, while the incident is not resolved. None when
    there is nothing to act on (resolved, or an incident not stored yet: no id for the buttons)."""
    incident = view.incident
    if incident.state is IncidentState.RESOLVED or incident.id is None:
        return None
    value = str(incident.id)
    elements: list[dict[str, Any]] = []
    if incident.state is IncidentState.OPEN:
        elements.append({"type": "button", "action_id": ACK_ACTION, "style": "primary", "value": value,
                         "text": {"type": "plain_text", "text": "Acknowledge"}})
    snooze = _clip(f"Snooze {duration_text(view.snooze_for)}", BUTTON_TEXT)
    elements.append({"type": "button", "action_id": SNOOZE_ACTION, "value": value,
                     "text": {"type": "plain_text", "text": snooze}})
    return {"type": "actions", "elements": elements}


# ----- plain text -----

_CODE = re.compile(r"`([^`\n]*)`")
_LINK = re.compile(r"<([^<>|]+)\|([^<>]*)>")
_BARE_LINK = re.compile(r"<((?:https?|mailto):[^<>|]*)>")
_MARKERS = [re.compile(p) for p in (r"(?<!\w)\*([^*\n]+)\*(?!\w)", r"(?<!\w)_([^_\n]+)_(?!\w)",
                                    r"(?<!\w)~([^~\n]+)~(?!\w)")]


def _plain(text: str) -> str:
    """mrkdwn for a terminal. Code spans are kept apart so a key's ``*`` or ``_`` stays as it is."""
    parts = _CODE.split(text)
    out: list[str] = []
    for i, part in enumerate(parts):
        if i % 2 == 0:
            part = _LINK.sub(lambda m: f"{m.group(2)} ({m.group(1)})", part)
            part = _BARE_LINK.sub(r"\1", part)
            for marker in _MARKERS:
                part = marker.sub(r"\1", part)
        out.append(part)
    return "".join(out).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
