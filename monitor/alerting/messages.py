"""Slack messages for incidents: an ``IncidentView`` in, a ``Message`` (text and Block Kit) out.

Pure functions: no I/O, no clock (``view.now`` is the time), no slack_sdk. Every message starts
with what is wrong in business words ("Shopify shows more stock than the WMS ...: overselling
risk"), then the figures. The headline is one sentence built from the incident's ``facts``
(``monitor.incidents.incident_facts``) and its contract; the root, the thread replies and the
escalation post reuse it.

* ``root``: the incident's one message in the owner's channel, re-rendered from the incident's
  state (open, acknowledged, snoozed, resolved) each time it changes, for ``chat.update``.
* ``reply``: a thread reply for each ``NoticeKind``.
* ``escalation``: the post in the escalation channel when nobody acknowledged in time.
* ``plain_text``: the same message for a terminal (no Slack token, the README).

Anything from config or data (descriptions, names, keys, reasons) is escaped for mrkdwn; the
mentions and links built here are not. Example keys are shown exactly as the facts give them
(already masked when personal). Long inputs are cut with "…" so that no Block Kit limit is
exceeded. Times are shown in Europe/London.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from monitor.alerting.calendar import LONDON
from monitor.alerting.notices import ACK_ACTION, SNOOZE_ACTION, IncidentView, Message, NoticeKind
from monitor.config.models import Contract
from monitor.results import BreachKind, Incident, IncidentState

__all__ = ["root", "reply", "escalation", "plain_text", "example_view", "duration_text", "share_text"]

# Block Kit limits (Slack's; the same as slack_sdk's models).
HEADER_TEXT = 150
SECTION_TEXT = 3000
FIELD_TEXT = 2000
BUTTON_TEXT = 75
CONTEXT_TEXT = 2000
# Our own caps, to keep a message short whatever the config holds.
_NAME = 80  # a field, system or entity name
_DESCRIPTION = 300
_REASON = 300
_KEY = 60
_EXAMPLES = 5
_FIELD_NAMES = 3
_LINE = 1000  # the notification text

_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

_TITLES = {
    BreachKind.OUT_OF_BUDGET: "Out of budget",
    BreachKind.CONFLICT: "Ownership conflict",
    BreachKind.SCHEMA_CHANGE: "Unreadable records",
    BreachKind.PROBE_FAILING: "Cannot read a system",
}
# What each risk word means for the business; any other word w reads "w risk".
_RISKS = {
    "compliance": "compliance risk: marketing to people who opted out",
    "oversell": "overselling risk",
    "revenue": "revenue and accounting risk",
    "undersell": "lost sales: stock hidden from shoppers",
    "wismo": "customers asking where their order is",
}
_NOUNS = {"sku": "SKUs", "email": "customers", "name": "orders", "order_number": "orders", "number": "orders"}
# Field names that mean a stock quantity: "Shopify shows more stock", not "more available".
_STOCK = frozenset({"available", "quantity", "qty", "level", "stock", "stock_level", "on_hand", "inventory",
                    "inventory_quantity", "available_quantity", "sellable"})
_KIND_ORDER = ("stale", "missing", "conflict", "duplicate", "unreadable")
# ConnectorError.reason tokens in words; another reason is shown as given.
_REASONS = {
    "timeout": "requests time out",
    "unavailable": "it is unavailable",
    "rate_limited": "it keeps refusing requests (rate limit)",
    "malformed": "its answers cannot be parsed",
    "too_large": "its answers are too large",
    "auth": "access is refused (check the credentials)",
    "query": "the query fails",
    "error": "an error",
}
_BACK = {
    BreachKind.OUT_OF_BUDGET: "back within budget",
    BreachKind.CONFLICT: "no more ownership conflicts",
    BreachKind.SCHEMA_CHANGE: "records readable again",
}
_SLACK_USER = re.compile(r"[UW][A-Z0-9]{6,}")
_SLACK_CHANNEL = re.compile(r"[CGD][A-Z0-9]{6,}")


# ----- the public renderers -----


def root(view: IncidentView) -> Message:
    """The incident's root message, as its state is now (post it, or ``chat.update`` it)."""
    incident = view.incident
    headline = _headline(view)
    emoji, status = _status(view)
    if incident.state is IncidentState.RESOLVED:
        lines = [f"{emoji} *{status}*", f"It was: {headline}"]
        text = f"{emoji} {incident.contract}: {_lower_first(status)}"
    else:
        lines = [f"*{headline}*"] + ([f"{emoji} {status}"] if status else [])
        text = f"{emoji} {incident.contract}: {headline}"
    blocks = [_header(f"{emoji} {_TITLES[incident.kind]}: {incident.contract} → {_target_name(view)}"),
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
    headline = _headline(view)
    who = _person(by) if by else None
    if kind is NoticeKind.OPENED:
        sentence = f":rotating_light: {headline}"
    elif kind is NoticeKind.WORSE:
        sentence = f":chart_with_upwards_trend: Worse: {headline}"
    elif kind is NoticeKind.BETTER:
        sentence = f":chart_with_downwards_trend: Better, but not resolved yet: {headline}"
    elif kind is NoticeKind.ESCALATED:
        steps = ([f"calling on {escalated_to}"] if escalated_to else []) + (
            [f"posted in {_channel(channel)}"] if channel else [])
        sentence = ":sos: Nobody acknowledged this in time" + (f": {'; '.join(steps)}." if steps else ".")
    elif kind is NoticeKind.REMINDER:
        acked = incident.state is IncidentState.ACKNOWLEDGED
        after = duration_text(view.now - incident.opened_at)
        owner = view.mention or _esc(view.responsible, _NAME)
        sentence = f":bell: {owner}: still open after {after}" + (
            f", acknowledged by {_person(incident.acknowledged_by)}" if acked and incident.acknowledged_by else ""
        ) + f". {headline}"
    elif kind is NoticeKind.ACKNOWLEDGED:
        who = who or (_person(incident.acknowledged_by) if incident.acknowledged_by else None)
        when = _when(incident.acknowledged_at or view.now, view.now)
        sentence = f":eyes: {who} acknowledged this at {when}." if who else f":eyes: Acknowledged at {when}."
    elif kind is NoticeKind.SNOOZED:
        who = who or (_person(incident.snoozed_by) if incident.snoozed_by else None)
        until = f" until {_when(incident.snoozed_until, view.now)}" if incident.snoozed_until else ""
        sentence = f":zzz: {who} snoozed this{until}." if who else f":zzz: Snoozed{until}."
    elif kind is NoticeKind.RESOLVED:
        who = who or (_person(str(incident.facts["resolved_by"])) if incident.facts.get("resolved_by") else None)
        lasted = duration_text(_lasted(incident, view.now))
        if who:
            sentence = f":white_check_mark: Resolved by {who} after {lasted}."
        else:
            sentence = f":white_check_mark: Resolved after {lasted}: {_back(view)}."
    else:  # REOPENED
        sentence = f":repeat: It is back: {headline}. Reopened {_times(max(1, incident.reopened))}."
    return Message(_one_line(sentence), [_section(sentence)])


def escalation(view: IncidentView, channel: str) -> Message:
    """The post in the escalation channel: nobody acknowledged in time; who was called on and
    where the incident's thread is (``channel``), with the buttons."""
    incident = view.incident
    headline = _headline(view)
    called = f"Called on: {_owner(view)}. The thread is in {_channel(channel)}."
    lines = [f"*{headline}*", f":sos: Nobody acknowledged this in time. {called}"]
    blocks = [_header(f":sos: Not acknowledged: {incident.contract} → {_target_name(view)}"),
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


# ----- small formatting helpers -----


def duration_text(length: timedelta) -> str:
    """``45 s``, ``12 min``, ``1 h 12 min``, ``2 d 3 h`` (rounded down; never negative)."""
    s = max(0, int(length.total_seconds()))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    if s < 86400:
        h, m = divmod(s // 60, 60)
        return f"{h} h {m} min" if m else f"{h} h"
    d, h = divmod(s // 3600, 24)
    return f"{d} d {h} h" if h else f"{d} d"


def share_text(share: float | None) -> str:
    """A share as a percentage with at most one decimal: ``4.7%``, ``3%``, ``<0.1%``."""
    if share is None:
        return "unknown"
    if 0 < share < 0.0005:
        return "<0.1%"
    text = f"{share * 100:.1f}"
    return f"{text.removesuffix('.0')}%"


def _esc(text: object, limit: int | None = None) -> str:
    """Escape Slack's control characters in data, cut first so no entity is split."""
    value = str(text)
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…"
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


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


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def _times(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _local(at: datetime) -> datetime:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(LONDON)


def _day_time(at: datetime) -> str:
    t = _local(at)
    return f"{t:%H:%M} {_DAYS[t.weekday()]} {t.day} {_MONTHS[t.month - 1]}"


def _when(at: datetime, now: datetime) -> str:
    """``14:20`` today (London), else with the day: ``09:00 Tue 3 Nov``."""
    return f"{_local(at):%H:%M}" if _local(at).date() == _local(now).date() else _day_time(at)


def _lasted(incident: Incident, now: datetime) -> timedelta:
    return (incident.resolved_at or now) - incident.opened_at


def _person(who: str | None) -> str:
    """A Slack user ID becomes a mention; a mention stays; anything else is a name."""
    if not who:
        return "someone"
    if _SLACK_USER.fullmatch(who):
        return f"<@{who}>"
    if re.fullmatch(r"<[@!][\w^|.-]+>", who):
        return who
    return _esc(who, _NAME)


def _channel(channel: str) -> str:
    return f"<#{channel}>" if _SLACK_CHANNEL.fullmatch(channel) else _esc(channel, _NAME)


def _owner(view: IncidentView) -> str:
    name = _esc(view.responsible, _NAME)
    return f"{view.mention} · {name}" if view.mention else name


# ----- facts and contract in words -----


def _facts(view: IncidentView) -> Mapping[str, Any]:
    return view.incident.facts


def _count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def _number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _system(view: IncidentView, key: str) -> str:
    return _esc(view.systems.get(key, key), _NAME)


def _target_name(view: IncidentView) -> str:
    return _system(view, view.incident.target)


def _source_name(view: IncidentView) -> str:
    return _system(view, view.contract.source.system)


def _noun(contract: Contract) -> str:
    source = contract.source
    return _esc(_NOUNS.get(source.key.lower(), source.entity.replace("_", " ")), _NAME)


def _field_words(names: Iterable[str]) -> str:
    words = list(dict.fromkeys("stock" if n.lower() in _STOCK else n.replace("_", " ") for n in names))
    if not words:
        return "fields"
    shown = [_esc(w, _NAME) for w in words[:_FIELD_NAMES]]
    if len(words) > _FIELD_NAMES:
        shown.append(_plural(len(words) - _FIELD_NAMES, "more field"))
    return _and(shown)


def _involved(view: IncidentView, risk: str | None = None) -> list[str]:
    """The fields to name: those in the facts (with ``risk`` when given), else the contract's."""
    listed = [str(f) for f in _facts(view).get("fields") or []]
    if risk is None:
        return listed or list(view.contract.fields)
    with_risk = [name for name, spec in view.contract.fields.items() if spec.risk == risk]
    return [f for f in listed if f in with_risk] or with_risk or listed


def _risk_phrase(risk: str) -> str:
    return _RISKS.get(risk) or f"{_esc(risk, _NAME)} risk"


def _risks(view: IncidentView) -> list[str]:
    """Risk words at risk now, the most keys first (known words first on a tie)."""
    at_risk = _facts(view).get("at_risk") or {}
    order = list(_RISKS)
    counts = {str(r): _count(n) for r, n in at_risk.items() if _count(n) > 0}
    return sorted(counts, key=lambda r: (-counts[r], order.index(r) if r in order else len(order), r))


def _headline(view: IncidentView) -> str:
    """One sentence: what is wrong, in business words, with the main figures."""
    kind = view.incident.kind
    if kind is BreachKind.OUT_OF_BUDGET:
        return _upper_first(_out_of_budget(view))
    facts, target = _facts(view), _target_name(view)
    if kind is BreachKind.CONFLICT:
        n = _count(facts.get("conflicts"))
        return _upper_first(
            f"{target} changed {_field_words(_involved(view))} on {_plural(n, 'record')} that "
            f"{_source_name(view)} owns (ownership conflict): someone writes a field another system owns"
        )
    if kind is BreachKind.SCHEMA_CHANGE:
        n = _count(facts.get("unreadable"))
        names = [str(f) for f in facts.get("fields") or []]
        which = f"{'field' if len(names) == 1 else 'fields'} {_field_list(names)}" if names else "a field"
        return _upper_first(f"{target} returned {_plural(n, 'record')} syncwatch could not read "
                            f"({which} missing or renamed?): the API may have changed")
    reason = str(facts.get("reason") or "error")
    why = _REASONS.get(reason) or _esc(reason, _REASON)
    unread = _source_name(view) if facts.get("failing") == "source" else target
    return f"syncwatch cannot read {unread}: {why}. This is not drift: we cannot see."


def _out_of_budget(view: IncidentView) -> str:
    """The risk's own sentence when a field's risk applies (most keys first), else a neutral one."""
    facts, contract = _facts(view), view.contract
    source, target, noun = _source_name(view), _target_name(view), _noun(contract)
    sampled, oob = _count(facts.get("sampled")), _count(facts.get("out_of_budget"))
    ratio, budget = _ratio(facts), share_text(contract.budget.drift)
    risks = _risks(view)
    if not risks:
        verb = "is" if oob == 1 else "are"
        return (f"{oob} of {sampled} sampled {noun} {verb} out of sync between {source} and {target} for longer "
                f"than the {duration_text(contract.budget.latency)} budget ({share_text(ratio)}, budget {budget})")
    risk = risks[0]
    n = _count((facts.get("at_risk") or {}).get(risk))
    # The share is always the out-of-budget one (what the budget is about); say so when n is another count.
    share = share_text(ratio) if n == oob else f"{share_text(ratio)} out of budget"
    what = _field_words(_involved(view, risk))
    if risk in ("oversell", "undersell"):
        more = "more" if risk == "oversell" else "less"
        sentence = f"{target} shows {more} {what} than {source}"
    else:
        sentence = f"{target} and {source} disagree on {what}"
    also = "; also " + _and([_risk_phrase(r) for r in risks[1:]]) if len(risks) > 1 else ""
    return f"{sentence} for {n} of {sampled} sampled {noun} ({share}, budget {budget}): {_risk_phrase(risk)}{also}"


def _ratio(facts: Mapping[str, Any]) -> float | None:
    ratio = _number(facts.get("ratio"))
    sampled = _count(facts.get("sampled"))
    return ratio if ratio is not None or not sampled else _count(facts.get("out_of_budget")) / sampled


def _field_list(fields: list[str]) -> str:
    shown = [_esc(f, _NAME) for f in fields[:_FIELD_NAMES]]
    if len(fields) > _FIELD_NAMES:
        shown.append(f"{len(fields) - _FIELD_NAMES} more")
    return ", ".join(shown)


def _back(view: IncidentView) -> str:
    if view.incident.kind is BreachKind.PROBE_FAILING:
        return f"syncwatch can read {_target_name(view)} again"
    return _BACK[view.incident.kind]


def _status(view: IncidentView) -> tuple[str, str]:
    """The state's emoji and its line ("" when plainly open)."""
    incident, now = view.incident, view.now
    if incident.state is IncidentState.RESOLVED:
        by = incident.facts.get("resolved_by")
        who = f" by {_person(str(by))}" if by else ""
        return ":white_check_mark:", f"Resolved{who} after {duration_text(_lasted(incident, now))}"
    parts: list[str] = []
    if incident.state is IncidentState.ACKNOWLEDGED:
        when = f" at {_when(incident.acknowledged_at, now)}" if incident.acknowledged_at else ""
        parts.append(f"Acknowledged by {_person(incident.acknowledged_by)}{when}")
    snoozed = incident.snoozed_until is not None and incident.snoozed_until > now
    if snoozed and incident.snoozed_until is not None:
        parts.append(f"Snoozed until {_when(incident.snoozed_until, now)}")
    if incident.reopened:
        parts.append(f"Reopened {_times(incident.reopened)}")
    emoji = ":zzz:" if snoozed else ":eyes:" if incident.state is IncidentState.ACKNOWLEDGED else ":rotating_light:"
    return emoji, " · ".join(parts)


# ----- blocks -----


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": _clip(text, HEADER_TEXT), "emoji": True}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, SECTION_TEXT)}}


def _fields(view: IncidentView) -> dict[str, Any]:
    """Since / Owner / Budget / Measured."""
    incident, contract, facts = view.incident, view.contract, _facts(view)
    budget = contract.budget
    lasted = duration_text(_lasted(incident, view.now))
    items = [("Since", f"{_day_time(incident.opened_at)}\nfor {lasted}"), ("Owner", _owner(view))]
    kind = incident.kind
    if kind is BreachKind.OUT_OF_BUDGET:
        sampled, oob = _count(facts.get("sampled")), _count(facts.get("out_of_budget"))
        measured = f"{share_text(_ratio(facts))} ({oob} of {sampled} sampled)"
        lag = _number(facts.get("lag_p95"))
        if lag is not None:
            measured += f"\nlag p95 {duration_text(timedelta(seconds=lag))} (budget {duration_text(budget.latency)})"
        items += [("Budget", f"at most {share_text(budget.drift)} of {_noun(contract)} "
                             f"more than {duration_text(budget.latency)} behind"), ("Measured", measured)]
    elif kind is BreachKind.CONFLICT:
        items += [("Budget", f"only {_source_name(view)} writes {_field_words(_involved(view))}"),
                  ("Measured", f"{_plural(_count(facts.get('conflicts')), 'conflict')} "
                               f"in {_count(facts.get('sampled'))} sampled")]
    elif kind is BreachKind.SCHEMA_CHANGE:
        items += [("Budget", "every record readable"),
                  ("Measured", f"{_count(facts.get('unreadable'))} unreadable, {_count(facts.get('sampled'))} read")]
    else:
        items.append(("Reason", f"`{_esc(facts.get('reason') or 'error', _REASON)}`"))
    if incident.state is IncidentState.RESOLVED:
        items = [("Last measured" if label == "Measured" else label, value) for label, value in items]
    return {"type": "section",
            "fields": [{"type": "mrkdwn", "text": _clip(f"*{label}*\n{value}", FIELD_TEXT)} for label, value in items]}


def _context(view: IncidentView) -> dict[str, Any]:
    """Divergence kinds, example keys, the contract, links."""
    incident, contract, facts = view.incident, view.contract, _facts(view)
    elements: list[str] = []
    by_kind = {str(k): _count(n) for k, n in (facts.get("by_kind") or {}).items() if _count(n) > 0}
    if by_kind and incident.kind is not BreachKind.PROBE_FAILING:
        order = sorted(by_kind, key=lambda k: (_KIND_ORDER.index(k) if k in _KIND_ORDER else 99, k))
        elements.append(" · ".join(f"{_esc(k, _NAME)} {by_kind[k]}" for k in order))
    examples = [str(k) for k in facts.get("examples") or []][:_EXAMPLES]
    if examples and incident.kind is not BreachKind.PROBE_FAILING:
        elements.append("Keys: " + ", ".join(f"`{_esc(k, _KEY).replace('`', chr(39))}`" for k in examples))
    about = f"Incident {incident.id} · *{_esc(contract.contract, _NAME)}*" if incident.id is not None \
        else f"*{_esc(contract.contract, _NAME)}*"
    if contract.description:
        about += f": {_esc(contract.description.strip(), _DESCRIPTION)}"
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
    return _esc(url.replace("|", "%7C").replace(" ", "%20"))


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
