"""The words of an incident's Slack messages: what is wrong, in business words, and the small texts
around it. Pure functions: no I/O, no clock, no Block Kit (``monitor.alerting.messages`` lays the words
out in blocks).

The headline is one sentence per breach kind, built from the incident's ``facts``
(``monitor.incidents.incident_facts``) and its contract: "Shopify shows more stock than the WMS for
14 of 300 sampled SKUs (4.7%, budget 0.5%): overselling risk". Here too: what "resolved" means per
kind, people and channels as mentions or names, durations, shares and times (in Europe/London).

Anything from config or data (descriptions, names, keys, reasons) is escaped for mrkdwn by ``esc``;
the mentions built here are not.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from monitor.alerting.calendar import LONDON
from monitor.alerting.notices import IncidentView
from monitor.config.models import Contract
from monitor.results import BreachKind

__all__ = [
    "NAME_CAP", "REASON_CAP", "TITLES", "headline_text", "back_text", "esc", "duration_text", "share_text",
    "plural", "times_text", "day_time_text", "when_text", "person_text", "channel_text", "owner_text",
    "fact_count", "fact_number", "out_of_budget_ratio", "target_name", "source_name", "records_noun",
    "field_words", "involved_fields", "risk_phrase", "DAYS", "MONTHS", "REASONS",
]

# Our own caps, to keep a message short whatever the config holds.
NAME_CAP = 80  # a field, system or entity name
REASON_CAP = 300
_FIELD_NAMES = 3

DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

TITLES = {
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
# ConnectorError.reason tokens in words; another reason is shown as given.
REASONS = {
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


# ----- the headline, per breach kind -----


def headline_text(view: IncidentView) -> str:
    """One sentence: what is wrong, in business words, with the main figures."""
    kind = view.incident.kind
    if kind is BreachKind.OUT_OF_BUDGET:
        return _upper_first(_out_of_budget(view))
    facts, target = _facts(view), target_name(view)
    if kind is BreachKind.CONFLICT:
        n = fact_count(facts.get("conflicts"))
        return _upper_first(
            f"{target} changed {field_words(involved_fields(view))} on {plural(n, 'record')} that "
            f"{source_name(view)} owns (ownership conflict): someone writes a field another system owns"
        )
    if kind is BreachKind.SCHEMA_CHANGE:
        n = fact_count(facts.get("unreadable"))
        names = [str(f) for f in facts.get("fields") or []]
        which = f"{'field' if len(names) == 1 else 'fields'} {_field_list(names)}" if names else "a field"
        return _upper_first(f"{target} returned {plural(n, 'record')} syncwatch could not read "
                            f"({which} missing or renamed?): the API may have changed")
    reason = str(facts.get("reason") or "error")
    why = REASONS.get(reason) or esc(reason, REASON_CAP)
    unread = source_name(view) if facts.get("failing") == "source" else target
    return f"syncwatch cannot read {unread}: {why}. This is not drift: we cannot see."


def _out_of_budget(view: IncidentView) -> str:
    """The risk's own sentence when a field's risk applies (most keys first), else a neutral one."""
    facts, contract = _facts(view), view.contract
    source, target, noun = source_name(view), target_name(view), records_noun(contract)
    sampled, oob = fact_count(facts.get("sampled")), fact_count(facts.get("out_of_budget"))
    ratio, budget = out_of_budget_ratio(facts), share_text(contract.budget.drift)
    risks = _risks(view)
    if not risks:
        verb = "is" if oob == 1 else "are"
        return (f"{oob} of {sampled} sampled {noun} {verb} out of sync between {source} and {target} for longer "
                f"than the {duration_text(contract.budget.latency)} budget ({share_text(ratio)}, budget {budget})")
    risk = risks[0]
    n = fact_count((facts.get("at_risk") or {}).get(risk))
    # The share is always the out-of-budget one (what the budget is about); say so when n is another count.
    share = share_text(ratio) if n == oob else f"{share_text(ratio)} out of budget"
    what = field_words(involved_fields(view, risk))
    if risk in ("oversell", "undersell"):
        more = "more" if risk == "oversell" else "less"
        sentence = f"{target} shows {more} {what} than {source}"
    else:
        sentence = f"{target} and {source} disagree on {what}"
    also = "; also " + _and([risk_phrase(r) for r in risks[1:]]) if len(risks) > 1 else ""
    return f"{sentence} for {n} of {sampled} sampled {noun} ({share}, budget {budget}): {risk_phrase(risk)}{also}"


def back_text(view: IncidentView) -> str:
    """What "resolved" means for the incident's breach kind."""
    if view.incident.kind is BreachKind.PROBE_FAILING:
        return f"syncwatch can read {target_name(view)} again"
    return _BACK[view.incident.kind]


# ----- facts and contract in words -----


def _facts(view: IncidentView) -> Mapping[str, Any]:
    return view.incident.facts


def fact_count(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


def fact_number(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def out_of_budget_ratio(facts: Mapping[str, Any]) -> float | None:
    ratio = fact_number(facts.get("ratio"))
    sampled = fact_count(facts.get("sampled"))
    return ratio if ratio is not None or not sampled else fact_count(facts.get("out_of_budget")) / sampled


def _system(view: IncidentView, key: str) -> str:
    return esc(view.systems.get(key, key), NAME_CAP)


def target_name(view: IncidentView) -> str:
    return _system(view, view.incident.target)


def source_name(view: IncidentView) -> str:
    return _system(view, view.contract.source.system)


def records_noun(contract: Contract) -> str:
    source = contract.source
    return esc(_NOUNS.get(source.key.lower(), source.entity.replace("_", " ")), NAME_CAP)


def field_words(names: Iterable[str]) -> str:
    words = list(dict.fromkeys("stock" if n.lower() in _STOCK else n.replace("_", " ") for n in names))
    if not words:
        return "fields"
    shown = [esc(w, NAME_CAP) for w in words[:_FIELD_NAMES]]
    if len(words) > _FIELD_NAMES:
        shown.append(plural(len(words) - _FIELD_NAMES, "more field"))
    return _and(shown)


def _field_list(fields: list[str]) -> str:
    shown = [esc(f, NAME_CAP) for f in fields[:_FIELD_NAMES]]
    if len(fields) > _FIELD_NAMES:
        shown.append(f"{len(fields) - _FIELD_NAMES} more")
    return ", ".join(shown)


def involved_fields(view: IncidentView, risk: str | None = None) -> list[str]:
    """The fields to name: those in the facts (with ``risk`` when given), else the contract's."""
    listed = [str(f) for f in _facts(view).get("fields") or []]
    if risk is None:
        return listed or list(view.contract.fields)
    with_risk = [name for name, spec in view.contract.fields.items() if spec.risk == risk]
    return [f for f in listed if f in with_risk] or with_risk or listed


def risk_phrase(risk: str) -> str:
    return _RISKS.get(risk) or f"{esc(risk, NAME_CAP)} risk"


def _risks(view: IncidentView) -> list[str]:
    """Risk words at risk now, the most keys first (known words first on a tie)."""
    at_risk = _facts(view).get("at_risk") or {}
    order = list(_RISKS)
    counts = {str(r): fact_count(n) for r, n in at_risk.items() if fact_count(n) > 0}
    return sorted(counts, key=lambda r: (-counts[r], order.index(r) if r in order else len(order), r))


# ----- people and channels -----


def person_text(who: str | None) -> str:
    """A Slack user ID becomes a mention; a mention stays; anything else is a name."""
    if not who:
        return "someone"
    if _SLACK_USER.fullmatch(who):
        return f"<@{who}>"
    if re.fullmatch(r"<[@!][\w^|.-]+>", who):
        return who
    return esc(who, NAME_CAP)


def channel_text(channel: str) -> str:
    return f"<#{channel}>" if _SLACK_CHANNEL.fullmatch(channel) else esc(channel, NAME_CAP)


def owner_text(view: IncidentView) -> str:
    name = esc(view.responsible, NAME_CAP)
    return f"{view.mention} · {name}" if view.mention else name


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


def esc(text: object, limit: int | None = None) -> str:
    """Escape Slack's control characters in data, cut first so no entity is split."""
    value = str(text)
    if limit is not None and len(value) > limit:
        value = value[: limit - 1] + "…"
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _and(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def times_text(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _local(at: datetime) -> datetime:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(LONDON)


def day_time_text(at: datetime) -> str:
    """``09:00 Tue 3 Nov`` in London."""
    t = _local(at)
    return f"{t:%H:%M} {DAYS[t.weekday()]} {t.day} {MONTHS[t.month - 1]}"


def when_text(at: datetime, now: datetime) -> str:
    """``14:20`` today (London), else with the day: ``09:00 Tue 3 Nov``."""
    return f"{_local(at):%H:%M}" if _local(at).date() == _local(now).date() else day_time_text(at)
