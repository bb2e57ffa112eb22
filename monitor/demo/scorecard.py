"""Score the monitor against the demo world's ground truth: recall, time to breach, false breaches,
lag accuracy and API share. The one place these figures are computed."""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from monitor.config import Config
from monitor.demo.truth import FaultRecord, GroundTruth
from monitor.results import LAG_KINDS, ProbeResult

__all__ = ["TruthPoint", "Scorecard", "build_scorecard", "write_truth_points", "DATA_FAULTS"]

# Faults that make data wrong (what a budget is about), as opposed to faults that stop us seeing.
DATA_FAULTS = frozenset({"delay", "drop", "rogue_writer", "mapping_bug", "duplicates", "schema_change"})
_MIN_TRUE_CHANGES = 20
_MIN_SAMPLES = 10


@dataclass(frozen=True)
class TruthPoint:
    """The true state of one contract × target at one probe time."""

    at: datetime
    out_of_budget: int
    population: int


def write_truth_points(path: Path, points: dict[tuple[str, str], list[TruthPoint]]) -> None:
    """The true out-of-budget count at every probe, so any breach rule can be scored offline."""
    rows = [
        {"contract": contract, "target": target, "at": p.at.isoformat(), "out_of_budget": p.out_of_budget,
         "population": p.population}
        for (contract, target), series in sorted(points.items())
        for p in series
    ]
    path.write_text(json.dumps(rows, indent=0))


@dataclass
class Scorecard:
    faults: int
    detected: int
    recall: float | None
    median_time_to_breach_s: float | None
    false_breaches: int
    lag_p95_error: float | None
    api_share_max: float
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "faults": self.faults,
            "detected": self.detected,
            "recall": self.recall,
            "median_time_to_breach_s": self.median_time_to_breach_s,
            "false_breaches": self.false_breaches,
            "lag_p95_error": self.lag_p95_error,
            "api_share_max": self.api_share_max,
            **self.details,
        }


@dataclass(frozen=True)
class _Breach:
    contract: str
    target: str
    kind: str
    at: datetime


def _breaches(results: list[ProbeResult]) -> list[_Breach]:
    """Breaches as raised: a kind entering a target's ``breaching`` set."""
    active: dict[tuple[str, str], set[str]] = defaultdict(set)
    raised = []
    for result in sorted(results, key=lambda r: r.started_at):
        for target in result.targets:
            now = {k.value for k in target.verdict.breaching}
            for kind in sorted(now - active[(result.contract, target.target)]):
                raised.append(_Breach(result.contract, target.target, kind, result.started_at))
            active[(result.contract, target.target)] = now
    return raised


def build_scorecard(
    config: Config,
    truth: GroundTruth,
    truth_points: dict[tuple[str, str], list[TruthPoint]],
    results: list[ProbeResult],
    rate_limits_per_minute: dict[str, float],
    protocol: dict[str, int],
) -> Scorecard:
    breaches = _breaches(results)
    claimed: set[int] = set()
    fault_rows: list[dict[str, Any]] = []
    ttb: list[float] = []
    for fault in truth.faults:
        contract = config.contracts[fault.contract]
        latency = contract.budget.latency
        every = contract.sampling.every
        grace = latency + every * (contract.budget.hold + 1)
        broke_at = _broke_at(fault, truth_points.get((fault.contract, fault.target), []), contract.budget.drift,
                             grace, results)
        match = None
        if broke_at is not None:
            for i, b in enumerate(breaches):
                if (b.contract, b.target, b.kind) == (fault.contract, fault.target, fault.breach_kind) and \
                        fault.start <= b.at <= fault.end + grace:
                    match = i
                    break
        if match is not None:
            claimed.add(match)
        row: dict[str, Any] = {
            "name": fault.name,
            "kind": fault.kind,
            "contract": fault.contract,
            "expected_breach": fault.breach_kind,
            "start": fault.start.isoformat(),
            "end": fault.end.isoformat(),
            "broke_budget_at": broke_at.isoformat() if broke_at else None,
            "breach_at": breaches[match].at.isoformat() if match is not None else None,
            "time_to_breach_s": None,
            "data_fault": fault.kind in DATA_FAULTS,
        }
        if match is not None and broke_at is not None:
            seconds = max(0.0, (breaches[match].at - broke_at).total_seconds())
            row["time_to_breach_s"] = seconds
            if fault.kind in DATA_FAULTS:
                ttb.append(seconds)
        fault_rows.append(row)
    # A breach is false when no fault explains it: none active on that contract and target
    # (a probe_failing breach during any outage or rate storm of its systems is explained too).
    false = []
    for i, b in enumerate(breaches):
        if i in claimed or _explained(b, truth.faults, config) or _true_at(b, truth_points, config):
            continue
        false.append({"contract": b.contract, "target": b.target, "kind": b.kind, "at": b.at.isoformat()})
    counted = [r for r in fault_rows if r["data_fault"] and r["broke_budget_at"]]
    detected = sum(1 for r in counted if r["breach_at"])
    lag_rows = _lag_accuracy(config, truth, results)
    worst = max((r["relative_error"] for r in lag_rows if r["relative_error"] is not None), default=None)
    shares = _api_share(results, rate_limits_per_minute)
    return Scorecard(
        faults=len(counted),
        detected=detected,
        recall=detected / len(counted) if counted else None,
        median_time_to_breach_s=_median(ttb),
        false_breaches=len(false),
        lag_p95_error=worst,
        api_share_max=max(shares.values(), default=0.0),
        details={
            # The goal: within 15% or one probe interval of the truth, whichever is larger.
            "lag_p95_goal_met": all(r["within_goal"] for r in lag_rows),
            "fault_detail": fault_rows,
            "false_breach_detail": false,
            "lag_p95_by_contract_day": lag_rows,
            "api_share_by_system": shares,
            "probe_runs": len(results),
            "probe_errors": sum(1 for r in results if r.outcome.value == "error"),
            "protocol": protocol,
        },
    )


def _broke_at(
    fault: FaultRecord, points: list[TruthPoint], drift: float, grace: timedelta, results: list[ProbeResult]
) -> datetime | None:
    """When the fault first put the contract out of budget (or out of sight), by the truth."""
    if fault.breach_kind == "probe_failing":
        # Blindness is real only if a probe could not read: a storm the retries absorbed is not.
        failed = [r.started_at for r in results
                  if r.contract == fault.contract and r.outcome.value == "error" and fault.start <= r.started_at <= fault.end + grace]
        return min(failed, default=None)
    if fault.breach_kind != "out_of_budget":
        return fault.start  # a conflict or a schema change is a breach condition at once
    for p in points:
        if fault.start <= p.at <= fault.end + grace and p.population and p.out_of_budget / p.population > drift:
            return p.at
    return None


def _explained(b: _Breach, faults: list[FaultRecord], config: Config) -> bool:
    contract = config.contracts[b.contract]
    grace = contract.budget.latency + contract.sampling.every * (contract.budget.hold + 1)
    systems = {contract.source.system, *(t.system for t in contract.targets)}
    for f in faults:
        window = f.start <= b.at <= f.end + grace
        if window and (f.contract, f.target) == (b.contract, b.target):
            return True
        if window and b.kind == "probe_failing" and f.system in systems:
            return True
    return False


def _true_at(b: _Breach, truth_points: dict[tuple[str, str], list[TruthPoint]], config: Config) -> bool:
    """An out-of-budget breach is true when the whole truth was out of budget when it was raised
    (e.g. updates lost for good days earlier, long after their fault's window)."""
    if b.kind != "out_of_budget":
        return False
    drift = config.contracts[b.contract].budget.drift
    for point in truth_points.get((b.contract, b.target), []):
        if point.at == b.at:
            return bool(point.population) and point.out_of_budget / point.population > drift
    return False


def _lag_accuracy(config: Config, truth: GroundTruth, results: list[ProbeResult]) -> list[dict[str, Any]]:
    """Estimated vs true p95 lag per contract and day (UTC days)."""
    true_lags: dict[tuple[str, str], list[float]] = defaultdict(list)
    for flow in truth.flows.values():
        for change in flow.changes:
            if change.lag_seconds is not None:
                true_lags[(flow.contract, change.changed_at.date().isoformat())].append(change.lag_seconds)
    # Measurements are filed under the day of the source change they measured, as the truth
    # is. A resolution's lag lies in [lag - resolution, lag]: take the middle. A divergence
    # still open at the end counts at the age it was last seen at (a lower bound), as the
    # health's censored quantiles do: updates lost for good must not vanish from the estimate.
    # One measurement per source change: a change sampled again in later runs (it stays
    # "recent" for a while) must not outweigh a change seen once.
    measured: dict[tuple[str, str], list[float]] = defaultdict(list)
    seen: set[tuple[str, str, str, datetime]] = set()
    still_open: dict[tuple[str, str, str], tuple[str, float]] = {}
    for result in sorted(results, key=lambda r: r.started_at):
        exact_keys = set()
        for target in result.targets:
            for o in target.observations:
                if o.lag_seconds is not None and o.source_updated_at is not None:
                    exact_keys.add((o.target, o.key, o.source_updated_at))
                    ident = (result.contract, o.target, o.key, o.source_updated_at)
                    if ident not in seen:
                        seen.add(ident)
                        measured[(result.contract, o.source_updated_at.date().isoformat())].append(o.lag_seconds)
                elif o.kind in LAG_KINDS and o.age_seconds is not None and not o.age_is_lower_bound:
                    since = o.observed_at - timedelta(seconds=o.age_seconds)
                    still_open[(result.contract, o.target, o.key)] = (since.date().isoformat(), o.age_seconds)
        for r in result.changes.resolved:
            still_open.pop((result.contract, r.target, r.key), None)
            if (r.target, r.key, r.source_updated_at) in exact_keys:
                continue  # the same change, measured exactly above
            if r.kind in LAG_KINDS and r.source_updated_at is not None and not r.lag_is_lower_bound:
                ident = (result.contract, r.target, r.key, r.source_updated_at)
                if ident not in seen:
                    seen.add(ident)
                    middle = max(0.0, r.lag_seconds - r.resolution_seconds / 2)
                    measured[(result.contract, r.source_updated_at.date().isoformat())].append(middle)
        for target in result.targets:
            for o in target.observations:
                if o.kind.value == "in_sync":
                    still_open.pop((result.contract, o.target, o.key), None)
    for (contract, _, _), (day, age) in still_open.items():
        measured[(contract, day)].append(age)
    rows = []
    for (contract, day), lags in sorted(true_lags.items()):
        samples = measured.get((contract, day), [])
        if len(lags) < _MIN_TRUE_CHANGES or len(samples) < _MIN_SAMPLES or contract not in config.contracts:
            continue
        true_p95, est_p95 = _p95(lags), _p95(samples)
        every = config.contracts[contract].sampling.every.total_seconds()
        error = abs(est_p95 - true_p95) / true_p95 if true_p95 > 0 else None
        rows.append({
            "contract": contract, "day": day, "true_p95_s": round(true_p95, 1), "estimated_p95_s": round(est_p95, 1),
            "true_changes": len(lags), "samples": len(samples),
            "relative_error": round(error, 4) if error is not None else None,
            "within_goal": error is not None and (error <= 0.15 or abs(est_p95 - true_p95) <= every),
        })
    return rows


def _api_share(results: list[ProbeResult], limits: dict[str, float]) -> dict[str, float]:
    """The largest share of each system's limit used over any 5-minute window.

    A run's spend is spread evenly over the run's own duration (it may wait on
    rate limits for minutes), then summed per window and divided by what the
    system allows in a window.
    """
    window = 300.0
    spent: dict[tuple[str, int], float] = defaultdict(float)
    for result in results:
        start = result.started_at.timestamp()
        length = max(1.0, result.finished_at.timestamp() - start)
        for usage in result.usage:
            amount = usage.cost_points if usage.cost_points else float(usage.requests)
            if not amount:
                continue
            first, last = int(start // window), int((start + length) // window)
            for slot in range(first, last + 1):
                overlap = min(start + length, (slot + 1) * window) - max(start, slot * window)
                spent[(usage.system, slot)] += amount * max(0.0, overlap) / length
    shares: dict[str, float] = {}
    for (system, _), amount in spent.items():
        if limits.get(system):
            share = amount / (limits[system] * window / 60)
            shares[system] = round(max(shares.get(system, 0.0), share), 4)
    return shares


def _p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.95 * len(ordered)) - 1)]


def _median(values: list[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2
