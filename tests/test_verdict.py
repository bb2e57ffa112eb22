"""The breach rule: the ratio above the drift budget for ``hold`` runs, and the pooled runs of
that streak significant against the budget at the contract's ``confidence``."""

from __future__ import annotations

import math
import random
from statistics import NormalDist

import pytest

from monitor.health import build_verdict
from monitor.results import BreachKind, Health, Outcome, Verdict
from monitor.stats import binomial_upper_tail
from tests.support import T0, contract

BUDGET_3 = {"latency": "5m", "drift": "3%", "hold": "2 runs"}


def _health(sampled: int, oob: int, outcome: Outcome = Outcome.DIVERGENT) -> Health:
    ratio = oob / sampled if sampled else None
    return Health("stock", "shop", T0, outcome, sampled=sampled, divergent=oob, out_of_budget=oob,
                  out_of_budget_ratio=ratio)


def _runs(counts: list[tuple[int, int]], **budget: str) -> list[Verdict]:
    c = contract(budget={**BUDGET_3, **budget})
    verdicts: list[Verdict] = []
    streaks: dict[str, int] = {}
    evidence = (0, 0)
    for n, o in counts:
        health = _health(n, o) if n else Health("stock", "shop", T0, Outcome.SKIPPED)
        v = build_verdict(c, "shop", health, streaks, evidence)
        verdicts.append(v)
        streaks, evidence = v.streaks, v.evidence
    return verdicts


def test_the_binomial_tail_matches_the_exact_sum() -> None:
    for k, n, p in [(4, 100, 0.03), (12, 200, 0.03), (1, 2, 0.005), (0, 10, 0.5), (10, 10, 0.5)]:
        exact = sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k, n + 1))
        assert binomial_upper_tail(k, n, p) == pytest.approx(exact, rel=1e-9)
    assert binomial_upper_tail(11, 10, 0.5) == 0.0
    # Long streaks: math.comb would overflow a float; the tail stays a probability.
    assert 0.0 < binomial_upper_tail(1400, 40_000, 0.03) < 1e-6
    # ... and agrees with the normal approximation, good at this size.
    mean, sd = 40_000 * 0.03, math.sqrt(40_000 * 0.03 * 0.97)
    for k in (1150, 1200, 1260):
        normal = 1 - NormalDist(mean, sd).cdf(k - 0.5)
        assert binomial_upper_tail(k, 40_000, 0.03) == pytest.approx(normal, abs=0.01)


def test_a_share_just_under_budget_that_reads_above_it_twice_is_not_a_breach() -> None:
    # 4 of 100 twice: above 3% each run, but 8 of 200 happens one time in four at exactly 3%.
    first, second = _runs([(100, 4), (100, 4)])
    assert second.conditions == (BreachKind.OUT_OF_BUDGET,) and second.streaks["out_of_budget"] == 2
    assert second.evidence == (200, 8)
    assert second.p_value == pytest.approx(binomial_upper_tail(8, 200, 0.03))
    assert second.p_value is not None and second.p_value > 0.05
    assert second.breaching == ()


def test_a_share_clearly_over_budget_breaches_after_hold_runs() -> None:
    first, second = _runs([(100, 7), (100, 6)])
    assert first.breaching == ()  # one run is never enough for out of budget
    assert second.evidence == (200, 13) and second.breaching == (BreachKind.OUT_OF_BUDGET,)


def test_a_marginal_excess_that_persists_breaches_once_the_pooled_runs_leave_no_doubt() -> None:
    verdicts = _runs([(100, 5)] * 6)
    breaching = [bool(v.breaching) for v in verdicts]
    assert breaching[:2] == [False, False] and breaching[-1] is True
    first = breaching.index(True)
    assert verdicts[first].evidence == (100 * (first + 1), 5 * (first + 1))
    assert all(breaching[first:])


def test_a_run_within_budget_ends_the_streak_and_its_evidence() -> None:
    verdicts = _runs([(100, 4), (100, 4), (100, 1), (100, 4)])
    assert verdicts[2].evidence == (0, 0) and verdicts[2].p_value is None
    assert verdicts[3].evidence == (100, 4) and verdicts[3].streaks["out_of_budget"] == 1


def test_a_skipped_run_keeps_the_evidence() -> None:
    verdicts = _runs([(100, 7), (0, 0), (100, 6)])
    assert verdicts[1].evidence == (100, 7)
    assert verdicts[2].evidence == (200, 13) and verdicts[2].breaching == (BreachKind.OUT_OF_BUDGET,)


def test_confidence_zero_trusts_the_point_estimates() -> None:
    assert _runs([(100, 4), (100, 4)], confidence="0%")[1].breaching == (BreachKind.OUT_OF_BUDGET,)


def test_false_breach_rate_at_a_true_share_just_under_budget() -> None:
    """A true share of 2.5% against a 3% budget, 100 a run, hold 2, over a simulated day
    of runs every 3 minutes: the point rule breaches over and over; the test far less, and at
    99% hardly ever (benchmarks/bench_breach_rule.py measures it over more days)."""
    rng = random.Random(7)
    counts = [(100, sum(rng.random() < 0.025 for _ in range(100))) for _ in range(480)]

    def raised(verdicts: list[Verdict]) -> int:
        return sum(1 for a, b in zip([()] + [v.breaching for v in verdicts], [v.breaching for v in verdicts])
                   if b and not a)

    point, at_95, at_99 = (raised(_runs(counts, confidence=c)) for c in ("0%", "95%", "99%"))
    assert point >= 10 and at_95 < point / 2 and at_99 <= 1
