"""The Slack renderer: headlines in business words per breach kind, buttons by state, London times,
escaping, masked keys, Block Kit limits (checked by ``block_problems`` and slack_sdk's models)."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from slack_sdk.models.blocks import Block

from monitor.alerting.messages import (
    duration_text,
    escalation,
    example_view,
    plain_text,
    reply,
    root,
    share_text,
)
from monitor.alerting.notices import ACK_ACTION, SNOOZE_ACTION, IncidentView, Message, NoticeKind
from monitor.config.models import Contract
from monitor.keys import mask_email
from monitor.results import BreachKind, Incident, IncidentState
from tests.slack_server import block_problems

CONTRACTS = Path(__file__).resolve().parents[1] / "monitor" / "demo" / "config" / "rules" / "contracts"
NOW = datetime(2026, 11, 2, 11, 18, tzinfo=UTC)  # Monday; London is on GMT
SYSTEMS = {"wms": "the WMS", "shopify": "Shopify", "erp": "the ERP", "crm": "the CRM"}
EXAMPLE_HEADLINE = (
    "Shopify shows more stock than the WMS for 14 of 300 sampled SKUs (4.7%, budget 0.5%): overselling risk"
)
EMAILS = ["jo.bloggs@example.co.uk", "sam.smith@example.com", "a@b.org"]
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+")


def _contract(name: str, **changes: Any) -> Contract:
    data = yaml.safe_load((CONTRACTS / f"{name}.yaml").read_text())
    data.update(changes)
    return Contract.model_validate(data)


def _facts(**changes: Any) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "at": NOW.isoformat(), "sampled": 300, "out_of_budget": 14, "ratio": 14 / 300, "upper_bound": 0.08,
        "conflicts": 0, "unreadable": 0, "by_kind": {"stale": 12, "missing": 2}, "at_risk": {},
        "lag_p95": 1140.0, "fields": [], "examples": ["85123A", "22423"], "evidence": [600, 25], "peak": 0.047,
    }
    facts.update(changes)
    return facts


def _view(
    contract: Contract,
    target: str,
    kind: BreachKind = BreachKind.OUT_OF_BUDGET,
    facts: dict[str, Any] | None = None,
    *,
    state: IncidentState = IncidentState.OPEN,
    opened_at: datetime = NOW - timedelta(hours=1, minutes=12),
    now: datetime = NOW,
    mention: str | None = "<@U04PRIYA01>",
    **incident: Any,
) -> IncidentView:
    found = Incident(7, contract.contract, target, kind, state, opened_at, now, facts=facts or _facts(), **incident)
    return IncidentView(found, contract, mention, "Priya Shah", now, systems=SYSTEMS,
                        grafana_url="http://grafana.example.com/")


def _with(view: IncidentView, **changes: Any) -> IncidentView:
    return replace(view, incident=replace(view.incident, **changes))


def _headline(message: Message) -> str:
    text: str = message.blocks[1]["text"]["text"]
    return text


def _texts(message: Message) -> str:
    """Every text in the blocks, one a line."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                found.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message.blocks)
    return "\n".join(found)


def _all_text(message: Message) -> str:
    return "\n".join([message.text, _texts(message), plain_text(message)])


def _buttons(message: Message) -> list[dict[str, Any]]:
    return [e for b in message.blocks if b["type"] == "actions" for e in b["elements"]]


def _every_message(view: IncidentView) -> list[Message]:
    messages = [root(view), escalation(view, "C0ESCALAT")]
    messages += [reply(view, kind, by="U04TOMREED", escalated_to="<@U04TOMREED>", channel="#ops-escalations")
                 for kind in NoticeKind]
    return messages


def _assert_valid(message: Message) -> None:
    assert block_problems(message.blocks) == []
    for block in message.blocks:
        Block.parse(block).validate_json()  # type: ignore[union-attr]
    assert message.text and "\n" not in message.text


# ----- headlines per breach kind -----


def test_the_example_reads_as_the_oversell_sentence() -> None:
    message = root(example_view(NOW))
    assert message.text == f":rotating_light: stock-wms-to-shopify: {EXAMPLE_HEADLINE}"
    assert _headline(message) == f"*{EXAMPLE_HEADLINE}*"
    header = ":rotating_light: Out of budget: stock-wms-to-shopify → Shopify"
    assert message.blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": header, "emoji": True}}


def test_out_of_budget_without_a_risk_is_a_neutral_sentence() -> None:
    view = _view(_contract("orders-shopify-to-erp"), "erp")
    assert _headline(root(view)) == (
        "*14 of 300 sampled orders are out of sync between Shopify and the ERP for longer than the 15 min budget "
        "(4.7%, budget 3%)*"
    )


def test_undersell_and_other_risks_have_their_own_words() -> None:
    stock = _contract("stock-wms-to-shopify", fields={"available": {"compare": "number", "risk": "undersell"}})
    facts = _facts(at_risk={"undersell": 9}, out_of_budget=9, ratio=0.03, fields=["available"])
    assert _headline(root(_view(stock, "shopify", facts=facts))) == (
        "*Shopify shows less stock than the WMS for 9 of 300 sampled SKUs (3%, budget 3%): "
        "lost sales: stock hidden from shoppers*"
    )
    orders = _contract("orders-shopify-to-erp")
    facts = _facts(at_risk={"revenue": 6, "wismo": 2}, out_of_budget=8, ratio=8 / 300, fields=["total"])
    headline = _headline(root(_view(orders, "erp", facts=facts)))
    assert headline.startswith("*The ERP and Shopify disagree on total for 6 of 300 sampled orders")
    assert "(2.7% out of budget, budget 3%)" in headline  # 6 at risk, 8 out of budget: the share is the budget's
    assert headline.endswith(": revenue and accounting risk; also customers asking where their order is*")
    fulfilment = _contract("fulfilment-wms-to-shopify")
    facts = _facts(at_risk={"wismo": 3}, out_of_budget=3, sampled=30, ratio=0.1, fields=["tracking_number"])
    assert _headline(root(_view(fulfilment, "shopify", facts=facts))) == (
        "*Shopify and the WMS disagree on tracking number for 3 of 30 sampled orders (10%, budget 10%): "
        "customers asking where their order is*"
    )
    margin = _contract("stock-wms-to-shopify", fields={"available": {"compare": "number", "risk": "margin"}})
    facts = _facts(at_risk={"margin": 14})
    assert _headline(root(_view(margin, "shopify", facts=facts))).endswith(": margin risk*")


def test_a_conflict_says_who_wrote_what_someone_else_owns() -> None:
    facts = _facts(conflicts=8, fields=["available"], by_kind={"conflict": 8})
    message = root(_view(_contract("stock-wms-to-shopify"), "shopify", BreachKind.CONFLICT, facts))
    assert _headline(message) == (
        "*Shopify changed stock on 8 records that the WMS owns (ownership conflict): "
        "someone writes a field another system owns*"
    )
    assert message.blocks[0]["text"]["text"].startswith(":rotating_light: Ownership conflict:")


def test_a_schema_change_is_not_called_drift() -> None:
    facts = _facts(unreadable=12, by_kind={"unreadable": 12})
    message = root(_view(_contract("stock-wms-to-shopify"), "shopify", BreachKind.SCHEMA_CHANGE, facts))
    assert _headline(message) == (
        "*Shopify returned 12 records syncwatch could not read (a field missing or renamed?): "
        "the API may have changed*"
    )
    named = root(_view(_contract("stock-wms-to-shopify"), "shopify", BreachKind.SCHEMA_CHANGE,
                       _facts(unreadable=1, fields=["available"])))
    assert "returned 1 record syncwatch could not read (field available missing or renamed?)" in _headline(named)
    assert "drift" not in _all_text(message).lower()


def test_a_failing_probe_says_we_cannot_see() -> None:
    facts = {"at": NOW.isoformat(), "sampled": 0, "reason": "timeout"}
    message = root(_view(_contract("stock-wms-to-shopify"), "shopify", BreachKind.PROBE_FAILING, facts,
                         mention="<@U04SAMPATL>"))
    headline = "syncwatch cannot read Shopify: requests time out. This is not drift: we cannot see."
    assert _headline(message) == f"*{headline}*"
    assert message.text == f":rotating_light: stock-wms-to-shopify: {headline}"
    assert "<@U04SAMPATL>" in _texts(message)
    odd = root(_view(_contract("stock-wms-to-shopify"), "shopify", BreachKind.PROBE_FAILING,
                     {"reason": "socket <closed> & gone"}))
    assert "cannot read Shopify: socket &lt;closed&gt; &amp; gone." in _headline(odd)


# ----- the rest of the root -----


def test_the_root_gives_since_owner_budget_measured_kinds_keys_and_links() -> None:
    message = root(_view(_contract("stock-wms-to-shopify"), "shopify"))
    fields = [f["text"] for f in message.blocks[2]["fields"]]
    assert fields == [
        "*Since*\n10:06 Mon 2 Nov\nfor 1 h 12 min",
        "*Owner*\n<@U04PRIYA01> · Priya Shah",
        "*Budget*\nat most 3% of SKUs more than 5 min behind",
        "*Measured*\n4.7% (14 of 300 sampled)\nlag p95 19 min (budget 5 min)",
    ]
    context = [e["text"] for e in message.blocks[3]["elements"]]
    assert context[0] == "stale 12 · missing 2"
    assert context[1] == "Keys: `85123A`, `22423`"
    assert context[2].startswith("Incident 7 · *stock-wms-to-shopify*: Sellable stock per SKU.")
    assert context[3] == (
        "<http://grafana.example.com/d/syncwatch-contract/contract-detail?var-contract=stock-wms-to-shopify"
        "|Dashboard>"
    )


def test_links_only_when_configured_and_the_owner_by_name_without_a_mention() -> None:
    contract = _contract("stock-wms-to-shopify", runbook="https://wiki.example.com/stock?a=1&b=2")
    view = replace(_view(contract, "shopify", mention=None), grafana_url=None)
    message = root(view)
    assert "*Owner*\nPriya Shah" in _texts(message)
    context = message.blocks[3]["elements"][-1]["text"]
    assert context == "<https://wiki.example.com/stock?a=1&amp;b=2|Runbook>"
    assert "grafana" not in _texts(message) and "<@" not in _texts(message)
    assert "Runbook (https://wiki.example.com/stock?a=1&b=2)" in plain_text(message)


def test_buttons_follow_the_state() -> None:
    view = _view(_contract("stock-wms-to-shopify"), "shopify")
    ack, snooze = _buttons(root(view))
    assert (ack["action_id"], ack["style"], ack["value"], ack["text"]["text"]) == (
        ACK_ACTION, "primary", "7", "Acknowledge")
    assert (snooze["action_id"], snooze["value"], snooze["text"]["text"]) == (SNOOZE_ACTION, "7", "Snooze 2 h")
    assert _buttons(root(replace(view, snooze_for=timedelta(minutes=90))))[1]["text"]["text"] == "Snooze 1 h 30 min"

    acked = _with(view, state=IncidentState.ACKNOWLEDGED, acknowledged_by="U04TOMREED",
                  acknowledged_at=NOW - timedelta(minutes=20))
    message = root(acked)
    assert [b["action_id"] for b in _buttons(message)] == [SNOOZE_ACTION]
    assert ":eyes: Acknowledged by <@U04TOMREED> at 10:58" in _headline(message)
    assert [b["action_id"] for b in _buttons(escalation(acked, "C0ESCALAT"))] == [SNOOZE_ACTION]

    snoozed = _with(view, snoozed_until=NOW + timedelta(hours=2))
    message = root(snoozed)
    assert "Snoozed until 13:18" in _headline(message) and message.text.startswith(":zzz:")
    assert [b["action_id"] for b in _buttons(message)] == [ACK_ACTION, SNOOZE_ACTION]
    expired = root(_with(view, snoozed_until=NOW - timedelta(minutes=1)))
    assert "Snoozed" not in _texts(expired) and expired.text.startswith(":rotating_light:")

    resolved = _with(view, state=IncidentState.RESOLVED, resolved_at=NOW)
    assert _buttons(root(resolved)) == [] and _buttons(escalation(resolved, "C0ESCALAT")) == []
    assert [b["type"] for b in root(resolved).blocks] == ["header", "section", "section", "context"]
    assert [b["action_id"] for b in _buttons(escalation(view, "C0ESCALAT"))] == [ACK_ACTION, SNOOZE_ACTION]


def test_a_resolved_root_says_how_long_it_lasted() -> None:
    view = _view(_contract("stock-wms-to-shopify"), "shopify", state=IncidentState.RESOLVED,
                 opened_at=NOW - timedelta(hours=3), resolved_at=NOW - timedelta(hours=3) + timedelta(minutes=72))
    message = root(view)
    assert message.text == ":white_check_mark: stock-wms-to-shopify: resolved after 1 h 12 min"
    assert _headline(message).startswith(":white_check_mark: *Resolved after 1 h 12 min*\nIt was: ")
    assert message.blocks[0]["text"]["text"].startswith(":white_check_mark: ")
    assert "*Last measured*" in _texts(message)


@pytest.mark.parametrize(
    ("opened_at", "shown"),
    [
        (datetime(2026, 3, 29, 0, 30, tzinfo=UTC), "00:30 Sun 29 Mar"),  # GMT: the clocks go forward at 01:00 UTC
        (datetime(2026, 3, 29, 1, 30, tzinfo=UTC), "02:30 Sun 29 Mar"),  # BST from then on
        (datetime(2026, 3, 30, 9, 0, tzinfo=UTC), "10:00 Mon 30 Mar"),
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), "01:30 Sun 25 Oct"),  # BST: the clocks go back at 01:00 UTC
        (datetime(2026, 10, 25, 1, 30, tzinfo=UTC), "01:30 Sun 25 Oct"),  # the second 01:30, GMT
    ],
)
def test_times_are_shown_in_london_on_both_sides_of_the_clock_change(opened_at: datetime, shown: str) -> None:
    view = _view(_contract("stock-wms-to-shopify"), "shopify", opened_at=opened_at,
                 now=opened_at + timedelta(hours=2))
    assert root(view).blocks[2]["fields"][0]["text"] == f"*Since*\n{shown}\nfor 2 h"


def test_acknowledged_at_is_a_london_wall_time_with_the_day_when_not_today() -> None:
    now = datetime(2026, 3, 30, 9, 0, tzinfo=UTC)
    view = _view(_contract("stock-wms-to-shopify"), "shopify", now=now, acknowledged_by="Priya",
                 state=IncidentState.ACKNOWLEDGED, acknowledged_at=datetime(2026, 3, 30, 8, 15, tzinfo=UTC))
    assert reply(view, NoticeKind.ACKNOWLEDGED).text == ":eyes: Priya acknowledged this at 09:15."
    yesterday = _with(view, acknowledged_at=datetime(2026, 3, 29, 0, 30, tzinfo=UTC))
    assert "at 00:30 Sun 29 Mar" in reply(yesterday, NoticeKind.ACKNOWLEDGED).text


# ----- replies and escalation -----


def test_each_reply_says_what_changed_in_one_sentence() -> None:
    view = _view(_contract("stock-wms-to-shopify"), "shopify", facts=_facts(at_risk={"oversell": 14}),
                 snoozed_until=NOW + timedelta(hours=2), reopened=2)

    def said(kind: NoticeKind, **kw: str) -> str:
        message = reply(view, kind, **kw)
        assert [b["type"] for b in message.blocks] == ["section"]
        assert message.blocks[0]["text"]["text"] == message.text
        return message.text

    headline = "Shopify shows more stock than the WMS for 14 of 300 sampled SKUs (4.7%, budget 3%): overselling risk"
    assert said(NoticeKind.WORSE) == f":chart_with_upwards_trend: Worse: {headline}"
    assert said(NoticeKind.BETTER).endswith(f"not resolved yet: {headline}")
    assert said(NoticeKind.ESCALATED, escalated_to="<@U04TOMREED>") == (
        ":sos: Nobody acknowledged this in time: calling on <@U04TOMREED>.")
    assert said(NoticeKind.ESCALATED, channel="#ops-escalations") == (
        ":sos: Nobody acknowledged this in time: posted in #ops-escalations.")
    assert said(NoticeKind.REMINDER) == f":bell: <@U04PRIYA01>: still open after 1 h 12 min. {headline}"
    assert said(NoticeKind.ACKNOWLEDGED, by="U04TOMREED") == ":eyes: <@U04TOMREED> acknowledged this at 11:18."
    assert said(NoticeKind.SNOOZED, by="<@U04TOMREED>") == ":zzz: <@U04TOMREED> snoozed this until 13:18."
    assert reply(_with(view, snoozed_by="U04AMARA01"), NoticeKind.SNOOZED).text == (
        ":zzz: <@U04AMARA01> snoozed this until 13:18.")
    assert said(NoticeKind.RESOLVED) == ":white_check_mark: Resolved after 1 h 12 min: back within budget."
    assert said(NoticeKind.RESOLVED, by="Tom") == ":white_check_mark: Resolved by Tom after 1 h 12 min."
    assert said(NoticeKind.REOPENED) == f":repeat: It is back: {headline}. Reopened twice."


def test_a_reminder_of_an_acknowledged_incident_says_who_is_on_it() -> None:
    view = _view(_contract("stock-wms-to-shopify"), "shopify", state=IncidentState.ACKNOWLEDGED,
                 acknowledged_by="U04TOMREED", acknowledged_at=NOW)
    assert "still open after 1 h 12 min, acknowledged by <@U04TOMREED>." in reply(view, NoticeKind.REMINDER).text


def test_a_resolved_probe_failure_says_we_can_see_again() -> None:
    view = _view(_contract("stock-wms-to-shopify"), "shopify", BreachKind.PROBE_FAILING, {"reason": "auth"},
                 state=IncidentState.RESOLVED, resolved_at=NOW - timedelta(minutes=30))
    assert reply(view, NoticeKind.RESOLVED).text == (
        ":white_check_mark: Resolved after 42 min: syncwatch can read Shopify again.")


def test_the_escalation_post_says_nobody_acknowledged_who_was_called_and_where_the_thread_is() -> None:
    message = escalation(_view(_contract("stock-wms-to-shopify"), "shopify"), "C0STOCKAL")
    assert message.blocks[0]["text"]["text"] == ":sos: Not acknowledged: stock-wms-to-shopify → Shopify"
    assert message.text.startswith(":sos: stock-wms-to-shopify: nobody acknowledged in time: 14 of 300 sampled SKUs")
    assert "Called on: <@U04PRIYA01> · Priya Shah. The thread is in <#C0STOCKAL>." in _headline(message)
    assert "The thread is in #stock-alerts." in _headline(escalation(
        _view(_contract("stock-wms-to-shopify"), "shopify"), "#stock-alerts"))


# ----- safety: personal keys, escaping, limits -----


def test_no_email_address_appears_when_the_keys_are_personal() -> None:
    contract = _contract("consent-shopify-to-crm")
    masked = [mask_email(e) for e in EMAILS]
    facts = _facts(examples=masked, at_risk={"compliance": 3}, out_of_budget=3, sampled=200, ratio=0.015,
                   fields=["consent"])
    views = [_view(contract, "crm", kind, facts) for kind in BreachKind]
    views += [_with(views[0], state=state) for state in (IncidentState.ACKNOWLEDGED, IncidentState.RESOLVED)]
    for view in views:
        for message in _every_message(view):
            text = _all_text(message)
            assert EMAIL.findall(text) == [], text
            assert not any(email in text for email in EMAILS)
    message = root(views[0])
    assert "Keys: `j***@e***.co.uk`, `s***@e***.com`, `a***@b***.org`" in _texts(message)
    assert _headline(message) == (
        "*The CRM and Shopify disagree on consent for 3 of 200 sampled customers (1.5%, budget 1.5%): "
        "compliance risk: marketing to people who opted out*"
    )


def test_text_from_config_and_data_is_escaped_but_our_mentions_and_links_are_not() -> None:
    contract = _contract("stock-wms-to-shopify", description="Stock <b>only</b> & more")
    facts = _facts(examples=["A<1>&B"], by_kind={"stale": 1, "<odd>": 2})
    view = replace(_view(contract, "shopify", facts=facts), systems={"shopify": "Shop & <Co>", "wms": "the WMS"})
    message = root(view)
    blocks = _texts(message)
    assert "Stock &lt;b&gt;only&lt;/b&gt; &amp; more" in blocks
    assert "`A&lt;1&gt;&amp;B`" in blocks and "&lt;odd&gt; 2" in blocks
    assert "Shop &amp; &lt;Co&gt;" in blocks and "<Co>" not in blocks and "<b>" not in blocks
    assert "<@U04PRIYA01>" in blocks and "<http://grafana.example.com/" in blocks
    text = plain_text(message)
    assert "Stock <b>only</b> & more" in text and "A<1>&B" in text and "Shop & <Co>" in text


@pytest.mark.parametrize("kind", list(BreachKind))
@pytest.mark.parametrize("state", ["open", "acknowledged", "snoozed", "resolved", "reopened"])
def test_every_message_stays_within_block_kit_limits(kind: BreachKind, state: str) -> None:
    contract = _contract("orders-shopify-to-erp", runbook="https://wiki.example.com/orders")
    facts = _facts(at_risk={"revenue": 4, "wismo": 10}, fields=["total", "fully_shipped"], conflicts=3,
                   unreadable=2, reason="rate_limited")
    view = _view(contract, "erp", kind, facts)
    view = {
        "open": view,
        "acknowledged": _with(view, state=IncidentState.ACKNOWLEDGED, acknowledged_by="U04TOMREED",
                              acknowledged_at=NOW),
        "snoozed": _with(view, snoozed_until=NOW + timedelta(days=1)),
        "resolved": _with(view, state=IncidentState.RESOLVED, resolved_at=NOW),
        "reopened": _with(view, reopened=3),
    }[state]
    for message in _every_message(view):
        _assert_valid(message)


def test_very_long_inputs_are_cut_to_fit() -> None:
    fields = {f"field_{i:03d}_" + "x" * 200: {"compare": "exact", "risk": f"risk{i % 7}"} for i in range(200)}
    contract = _contract("stock-wms-to-shopify", contract="s" + "-very-long" * 30, description="<&> " * 1250,
                         fields=fields, runbook="https://wiki.example.com/" + "r|" * 2000)
    facts = _facts(
        fields=list(fields), examples=["K<" * 400] * 40, by_kind={f"kind{i}": i + 1 for i in range(300)},
        at_risk={f"risk{i}": 5 for i in range(7)}, reason="&" * 5000,
    )
    for kind in BreachKind:
        view = replace(_view(contract, "shopify", kind, facts, acknowledged_by="x" * 5000),
                       systems={"shopify": "S&" * 500, "wms": "W<" * 500}, mention="<@U04PRIYA01>",
                       responsible="R&" * 3000, snooze_for=timedelta(days=100_000))
        for v in (view, _with(view, state=IncidentState.ACKNOWLEDGED), _with(view, state=IncidentState.RESOLVED)):
            for message in _every_message(v):
                _assert_valid(message)
                assert len(message.text) <= 1000 and len(_texts(message)) < 13_000
                assert not re.search(r"&(?!amp;|lt;|gt;)", _texts(message))  # no entity cut in half


def test_plain_text_reads_in_a_terminal() -> None:
    message = root(example_view(NOW))
    text = plain_text(message)
    lines = text.splitlines()
    assert lines[0] == ":rotating_light: Out of budget: stock-wms-to-shopify → Shopify"
    assert lines[1] == EXAMPLE_HEADLINE
    assert "Since: 10:06 Mon 2 Nov · for 1 h 12 min" in lines
    assert "Owner: <@U04PRIYA01> · Priya Shah (Ops lead, inventory)" in lines
    assert "Keys: 85123A, 22423, 84879, 21212, 85099B" in lines
    assert "Runbook (https://wiki.example.com/runbooks/stock-sync)" in text
    assert lines[-1] == "[Acknowledge]  [Snooze 2 h]"
    assert "*" not in text and "`" not in text and "|" not in text
    assert plain_text(Message("*just* <https://x.example|text>")) == "just text (https://x.example)"
    assert plain_text(Message("a `snake_case*key*` b _c_ ~d~")) == "a snake_case*key* b c d"


# ----- formatting helpers -----


@pytest.mark.parametrize(
    ("length", "text"),
    [
        (timedelta(seconds=45), "45 s"),
        (timedelta(minutes=12, seconds=59), "12 min"),
        (timedelta(hours=1, minutes=12), "1 h 12 min"),
        (timedelta(hours=2), "2 h"),
        (timedelta(days=2, hours=3, minutes=40), "2 d 3 h"),
        (timedelta(days=1), "1 d"),
        (timedelta(seconds=-5), "0 s"),
    ],
)
def test_duration_text(length: timedelta, text: str) -> None:
    assert duration_text(length) == text


@pytest.mark.parametrize(
    ("share", "text"),
    [(14 / 300, "4.7%"), (0.005, "0.5%"), (0.03, "3%"), (0.0, "0%"), (1.0, "100%"), (0.0001, "<0.1%"),
     (None, "unknown")],
)
def test_share_text(share: float | None, text: str) -> None:
    assert share_text(share) == text


def test_the_readme_shows_the_example_alert_as_the_script_prints_it() -> None:
    """README.md's example alert is scripts/example_alert.py's output, so it stays true to the renderer."""
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    spec = importlib.util.spec_from_file_location("example_alert", root / "scripts" / "example_alert.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    example = module.example_thread()
    assert "Shopify shows more stock than the WMS for 14 of 300 sampled SKUs (4.7%, budget 0.5%)" in example
    assert example in (root / "README.md").read_text(encoding="utf-8")
