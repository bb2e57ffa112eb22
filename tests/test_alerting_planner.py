"""The routing rules (``monitor.alerting.planner.plan``), with the clock in the test's hands.

Each test plays an incident's life forward and calls ``plan`` as the service does (after every
run and on a timer), feeding back the thread it returns, and checks what would be sent.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from monitor.alerting.notices import ACK_ACTION, ROOT, Method, Notice, NoticeKind, Thread
from monitor.alerting.planner import Routing, held_back, plan, system_names
from monitor.config.models import Alerting, Contract, Owner
from monitor.results import BreachKind, Incident, IncidentState, Silence
from tests.slack_server import block_problems

PRIYA, TOM, SAM = "U04PRIYA01", "U04TOMREED", "U04SAMPATL"

CONTRACT = Contract.model_validate({
    "contract": "stock-wms-to-shopify",
    "owner": "priya",
    "technical_owner": "sam",
    "channel": "#stock-alerts",
    "source": {"system": "wms", "entity": "stock", "key": "sku"},
    "targets": [{"system": "shopify", "entity": "inventory", "key": "sku"}],
    "fields": {"available": {"compare": "number", "risk": "oversell"}},
    "budget": {"latency": "5m", "drift": "3%"},
})
ERP_CONTRACT = CONTRACT.model_copy(update={
    "contract": "orders-shopify-to-erp",
    "source": CONTRACT.source.model_copy(update={"system": "shopify", "entity": "orders"}),
    "targets": [CONTRACT.targets[0].model_copy(update={"system": "erp", "entity": "sales_orders"})],
})
OWNERS = {
    "priya": Owner.model_validate({"name": "Priya Shah", "slack": PRIYA, "backup": "tom",
                                   "working_hours": {"days": "mon-fri", "start": "08:00", "end": "18:00"}}),
    "tom": Owner.model_validate({"name": "Tom Reed", "slack": TOM, "backup": "priya",
                                 "working_hours": {"days": "mon-sat", "start": "09:00", "end": "17:30"}}),
    "sam": Owner.model_validate({"name": "Sam Patel", "slack": SAM,
                                 "working_hours": {"days": "mon-fri", "start": "08:30", "end": "17:00"}}),
}
SYSTEMS = system_names({"wms": object(), "shopify": type("S", (), {"kind": "shopify"})(), "erp": object()})

# Monday 23 November 2026, 10:00 London (GMT: UTC).
MONDAY_10 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def routing(**alerting: Any) -> Routing:
    settings = {"escalate_after": "30m", "escalation_channel": "#ops-escalations", "repeat_every": "2h", **alerting}
    return Routing(Alerting.model_validate(settings), OWNERS, SYSTEMS)


def incident(at: datetime = MONDAY_10, kind: BreachKind = BreachKind.OUT_OF_BUDGET, **kw: Any) -> Incident:
    facts = {"sampled": 100, "out_of_budget": 9, "ratio": 0.09, "at_risk": {"oversell": 9}, "peak": 0.09,
             "examples": ["85123A"], "fields": ["available"], "by_kind": {"stale": 9}}
    values: dict[str, Any] = {"facts": facts, **kw}
    return Incident(7, CONTRACT.contract, "shopify", kind, IncidentState.OPEN, at, at, **values)


class Life:
    """An incident's notifications over time: ``at(t)`` plans as the service would at ``t``."""

    def __init__(self, incident: Incident, route: Routing, contract: Contract = CONTRACT,
                 silences: list[Silence] | None = None) -> None:
        self.incident = incident
        self.route = route
        self.contract = contract
        self.silences = silences or []
        self.thread: Thread | None = None
        self.sent: list[tuple[datetime, Notice]] = []

    def at(self, when: datetime) -> list[Notice]:
        thread, notices = plan(self.incident, self.thread, self.contract, self.route, self.silences, when)
        self.thread = thread
        for notice in notices:
            assert block_problems(notice.message.blocks) == [], notice.kind
            self.sent.append((when, notice))
        return notices

    def every(self, start: datetime, end: datetime, step: timedelta = timedelta(minutes=1)) -> list[Notice]:
        out = []
        when = start
        while when <= end:
            out.extend(self.at(when))
            when += step
        return out


def kinds(notices: list[Notice]) -> list[tuple[NoticeKind, Method]]:
    return [(n.kind, n.method) for n in notices]


def test_a_new_incident_posts_one_root_in_the_contracts_channel_mentioning_the_owner() -> None:
    life = Life(incident(), routing())
    notices = life.at(MONDAY_10)
    assert kinds(notices) == [(NoticeKind.OPENED, Method.POST)]
    root = notices[0]
    assert root.channel == "#stock-alerts" and root.parent is None
    assert f"<@{PRIYA}>" in str(root.message.blocks)
    assert "Shopify shows more stock than the WMS" in root.message.text
    assert life.thread is not None and life.thread.responsible == "priya" and not life.thread.out_of_hours
    assert life.at(MONDAY_10) == [] and life.at(MONDAY_10 + timedelta(minutes=5)) == []  # told once


def test_the_default_channel_serves_contracts_without_their_own() -> None:
    life = Life(incident(), routing(channel="#sync-alerts"), contract=CONTRACT.model_copy(update={"channel": None}))
    assert life.at(MONDAY_10)[0].channel == "#sync-alerts"


def test_a_probe_failure_goes_to_the_technical_owner() -> None:
    life = Life(incident(kind=BreachKind.PROBE_FAILING, facts={"reason": "timeout", "failing": "target"}), routing())
    root = life.at(MONDAY_10)[0]
    assert f"<@{SAM}>" in str(root.message.blocks) and f"<@{PRIYA}>" not in str(root.message.blocks)
    assert "cannot read Shopify" in root.message.text
    assert life.thread is not None and life.thread.responsible == "sam"


def test_unacknowledged_it_escalates_to_the_backup_then_to_the_escalation_channel() -> None:
    life = Life(incident(), routing())
    life.at(MONDAY_10)
    assert life.every(MONDAY_10 + timedelta(minutes=1), MONDAY_10 + timedelta(minutes=29)) == []
    to_backup = life.at(MONDAY_10 + timedelta(minutes=30))
    assert kinds(to_backup) == [(NoticeKind.ESCALATED, Method.REPLY)]
    assert to_backup[0].parent == ROOT and f"<@{TOM}>" in to_backup[0].message.text
    # Then 30 minutes of Tom's working time (he starts at 09:00: all of 10:30-11:00 counts).
    assert life.every(MONDAY_10 + timedelta(minutes=31), MONDAY_10 + timedelta(minutes=59)) == []
    to_channel = life.at(MONDAY_10 + timedelta(minutes=60))
    assert kinds(to_channel) == [(NoticeKind.ESCALATED, Method.POST), (NoticeKind.ESCALATED, Method.REPLY)]
    assert to_channel[0].channel == "#ops-escalations" and to_channel[0].parent is None
    assert f"<@{PRIYA}> <@{TOM}>" in str(to_channel[0].message.blocks)
    assert "#ops-escalations" in to_channel[1].message.text
    # No more escalation: reminders only, every 2 h, in the thread.
    later = life.every(MONDAY_10 + timedelta(minutes=61), MONDAY_10 + timedelta(hours=7, minutes=5),
                       timedelta(minutes=5))
    assert kinds(later) == [(NoticeKind.REMINDER, Method.REPLY)] * 3
    assert all(n.parent == ROOT and n.channel == "#stock-alerts" for n in later)
    assert f"<@{PRIYA}> <@{TOM}>" in later[0].message.text


def test_without_a_backup_it_goes_straight_to_the_escalation_channel() -> None:
    life = Life(incident(kind=BreachKind.PROBE_FAILING, facts={"reason": "timeout"}), routing())  # Sam: no backup
    life.at(MONDAY_10)
    notices = life.at(MONDAY_10 + timedelta(minutes=30))
    assert kinds(notices) == [(NoticeKind.ESCALATED, Method.POST), (NoticeKind.ESCALATED, Method.REPLY)]


def test_escalation_counts_only_the_owners_working_time() -> None:
    friday = datetime(2026, 11, 27, 17, 50, tzinfo=UTC)  # 10 minutes before Priya's day ends
    life = Life(incident(friday), routing())
    life.at(friday)
    quiet = life.every(friday, datetime(2026, 11, 30, 8, 19, tzinfo=UTC), timedelta(minutes=7))
    assert quiet == []  # the weekend does not count, nor do reminders wake anyone
    assert kinds(life.at(datetime(2026, 11, 30, 8, 20, tzinfo=UTC))) == [(NoticeKind.ESCALATED, Method.REPLY)]


def test_escalation_across_the_clocks_going_forward() -> None:
    # Friday 27 March 2026, 17:45 GMT; the clocks go forward on Sunday 29 March.
    friday = datetime(2026, 3, 27, 17, 45, tzinfo=UTC)
    life = Life(incident(friday), routing())
    life.at(friday)
    # Monday 30 March, Priya starts at 08:00 BST = 07:00 UTC; 15 more minutes of her time.
    assert life.at(datetime(2026, 3, 30, 7, 14, tzinfo=UTC)) == []
    assert kinds(life.at(datetime(2026, 3, 30, 7, 15, tzinfo=UTC))) == [(NoticeKind.ESCALATED, Method.REPLY)]


def test_acknowledging_stops_escalation_and_reminders_and_edits_the_root() -> None:
    life = Life(incident(), routing())
    life.at(MONDAY_10)
    life.incident = replace(life.incident, state=IncidentState.ACKNOWLEDGED, acknowledged_by="priya",
                            acknowledged_at=MONDAY_10 + timedelta(minutes=10))
    notices = life.at(MONDAY_10 + timedelta(minutes=10))
    assert kinds(notices) == [(NoticeKind.ACKNOWLEDGED, Method.REPLY), (NoticeKind.ACKNOWLEDGED, Method.UPDATE)]
    assert "Priya Shah" in notices[0].message.text
    assert ACK_ACTION not in str(notices[1].message.blocks)  # the button goes once acknowledged
    assert life.every(MONDAY_10 + timedelta(minutes=11), MONDAY_10 + timedelta(hours=9), timedelta(minutes=5)) == []


def test_an_acknowledgement_by_a_slack_user_who_is_not_an_owner_mentions_them() -> None:
    life = Life(incident(), routing())
    life.at(MONDAY_10)
    life.incident = replace(life.incident, state=IncidentState.ACKNOWLEDGED, acknowledged_by="U09OTHER01",
                            acknowledged_at=MONDAY_10)
    assert "<@U09OTHER01>" in life.at(MONDAY_10 + timedelta(minutes=1))[0].message.text


def test_a_snooze_holds_escalation_and_reminders_until_it_ends() -> None:
    life = Life(incident(), routing())
    life.at(MONDAY_10)
    until = MONDAY_10 + timedelta(hours=2)
    life.incident = replace(life.incident, snoozed_until=until, snoozed_by="tom")
    notices = life.at(MONDAY_10 + timedelta(minutes=5))
    assert kinds(notices) == [(NoticeKind.SNOOZED, Method.REPLY), (NoticeKind.SNOOZED, Method.UPDATE)]
    assert "Tom Reed" in notices[0].message.text
    assert life.every(MONDAY_10 + timedelta(minutes=6), until - timedelta(minutes=1), timedelta(minutes=3)) == []
    # Once the snooze is over, escalation counts again from its end.
    assert life.every(until, until + timedelta(minutes=29)) == []
    assert kinds(life.at(until + timedelta(minutes=30))) == [(NoticeKind.ESCALATED, Method.REPLY)]


def test_worse_and_better_are_replies_in_the_thread() -> None:
    life = Life(incident(), routing())
    life.at(MONDAY_10)
    life.incident = replace(life.incident, facts={**life.incident.facts, "ratio": 0.2, "peak": 0.2})
    assert kinds(life.at(MONDAY_10 + timedelta(minutes=3))) == [(NoticeKind.WORSE, Method.REPLY)]
    life.incident = replace(life.incident, facts={**life.incident.facts, "ratio": 0.05, "told_better": True})
    assert kinds(life.at(MONDAY_10 + timedelta(minutes=6))) == [(NoticeKind.BETTER, Method.REPLY)]
    assert life.at(MONDAY_10 + timedelta(minutes=9)) == []


def test_resolution_is_a_reply_with_the_duration_and_an_edit_of_the_root() -> None:
    life = Life(incident(), routing())
    life.at(MONDAY_10)
    end = MONDAY_10 + timedelta(minutes=72)
    life.incident = replace(life.incident, state=IncidentState.RESOLVED, resolved_at=end)
    notices = life.at(end)
    assert kinds(notices) == [(NoticeKind.RESOLVED, Method.REPLY), (NoticeKind.RESOLVED, Method.UPDATE)]
    assert "1 h 12 min" in notices[0].message.text and "1 h 12 min" in str(notices[1].message.blocks)
    assert life.thread is not None and life.thread.closed
    assert life.at(end + timedelta(hours=3)) == []


def test_resolution_also_edits_the_escalation_post() -> None:
    life = Life(incident(), routing())
    life.every(MONDAY_10, MONDAY_10 + timedelta(minutes=60))
    assert life.thread is not None
    life.thread.escalation_id = 99  # the store sets it when it queues the escalation post
    life.incident = replace(life.incident, state=IncidentState.RESOLVED, resolved_at=MONDAY_10 + timedelta(hours=1))
    notices = life.at(MONDAY_10 + timedelta(hours=1))
    assert [(n.kind, n.method, n.parent) for n in notices] == [
        (NoticeKind.RESOLVED, Method.REPLY, ROOT), (NoticeKind.RESOLVED, Method.UPDATE, ROOT),
        (NoticeKind.RESOLVED, Method.UPDATE, "escalation"),
    ]


def test_a_recurrence_reopens_the_same_thread_and_escalation_goes_on_from_where_it_was() -> None:
    life = Life(incident(), routing())
    life.every(MONDAY_10, MONDAY_10 + timedelta(minutes=40))  # escalated to Tom
    life.incident = replace(life.incident, state=IncidentState.RESOLVED, resolved_at=MONDAY_10 + timedelta(minutes=40))
    life.at(MONDAY_10 + timedelta(minutes=40))
    back = MONDAY_10 + timedelta(minutes=70)
    life.incident = replace(life.incident, state=IncidentState.OPEN, resolved_at=None, reopened=1)
    notices = life.at(back)
    assert kinds(notices) == [(NoticeKind.REOPENED, Method.REPLY), (NoticeKind.REOPENED, Method.UPDATE)]
    assert all(n.parent == ROOT for n in notices)  # never a second root
    assert life.thread is not None and life.thread.escalation == "backup" and not life.thread.closed
    assert life.at(back + timedelta(minutes=29)) == []  # Tom is not called again
    assert kinds(life.at(back + timedelta(minutes=30))) == [(NoticeKind.ESCALATED, Method.POST),
                                                           (NoticeKind.ESCALATED, Method.REPLY)]


def test_reminders_wait_for_working_hours() -> None:
    evening = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    life = Life(incident(evening), routing(escalation_channel=None))
    life.every(evening, evening + timedelta(minutes=60))  # 17:30 to Tom: he has gone home at 17:30
    overnight = life.every(evening + timedelta(minutes=61), datetime(2026, 11, 24, 8, 59, tzinfo=UTC),
                           timedelta(minutes=10))
    assert [n.kind for n in overnight] == []
    morning = life.every(datetime(2026, 11, 24, 9, 0, tzinfo=UTC), datetime(2026, 11, 24, 9, 30, tzinfo=UTC))
    assert kinds(morning) == [(NoticeKind.REMINDER, Method.REPLY)]


def test_out_of_hours_the_incident_takes_the_out_of_hours_route() -> None:
    night = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
    route = routing(out_of_hours={"channel": "#ops-oncall", "mention": "S0ONCALL01"})
    life = Life(incident(night), route)
    root = life.at(night)[0]
    assert root.channel == "#ops-oncall" and "<!subteam^S0ONCALL01>" in str(root.message.blocks)
    assert life.thread is not None and life.thread.out_of_hours
    # On the out-of-hours route every minute counts towards escalation.
    assert kinds(life.at(night + timedelta(minutes=30))) == [(NoticeKind.ESCALATED, Method.REPLY)]
    # In working hours the same incident would have gone to Priya in #stock-alerts.
    assert Life(incident(), route).at(MONDAY_10)[0].channel == "#stock-alerts"


def test_out_of_hours_without_a_route_the_owner_hears_in_the_contracts_channel() -> None:
    night = datetime(2026, 11, 23, 22, 0, tzinfo=UTC)
    root = Life(incident(night), routing()).at(night)[0]
    assert root.channel == "#stock-alerts" and f"<@{PRIYA}>" in str(root.message.blocks)


ERP_BATCH = {"name": "erp-nightly-batch", "cron": "0 1 * * *", "duration": "90m", "systems": ["erp"]}


def test_a_maintenance_window_holds_notifications_back_and_they_go_when_it_ends() -> None:
    night = datetime(2026, 11, 24, 1, 10, tzinfo=UTC)
    erp = replace(incident(night), contract=ERP_CONTRACT.contract, target="erp")
    life = Life(erp, routing(maintenance=[ERP_BATCH]), contract=ERP_CONTRACT)
    assert life.every(night, datetime(2026, 11, 24, 2, 29, tzinfo=UTC)) == []
    assert life.thread is None
    after = datetime(2026, 11, 24, 2, 30, tzinfo=UTC)
    assert life.every(after, after + timedelta(minutes=10)) == []  # its breaches were all in the window
    life.incident = replace(life.incident, last_breach_at=after + timedelta(minutes=11))  # still breaching after it
    assert kinds(life.at(after + timedelta(minutes=11))) == [(NoticeKind.OPENED, Method.POST)]


def test_an_incident_that_heals_inside_the_window_is_never_announced() -> None:
    night = datetime(2026, 11, 24, 1, 10, tzinfo=UTC)
    erp = replace(incident(night), contract=ERP_CONTRACT.contract, target="erp")
    life = Life(erp, routing(maintenance=[ERP_BATCH]), contract=ERP_CONTRACT)
    life.every(night, night + timedelta(minutes=30))
    life.incident = replace(life.incident, state=IncidentState.RESOLVED, resolved_at=night + timedelta(minutes=30))
    assert life.every(night + timedelta(minutes=31), night + timedelta(hours=3)) == []
    assert life.thread is None


def test_a_window_for_another_system_changes_nothing() -> None:
    night = datetime(2026, 11, 24, 1, 10, tzinfo=UTC)
    life = Life(incident(night), routing(maintenance=[ERP_BATCH]))  # WMS → Shopify: not the ERP
    assert kinds(life.at(night)) == [(NoticeKind.OPENED, Method.POST)]


def test_the_window_follows_london_time_across_the_clock_change() -> None:
    window = {**ERP_BATCH, "contracts": [], "systems": []}
    route = routing(maintenance=[window])
    # 01:00 London on 1 July is 00:00 UTC; on 1 December it is 01:00 UTC.
    assert held_back(incident(), CONTRACT, route, [], datetime(2026, 7, 1, 0, 30, tzinfo=UTC)) is not None
    assert held_back(incident(), CONTRACT, route, [], datetime(2026, 7, 1, 1, 45, tzinfo=UTC)) is None
    assert held_back(incident(), CONTRACT, route, [], datetime(2026, 12, 1, 0, 30, tzinfo=UTC)) is None
    assert held_back(incident(), CONTRACT, route, [], datetime(2026, 12, 1, 2, 15, tzinfo=UTC)) is not None


def test_a_silence_holds_back_an_announced_incidents_news_until_it_ends() -> None:
    silence = Silence(3, MONDAY_10 + timedelta(minutes=5), MONDAY_10 + timedelta(hours=3), "priya",
                      "supplier feed migration", contract=CONTRACT.contract)
    life = Life(incident(), routing(), silences=[silence])
    life.at(MONDAY_10)
    assert life.every(MONDAY_10 + timedelta(minutes=5), MONDAY_10 + timedelta(hours=3) - timedelta(minutes=1),
                      timedelta(minutes=5)) == []  # no escalation, no reminder
    end = MONDAY_10 + timedelta(hours=3)
    life.incident = replace(life.incident, state=IncidentState.RESOLVED, resolved_at=end - timedelta(minutes=20))
    assert kinds(life.at(end)) == [(NoticeKind.RESOLVED, Method.REPLY), (NoticeKind.RESOLVED, Method.UPDATE)]


def test_a_silence_for_another_contract_or_kind_does_not_mute() -> None:
    other = Silence(1, MONDAY_10, MONDAY_10 + timedelta(hours=1), "cli", contract="orders-shopify-to-erp")
    kind = Silence(2, MONDAY_10, MONDAY_10 + timedelta(hours=1), "cli", kind=BreachKind.CONFLICT)
    assert kinds(Life(incident(), routing(), silences=[other, kind]).at(MONDAY_10)) == [
        (NoticeKind.OPENED, Method.POST)]


def test_an_owner_removed_from_owners_yaml_hands_the_thread_to_the_contracts_owner_now() -> None:
    life = Life(incident(), routing())
    life.at(MONDAY_10)
    assert life.thread is not None
    life.thread.responsible = "someone-who-left"
    assert kinds(life.at(MONDAY_10 + timedelta(minutes=30))) == [(NoticeKind.ESCALATED, Method.REPLY)]
    assert life.thread.responsible == "priya"


def test_plan_needs_a_stored_incident() -> None:
    with pytest.raises(ValueError, match="stored incident"):
        plan(replace(incident(), id=None), None, CONTRACT, routing(), [], MONDAY_10)


def test_the_second_step_counts_the_backups_working_time() -> None:
    evening = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)  # Monday: Priya until 18:00, Tom until 17:30
    life = Life(incident(evening), routing())
    life.at(evening)
    assert kinds(life.at(evening + timedelta(minutes=30))) == [(NoticeKind.ESCALATED, Method.REPLY)]  # Tom, 17:30
    # Tom's 30 minutes are Tuesday 09:00 to 09:30: the channel hears nothing overnight.
    assert life.every(evening + timedelta(minutes=31), datetime(2026, 11, 24, 9, 29, tzinfo=UTC),
                      timedelta(minutes=10)) == []
    assert kinds(life.at(datetime(2026, 11, 24, 9, 30, tzinfo=UTC))) == [
        (NoticeKind.ESCALATED, Method.POST), (NoticeKind.ESCALATED, Method.REPLY)]
