"""`syncwatch probe` opens incidents in the store; `syncwatch incidents` and `syncwatch silence`
list and change them (the same main() a user's shell calls)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli import ExitCode, main
from monitor.config import load_config
from monitor.results import BreachKind, IncidentState
from monitor.store import Store
from tests.service_support import SqlWorld, build_sql_world


@pytest.fixture
def world(tmp_path: Path) -> SqlWorld:
    w = build_sql_world(tmp_path)
    now = datetime.now(UTC)
    rows = {f"SKU{i}": (5, now, 5, now) for i in range(20)}
    rows.update({f"OLD{i}": (3, now - timedelta(hours=1), 7, now - timedelta(hours=2)) for i in range(5)})
    w.set_stock(rows)  # type: ignore[arg-type]
    return w


def _store(world: SqlWorld) -> Store:
    return Store.open(load_config(world.config_path).storage_url)


def test_probing_twice_opens_an_incident_that_can_be_acked_snoozed_and_resolved(
    world: SqlWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = str(world.config_path)
    assert main(["probe", "stock", "-c", cfg]) == ExitCode.OK  # out of budget once: hold 2
    assert main(["probe", "stock", "-c", cfg]) == ExitCode.BREACH
    capsys.readouterr()

    assert main(["incidents", "list", "-c", cfg]) == ExitCode.OK
    listing = capsys.readouterr().out
    assert "open" in listing and "stock → shop" in listing and "out_of_budget" in listing and "5/25" in listing
    store = _store(world)
    try:
        [incident] = store.incidents()
    finally:
        store.close()
    assert incident.kind is BreachKind.OUT_OF_BUDGET and incident.id is not None
    number = str(incident.id)

    assert main(["incidents", "ack", number, "--by", "priya", "-c", cfg]) == ExitCode.OK
    assert main(["incidents", "snooze", number, "--for", "2h", "-c", cfg]) == ExitCode.OK
    assert "acknowledged by priya" in capsys.readouterr().out
    store = _store(world)
    try:
        acked = store.incident(incident.id)
    finally:
        store.close()
    assert acked is not None and acked.state is IncidentState.ACKNOWLEDGED and acked.acknowledged_by == "priya"
    assert acked.snoozed_until is not None and acked.snoozed_until > datetime.now(UTC) + timedelta(minutes=119)

    assert main(["incidents", "resolve", number, "-c", cfg]) == ExitCode.OK
    assert main(["incidents", "list", "-c", cfg]) == ExitCode.OK
    assert "no incidents" in capsys.readouterr().out
    assert main(["incidents", "list", "--all", "-c", cfg]) == ExitCode.OK
    assert "resolved" in capsys.readouterr().out

    assert main(["incidents", "resolve", number, "-c", cfg]) == ExitCode.USAGE
    assert "resolved already" in capsys.readouterr().err
    assert main(["incidents", "ack", "999", "-c", cfg]) == ExitCode.USAGE
    assert "there is no incident 999" in capsys.readouterr().err


def test_silences_are_added_listed_and_removed(world: SqlWorld, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(world.config_path)
    assert main(["silence", "add", "--for", "45m", "--comment", "ERP nightly batch", "--contract", "stock",
                 "--kind", "out_of_budget", "--by", "sam", "-c", cfg]) == ExitCode.OK
    assert "silence 1 until" in capsys.readouterr().out
    assert main(["silence", "list", "-c", cfg]) == ExitCode.OK
    listing = capsys.readouterr().out
    assert "ERP nightly batch" in listing and "out_of_budget" in listing and "sam" in listing
    assert main(["silence", "add", "--for", "1h", "--comment", "x", "--kind", "loud", "-c", cfg]) == ExitCode.USAGE
    assert "not a breach kind" in capsys.readouterr().err
    assert main(["silence", "remove", "1", "-c", cfg]) == ExitCode.OK
    assert main(["silence", "list", "-c", cfg]) == ExitCode.OK
    assert "no silences in force" in capsys.readouterr().out


def test_outbox_lists_what_waits_and_what_failed_and_retry_queues_the_failed_again(
    world: SqlWorld, capsys: pytest.CaptureFixture[str]
) -> None:
    from monitor.alerting.notices import Delivery, Message, Method, Notice, NoticeKind, Thread

    cfg = str(world.config_path)
    assert main(["outbox", "list", "-c", cfg]) == ExitCode.OK
    assert "the outbox is empty" in capsys.readouterr().out
    now = datetime.now(UTC)
    store = _store(world)
    try:
        root = Notice(None, "a" * 32, 1, NoticeKind.OPENED, Method.POST, "#stock-alerts", Message("stock"), now)
        reply = Notice(None, "b" * 32, 1, NoticeKind.WORSE, Method.REPLY, "#stock-alerts", Message("worse"), now,
                       parent="root")
        store.add_notices(Thread(1, "#stock-alerts", now, "priya"), [root, reply])
        assert root.id is not None and reply.id is not None
        store.update_notice(root.id, state=Delivery.FAILED, last_error="chat.postMessage: channel_not_found")
        store.update_notice(reply.id, attempts=3, next_attempt_at=now + timedelta(minutes=5))
    finally:
        store.close()

    assert main(["outbox", "list", "-c", cfg]) == ExitCode.OK
    listing = capsys.readouterr().out
    assert "channel_not_found" in listing and "failed" in listing and "pending" in listing
    assert "in 4m" in listing or "in 5m" in listing  # the reply waits out its back-off
    assert main(["outbox", "retry", "-c", cfg]) == ExitCode.OK
    assert "1 notification(s) queued again" in capsys.readouterr().out
    store = _store(world)
    try:
        again = store.notice(root.id)
    finally:
        store.close()
    assert again is not None and again.state is Delivery.PENDING and again.uncertain  # looked for before resending
    assert main(["outbox", "retry", "-c", cfg]) == ExitCode.OK
    assert "no failed notifications" in capsys.readouterr().out
