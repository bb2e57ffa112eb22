"""The scorecard's rules on hand-made runs: matching breaches to faults, false breaches, API share."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from monitor.config import Config, load_config
from monitor.demo.run import SECRETS, demo_config_dir
from monitor.demo.scorecard import TruthPoint, build_scorecard
from monitor.demo.truth import FaultRecord, GroundTruth
from monitor.results import (
    BreachKind,
    ConnectorUsage,
    DivergenceChanges,
    Health,
    Outcome,
    ProbeResult,
    TargetResult,
    Verdict,
)

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
STOCK = "stock-wms-to-shopify"


def _config() -> Config:
    env = {**SECRETS, "DEMO_URL": "http://127.0.0.1:1", "DEMO_ERP_URL": "sqlite://"}
    return load_config(demo_config_dir() / "syncwatch.yaml", environ=env)


def _run(minute: int, breaching: tuple[BreachKind, ...], requests: int = 0, seconds: float = 1.0) -> ProbeResult:
    at = T0 + timedelta(minutes=minute)
    health = Health(STOCK, "shopify", at, Outcome.IN_SYNC)
    verdict = Verdict("shopify", breaching, {}, breaching, 2)
    usage = [ConnectorUsage("wms", requests=requests)]
    return ProbeResult(STOCK, at, at + timedelta(seconds=seconds), Outcome.IN_SYNC, {}, [TargetResult("shopify", [], health, verdict)],
                       DivergenceChanges(), usage)


def _truth(*faults: FaultRecord) -> GroundTruth:
    truth = GroundTruth()
    truth.faults.extend(faults)
    return truth


def _fault(start: int, end: int) -> FaultRecord:
    return FaultRecord("slow", "delay", STOCK, "shopify", T0 + timedelta(minutes=start), T0 + timedelta(minutes=end),
                       "slow", "out_of_budget")


def test_a_breach_after_the_truth_broke_the_budget_is_detected_with_its_delay() -> None:
    points = {(STOCK, "shopify"): [TruthPoint(T0 + timedelta(minutes=m), oob, 300) for m, oob in [(0, 0), (3, 2), (6, 20), (9, 25), (12, 0)]]}
    runs = [_run(0, ()), _run(3, ()), _run(6, ()), _run(9, (BreachKind.OUT_OF_BUDGET,)), _run(12, ())]
    card = build_scorecard(_config(), _truth(_fault(1, 10)), points, runs, {"wms": 600}, {})
    assert (card.faults, card.detected, card.recall, card.false_breaches) == (1, 1, 1.0, 0)
    assert card.median_time_to_breach_s == 180  # broke at +6 (20/300 > 3%), breach at +9


def test_a_fault_that_never_broke_the_budget_is_not_counted() -> None:
    points = {(STOCK, "shopify"): [TruthPoint(T0 + timedelta(minutes=m), 1, 300) for m in (0, 3, 6)]}
    card = build_scorecard(_config(), _truth(_fault(1, 4)), points, [_run(0, ()), _run(3, ()), _run(6, ())], {}, {})
    assert (card.faults, card.recall) == (0, None)
    assert card.details["fault_detail"][0]["broke_budget_at"] is None


def test_a_breach_with_no_fault_and_a_healthy_truth_is_false() -> None:
    points = {(STOCK, "shopify"): [TruthPoint(T0 + timedelta(minutes=m), 0, 300) for m in (0, 3)]}
    card = build_scorecard(_config(), _truth(), points, [_run(0, ()), _run(3, (BreachKind.OUT_OF_BUDGET,))], {}, {})
    assert card.false_breaches == 1
    # ...but when the whole truth was out of budget at that moment (lost updates, days on), it is true.
    points = {(STOCK, "shopify"): [TruthPoint(T0 + timedelta(minutes=m), 30, 300) for m in (0, 3)]}
    card = build_scorecard(_config(), _truth(), points, [_run(0, ()), _run(3, (BreachKind.OUT_OF_BUDGET,))], {}, {})
    assert card.false_breaches == 0


def test_a_missed_fault_lowers_recall() -> None:
    points = {(STOCK, "shopify"): [TruthPoint(T0 + timedelta(minutes=m), 30, 300) for m in (0, 3, 6, 9, 12, 15, 18, 21)]}
    runs = [_run(m, ()) for m in (0, 3, 6, 9, 12, 15, 18, 21)]
    card = build_scorecard(_config(), _truth(_fault(1, 4)), points, runs, {}, {})
    assert (card.faults, card.detected, card.recall) == (1, 0, 0.0)


def test_api_share_spreads_a_long_run_over_its_duration() -> None:
    # 120 requests in one run that lasted 10 minutes against 600/min: 20 a minute at most.
    card = build_scorecard(_config(), _truth(), {}, [_run(0, (), requests=120, seconds=600)], {"wms": 600}, {})
    assert card.api_share_max == round(60 / (600 * 5), 4)
    burst = build_scorecard(_config(), _truth(), {}, [_run(0, (), requests=120, seconds=1)], {"wms": 600}, {})
    assert burst.api_share_max == round(120 / (600 * 5), 4)
