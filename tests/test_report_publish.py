"""Publishing the weekly summary: when it is due (Monday 08:00 Europe/London), once a week, to the
reports folder and to Slack (the summary, the HTML as a file in its thread), again an hour later
when Slack was down. And `syncwatch report weekly` from the command line."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.cli import ExitCode, main
from monitor.config import Config, load_config
from monitor.config.models import Reports
from monitor.loopback import LoopbackServer
from monitor.report.publish import due_week, publish_due
from monitor.store import Store
from tests.service_support import SqlWorld, build_sql_world
from tests.slack_server import DROP, FakeSlack, web_client


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_the_report_is_due_from_monday_eight_in_london() -> None:
    assert due_week(utc(2026, 11, 30, 7, 59)) == "2026-W47"  # Monday 07:59 GMT: the week before last
    assert due_week(utc(2026, 11, 30, 8, 0)) == "2026-W48"
    assert due_week(utc(2026, 12, 2, 15, 0)) == "2026-W48"  # all week long
    assert due_week(utc(2026, 7, 6, 6, 59)) == "2026-W26"  # Monday 6 July, 07:59 BST
    assert due_week(utc(2026, 7, 6, 7, 0)) == "2026-W27"  # 08:00 BST


@pytest.fixture
def world(tmp_path: Path) -> SqlWorld:
    return build_sql_world(tmp_path)


def _config(world: SqlWorld, channel: str | None) -> Config:
    config = load_config(world.config_path)
    config.settings = config.settings.model_copy(
        update={"reports": Reports(channel=channel, folder=str(world.root / "reports"))})
    return config


def test_published_once_a_week_to_the_folder_and_to_slack(world: SqlWorld) -> None:
    config = _config(world, "#leadership")
    slack = FakeSlack(channel_names={"leadership": "C0LEADERS"})
    monday = utc(2026, 11, 30, 8, 5)
    with LoopbackServer(slack) as server, Store.open(config.storage_url) as store:
        client = web_client(server)
        done = publish_due(store, config, monday, client)
        again = publish_due(store, config, monday + timedelta(hours=1), client)
    assert done is not None and again is None  # once a week
    assert done.week == "2026-W48" and done.html.is_file() and done.markdown.is_file()
    assert done.html.parent == world.root / "reports" and done.slack_channel == "C0LEADERS"
    (summary,) = slack.roots("#leadership")
    assert "week 48" in summary.text.lower() or "2026-W48" in summary.text
    (upload,) = slack.uploads("#leadership")
    assert upload.data == done.html.read_bytes() and upload.filename == "weekly-2026-W48.html"
    (complete,) = slack.calls("files.completeUploadExternal")
    assert complete.params.get("thread_ts") == summary.ts  # the file sits in the summary's thread


def test_slack_down_on_monday_means_it_is_posted_at_the_next_hourly_check(world: SqlWorld) -> None:
    config = _config(world, "C0LEADERS")
    slack = FakeSlack()
    monday = utc(2026, 11, 30, 8, 5)
    with LoopbackServer(slack) as server, Store.open(config.storage_url) as store:
        client = web_client(server)
        slack.down(DROP)
        assert publish_due(store, config, monday, client) is None
        assert store.claimed("report:weekly:2026-W48") is None  # given back for the next try
        slack.up()
        done = publish_due(store, config, monday + timedelta(hours=1), client)
    assert done is not None and len(slack.roots("C0LEADERS")) == 1 and len(slack.uploads()) == 1


def test_without_slack_it_is_written_to_the_reports_folder(world: SqlWorld) -> None:
    config = _config(world, "C0LEADERS")
    with Store.open(config.storage_url) as store:
        done = publish_due(store, config, utc(2026, 11, 30, 9), None)
    assert done is not None and done.slack_channel is None
    assert sorted(p.name for p in (world.root / "reports").iterdir()) == ["weekly-2026-W48.html",
                                                                          "weekly-2026-W48.md"]


def test_weekly_false_turns_it_off(world: SqlWorld) -> None:
    config = _config(world, None)
    config.settings = config.settings.model_copy(update={"reports": Reports(weekly=False)})
    with Store.open(config.storage_url) as store:
        assert publish_due(store, config, utc(2026, 11, 30, 9), None) is None


def test_report_weekly_prints_html_markdown_or_slack_json(world: SqlWorld, capsys: pytest.CaptureFixture[str],
                                                          tmp_path: Path) -> None:
    cfg = str(world.config_path)
    assert main(["report", "weekly", "-c", cfg, "--week", "2026-W48"]) == ExitCode.OK
    html = capsys.readouterr().out
    assert html.lstrip().lower().startswith("<!doctype html") and "2026" in html
    assert main(["report", "weekly", "-c", cfg, "--week", "2026-W48", "--format", "md"]) == ExitCode.OK
    assert capsys.readouterr().out.startswith("#")
    assert main(["report", "weekly", "-c", cfg, "--week", "2026-W48", "--format", "slack"]) == ExitCode.OK
    assert json.loads(capsys.readouterr().out)["blocks"]
    out = tmp_path / "week.html"
    assert main(["report", "weekly", "-c", cfg, "--week", "2026-W48", "--out", str(out)]) == ExitCode.OK
    assert out.read_text(encoding="utf-8") == html


def test_report_weekly_refuses_a_bad_week_or_format(world: SqlWorld, capsys: pytest.CaptureFixture[str]) -> None:
    cfg = str(world.config_path)
    assert main(["report", "weekly", "-c", cfg, "--week", "48"]) == ExitCode.USAGE
    assert "2026-W48" in capsys.readouterr().err
    assert main(["report", "weekly", "-c", cfg, "--format", "pdf"]) == ExitCode.USAGE
    assert main(["report", "weekly", "-c", cfg, "--post"]) == ExitCode.USAGE  # no channel, no token


def test_the_service_checks_every_hour_whether_the_weekly_report_is_due(world: SqlWorld) -> None:
    from monitor.clock import FixedClock
    from monitor.service.runtime import ProbeService
    from probes.base import ConnectorContext

    config = load_config(world.config_path)
    clock = FixedClock(utc(2026, 11, 30, 8, 30))
    calls: list[tuple[Config, datetime]] = []
    with Store.open(config.storage_url) as store:
        ctx = ConnectorContext(sleep=clock.sleep, monotonic=clock.monotonic, base_dir=config.base_dir)
        service = ProbeService(config, store, clock, ctx, publish=lambda c, at: calls.append((c, at)))
        service.start(paused=True)
        try:
            (job,) = [j for j in service.jobs() if j.id == "syncwatch:weekly-report"]
            assert job.trigger.interval == timedelta(hours=1)
            service.publish_reports()
        finally:
            service.stop()
    assert calls == [(config, utc(2026, 11, 30, 8, 30))]


def test_a_failing_publish_never_stops_the_service(world: SqlWorld, caplog: pytest.LogCaptureFixture) -> None:
    from monitor.clock import FixedClock
    from monitor.service.runtime import ProbeService
    from probes.base import ConnectorContext

    def broken(config: Config, at: datetime) -> object:
        raise RuntimeError("disk full")

    config = load_config(world.config_path)
    clock = FixedClock(utc(2026, 11, 30, 8, 30))
    with Store.open(config.storage_url) as store:
        ctx = ConnectorContext(sleep=clock.sleep, monotonic=clock.monotonic, base_dir=config.base_dir)
        ProbeService(config, store, clock, ctx, publish=broken).publish_reports()
    assert "weekly report could not be published" in caplog.text


def test_audit_prints_or_writes_the_register(world: SqlWorld, capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path) -> None:
    cfg = str(world.config_path)
    assert main(["audit", "-c", cfg]) == ExitCode.OK
    html = capsys.readouterr().out
    assert html.lstrip().lower().startswith("<!doctype html") and "stock" in html
    out = tmp_path / "audit.md"
    assert main(["audit", "-c", cfg, "--format", "md", "--out", str(out)]) == ExitCode.OK
    assert "risk" in capsys.readouterr().err.lower() and out.read_text(encoding="utf-8").startswith("#")
    assert main(["audit", "-c", cfg, "--format", "pdf"]) == ExitCode.USAGE
