"""From a run's observations to health per contract × target, and to the budget verdict."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from monitor.config.models import Contract
from monitor.errors import ConnectorError
from monitor.results import (
    LAG_KINDS,
    BreachKind,
    Health,
    Kind,
    Observation,
    Outcome,
    Resolution,
    Stream,
    Verdict,
)
from monitor.stats import binomial_upper_tail, censored_quantile, wilson_interval

__all__ = ["build_health", "build_verdict", "lag_samples"]

# Conditions that breach at once, whatever the contract's hold: a critical field
# written by a system that does not own it is never "in flight".
_IMMEDIATE = frozenset({BreachKind.CONFLICT})


def build_health(
    contract: Contract,
    target: str,
    at: datetime,
    observations: Sequence[Observation],
    resolutions: Sequence[Resolution],
    error: ConnectorError | None = None,
) -> Health:
    if error is not None:
        return Health(contract.contract, target, at, Outcome.ERROR, error=str(error), error_reason=error.reason)
    proper = [o for o in observations if o.stream is not Stream.FOLLOWUP]
    kinds = Counter(o.kind.value for o in proper)
    judged = [o for o in proper if o.kind is not Kind.UNREADABLE]
    n = len(judged)
    divergent = sum(1 for o in judged if o.divergent)
    oob = sum(1 for o in judged if o.out_of_budget)
    conflicts = kinds.get(Kind.CONFLICT.value, 0)
    critical = sum(1 for o in proper if o.kind is Kind.CONFLICT and any(d.critical for d in o.diffs))
    # At risk: the field's risk applies and the record is past its latency budget or written by
    # the wrong system. A change still in flight within the budget is no risk yet.
    at_risk: Counter[str] = Counter()
    for o in proper:
        if not (o.out_of_budget or o.kind is Kind.CONFLICT):
            continue
        for risk in {d.risk for d in o.diffs if d.at_risk and d.risk}:
            at_risk[risk] += 1
    # Lag: in-sync samples and resolved divergences are measured; open stale or
    # missing records are censored at their age (the lag will be at least that).
    exact = lag_samples(observations, resolutions)
    censored = [
        o.age_seconds
        for o in observations
        if o.kind in (Kind.STALE, Kind.MISSING) and o.age_seconds is not None
    ]
    p50 = censored_quantile(exact, censored, 0.50)
    p95 = censored_quantile(exact, censored, 0.95)
    if n == 0 and not kinds:
        outcome = Outcome.SKIPPED
    elif divergent:
        outcome = Outcome.DIVERGENT
    else:
        outcome = Outcome.IN_SYNC
    return Health(
        contract=contract.contract,
        target=target,
        at=at,
        outcome=outcome,
        sampled=n,
        divergent=divergent,
        out_of_budget=oob,
        conflicts=conflicts,
        critical_conflicts=critical,
        unreadable=kinds.get(Kind.UNREADABLE.value, 0),
        by_kind=dict(kinds),
        drift_ratio=divergent / n if n else None,
        drift_interval=wilson_interval(divergent, n),
        out_of_budget_ratio=oob / n if n else None,
        out_of_budget_interval=wilson_interval(oob, n),
        lag_p50=p50.value if p50 else None,
        lag_p95=p95.value if p95 else None,
        lag_p50_lower_bound=bool(p50 and p50.lower_bound),
        lag_p95_lower_bound=bool(p95 and p95.lower_bound),
        lag_samples=len(exact),
        censored=len(censored),
        at_risk=dict(at_risk),
    )


def lag_samples(observations: Sequence[Observation], resolutions: Sequence[Resolution]) -> list[float]:
    """The run's lag measurements for one target: one per source change that arrived."""
    exact = [o.lag_seconds for o in observations if o.lag_seconds is not None]
    # Only a stale or missing record that caught up measured a sync's lag; a duplicate
    # removed or a conflict overwritten did not.
    # A record caught up and carrying both timestamps already gave an exact sample (ut - us);
    # its resolution's coarser upper bound would count it twice.
    # (A resolution of an older change, lost and then superseded, is a different change: kept.)
    measured = {(o.key, o.source_updated_at) for o in observations if o.lag_seconds is not None}
    exact += [
        r.lag_seconds for r in resolutions
        if r.kind in LAG_KINDS and (r.key, r.source_updated_at) not in measured
    ]
    return exact


def build_verdict(
    contract: Contract,
    target: str,
    health: Health,
    prior_streaks: Mapping[str, int],
    prior_evidence: tuple[int, int] = (0, 0),
) -> Verdict:
    """Conditions of this run, how long each has held, and which are breaches after ``hold``.

    Out of budget breaches when the ratio has been above the drift budget for ``hold``
    runs *and* the runs of that streak, pooled, make it unlikely that the true share is
    within budget: the one-sided binomial test at the budget's ``confidence``. A true
    share just under the budget reads above it in a run or two now and then (a sample
    of 100 out of 300 SKUs); a share above it keeps reading above it, and the pooled
    count soon leaves no doubt.

    A skipped run (nothing to sample) leaves the streaks as they were, and a
    failed probe counts only towards ``probe_failing``: neither is evidence that
    the data got better or worse.
    """
    budget = contract.budget
    hold = budget.hold
    evidence = prior_evidence
    if health.outcome is Outcome.SKIPPED:
        streaks = dict(prior_streaks)
        conditions: tuple[BreachKind, ...] = ()
    elif health.outcome is Outcome.ERROR:
        streaks = dict(prior_streaks)
        streaks[BreachKind.PROBE_FAILING.value] = prior_streaks.get(BreachKind.PROBE_FAILING.value, 0) + 1
        conditions = (BreachKind.PROBE_FAILING,)
    else:
        active: list[BreachKind] = []
        ratio = health.out_of_budget_ratio
        if ratio is not None and ratio > budget.drift:
            active.append(BreachKind.OUT_OF_BUDGET)
            held = prior_evidence if prior_streaks.get(BreachKind.OUT_OF_BUDGET.value, 0) else (0, 0)
            evidence = (held[0] + health.sampled, held[1] + health.out_of_budget)
        else:
            evidence = (0, 0)
        if health.critical_conflicts:
            active.append(BreachKind.CONFLICT)
        if health.unreadable:
            active.append(BreachKind.SCHEMA_CHANGE)
        conditions = tuple(active)
        streaks = {k.value: (prior_streaks.get(k.value, 0) + 1 if k in active else 0) for k in BreachKind}
    p_value = binomial_upper_tail(evidence[1], evidence[0], budget.drift) if evidence[0] else None

    def breaches(kind: BreachKind) -> bool:
        if streaks.get(kind.value, 0) < (1 if kind in _IMMEDIATE else hold):
            return False
        if kind is BreachKind.OUT_OF_BUDGET:
            return p_value is not None and p_value < 1 - budget.confidence
        return True

    return Verdict(
        target=target,
        conditions=conditions,
        streaks=streaks,
        breaching=tuple(k for k in BreachKind if breaches(k)),
        hold=hold,
        evidence=evidence,
        p_value=p_value,
    )
