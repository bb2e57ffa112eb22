"""The weekly summary's numbers: ISO weeks in Europe/London across the clock changes, and the key
figures of a simulated week recomputed with independent SQL over its store.

The simulated week is `syncwatch demo --simulate 7d --out DIR`, run once for this module as a
user runs it; the same run checks that DIR holds the weekly report (HTML and Markdown) and the
audit.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from monitor.config import Config, load_config
from monitor.demo.run import SECRETS, demo_config_dir
from monitor.report.model import WeeklyReport
from monitor.report.weekly import build_weekly, iso_week, nearest_rank
from monitor.store import Store


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


# -- weeks ------------------------------------------------------------------------------------


def test_a_winter_week_is_monday_to_monday_midnight_in_london() -> None:
    week = iso_week("2026-W48", utc(2026, 12, 1))
    assert (week.start, week.end) == (utc(2026, 11, 23), utc(2026, 11, 30))
    assert week.days[0] == date(2026, 11, 23) and week.days[-1] == date(2026, 11, 29) and len(week.days) == 7


def test_the_week_the_clocks_go_forward_is_167_hours() -> None:
    week = iso_week("2026-W13", utc(2026, 4, 1))  # Monday 23 March; BST from Sunday 29 March 01:00 UTC
    assert week.start == utc(2026, 3, 23, 0, 0)  # midnight GMT
    assert week.end == utc(2026, 3, 29, 23, 0)  # Monday 30 March 00:00 BST
    assert week.end - week.start == timedelta(hours=167)


def test_the_week_the_clocks_go_back_is_169_hours() -> None:
    week = iso_week("2026-W43", utc(2026, 11, 1))  # Monday 19 October (BST); GMT from Sunday 25 October
    assert week.start == utc(2026, 10, 18, 23, 0)  # Monday 00:00 BST
    assert week.end == utc(2026, 10, 26, 0, 0)  # Monday 00:00 GMT
    assert week.end - week.start == timedelta(hours=169)


def test_without_a_week_it_is_the_last_complete_one_in_london() -> None:
    # Sunday 29 November 23:30 UTC is still Sunday in London: the last complete week is W47.
    assert iso_week(None, utc(2026, 11, 29, 23, 30)).label == "2026-W47"
    # Monday 30 November 00:10 London: W48 has just ended.
    assert iso_week(None, utc(2026, 11, 30, 0, 10)).label == "2026-W48"
    # In summer, Monday 00:30 BST is Sunday 23:30 UTC: London has already moved on.
    assert iso_week(None, utc(2026, 7, 5, 23, 30)).label == "2026-W27"


def test_week_labels_across_the_new_year_follow_iso() -> None:
    week = iso_week("2026-W53", utc(2027, 1, 10))
    assert week.days[0] == date(2026, 12, 28) and week.days[-1] == date(2027, 1, 3)
    assert iso_week("2026-w53", utc(2027, 1, 10)).label == "2026-W53"


@pytest.mark.parametrize("label", ["2026-48", "W48", "2026-W54", "week 48", ""])
def test_a_bad_week_says_what_a_week_looks_like(label: str) -> None:
    with pytest.raises(ValueError, match="2026-W48"):
        iso_week(label, utc(2026, 12, 1))


def test_nearest_rank() -> None:
    assert nearest_rank([], 0.95) is None
    assert nearest_rank([3.0], 0.95) == 3.0
    assert nearest_rank([float(v) for v in range(1, 101)], 0.95) == 95.0
    assert nearest_rank([5.0, 1.0, 3.0], 0.5) == 3.0


# -- a simulated week, recomputed independently ----------------------------------------------------


@dataclass
class Replayed:
    out: Path
    config: Config
    report: WeeklyReport


@pytest.fixture(scope="module")
def replayed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Replayed]:
    out = tmp_path_factory.mktemp("week")
    done = subprocess.run(
        [sys.executable, "-m", "monitor.cli", "demo", "--simulate", "7d", "--out", str(out)],
        env={k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "SYNCWATCH_SLACK"))},
        capture_output=True, text=True, timeout=1200, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    env = {**SECRETS, "DEMO_URL": "http://127.0.0.1:9", "DEMO_ERP_URL": f"sqlite:///{out / 'no-erp.db'}"}
    config = load_config(demo_config_dir() / "syncwatch.yaml", environ=env)
    with Store.open(f"sqlite:///{out / 'syncwatch.db'}") as store:
        report = build_weekly(store, config, iso_week("2026-W48", utc(2026, 12, 1)), utc(2026, 12, 1))
    yield Replayed(out, config, report)


def _sql(replayed: Replayed, query: str, **params: object) -> list[tuple[object, ...]]:
    engine = create_engine(f"sqlite:///{replayed.out / 'syncwatch.db'}")
    try:
        with engine.connect() as conn:
            return [tuple(row) for row in conn.execute(text(query), params)]
    finally:
        engine.dispose()


WEEK = {"start": "2026-11-23 00:00:00", "end": "2026-11-30 00:00:00"}


def test_the_replay_leaves_the_weekly_report_and_the_audit(replayed: Replayed) -> None:
    html = replayed.out / "weekly-2026-W48.html"
    markdown = replayed.out / "weekly-2026-W48.md"
    audit = replayed.out / "audit.html"
    for path in (html, markdown, audit, replayed.out / "audit.md"):
        assert path.is_file() and path.stat().st_size > 1000, path
    assert html.stat().st_size < 300 * 1024
    body = html.read_text(encoding="utf-8")
    assert "<script" not in body.lower() and "stock-wms-to-shopify" in body


def test_the_headline_share_within_budget_matches_sql(replayed: Replayed) -> None:
    ((sampled, oob),) = _sql(replayed, "SELECT SUM(sampled), SUM(out_of_budget) FROM health_snapshots "
                                       "WHERE at >= :start AND at < :end AND outcome != 'error'", **WEEK)
    assert isinstance(sampled, int) and isinstance(oob, int)
    headline = replayed.report.headline
    assert (headline.sampled, headline.out_of_budget) == (sampled, oob)
    assert headline.within_budget == pytest.approx((sampled - oob) / sampled)
    ((runs,),) = _sql(replayed, "SELECT COUNT(*) FROM probe_runs WHERE started_at >= :start AND started_at < :end",
                      **WEEK)
    assert headline.probe_runs == runs == 5376


def test_incidents_opened_in_the_week_match_sql(replayed: Replayed) -> None:
    ((opened,),) = _sql(replayed, "SELECT COUNT(*) FROM incidents WHERE opened_at >= :start AND opened_at < :end",
                        **WEEK)
    assert replayed.report.headline.incidents == opened
    assert sum(c.incidents.opened for c in replayed.report.contracts) == opened
    for contract in replayed.report.contracts:
        ((count,),) = _sql(replayed, "SELECT COUNT(*) FROM incidents WHERE contract = :c AND opened_at < :end AND "
                                     "(resolved_at IS NULL OR resolved_at >= :start)", c=contract.contract, **WEEK)
        assert contract.incidents.count == count, contract.contract


def test_attainment_and_probe_failures_per_target_match_sql(replayed: Replayed) -> None:
    for contract in replayed.report.contracts:
        for target in contract.targets:
            ((runs, failed, within),) = _sql(
                replayed,
                "SELECT COUNT(*), SUM(outcome = 'error'), "
                "SUM(outcome != 'error' AND NOT (sampled > 0 AND CAST(out_of_budget AS REAL) / sampled > :drift)) "
                "FROM health_snapshots WHERE contract = :c AND target = :t AND at >= :start AND at < :end",
                c=contract.contract, t=target.target, drift=contract.drift_budget, **WEEK)
            assert (target.runs, target.runs_failed, target.runs_within_budget) == (runs, failed, within), (
                contract.contract, target.target)
    stock = next(c for c in replayed.report.contracts if c.contract == "stock-wms-to-shopify")
    assert stock.targets[0].runs_failed > 0  # the WMS outage: runs that could not see, counted apart
    assert stock.attainment is not None and stock.attainment < 0.99  # the week's stock faults


def test_conflict_records_per_field_match_sql(replayed: Replayed) -> None:
    rows = _sql(replayed, "SELECT d.contract, d.target, f.value, COUNT(DISTINCT d.key) FROM divergences d, "
                          "json_each(d.fields) f WHERE d.kind = 'conflict' AND d.first_seen < :end AND "
                          "d.last_seen >= :start GROUP BY d.contract, d.target, f.value", **WEEK)
    expected = {(str(c), str(t), str(f)): n for c, t, f, n in rows}
    found = {(c.contract, k.target, k.field): k.records for c in replayed.report.contracts for k in c.conflicts}
    assert found == expected and expected  # the ERP overwriting Shopify's stock is in the week


def test_the_things_to_fix_first_come_with_their_evidence(replayed: Replayed) -> None:
    fixes = replayed.report.fix_first
    assert 1 <= len(fixes) <= 3
    assert [f.score for f in fixes] == sorted((f.score for f in fixes), reverse=True)
    assert all(f.evidence and f.title for f in fixes)
    assert any(f.contract == "stock-wms-to-shopify" for f in fixes)
