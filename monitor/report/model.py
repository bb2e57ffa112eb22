"""The weekly health summary as plain data: every number the report shows, computed once
(``monitor.report.weekly.build_weekly``) and only formatted by the renderers
(``monitor.report.render``: HTML, Markdown, Slack).

Times are aware UTC; the renderers show them in Europe/London. Durations are seconds. Shares are
0..1 floats, None when there was nothing to measure.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

__all__ = [
    "Week",
    "Headline",
    "DayLag",
    "IncidentFigures",
    "ConflictFigures",
    "AtStake",
    "TargetWeek",
    "ContractWeek",
    "FixFirst",
    "WeeklyReport",
]


@dataclass(frozen=True, slots=True)
class Week:
    """An ISO week in Europe/London: Monday 00:00 to the next Monday 00:00 local time, as UTC
    instants (a week with a clock change is 167 or 169 hours long)."""

    label: str  # "2026-W48"
    start: datetime
    end: datetime
    days: tuple[date, ...]  # the seven local dates, Monday first


@dataclass(frozen=True, slots=True)
class Headline:
    """Across all contracts: the share of sampled records within their latency budget (the SLI),
    against the week before, and the incidents."""

    within_budget: float | None
    within_budget_last_week: float | None
    sampled: int
    out_of_budget: int
    incidents: int  # opened (or reopened) during the week
    incidents_last_week: int
    contracts: int
    contracts_met: int  # contracts whose every target kept its budget in every run
    probe_runs: int


@dataclass(frozen=True, slots=True)
class DayLag:
    """One local day of a target: lag p50/p95 (the worst run's, seconds) and out-of-budget runs."""

    day: date
    runs: int
    lag_p50: float | None
    lag_p95: float | None
    lag_p95_lower_bound: bool  # the p95 counted records still not in sync: at least this
    runs_out_of_budget: int  # runs whose out-of-budget share was over the drift budget


@dataclass(frozen=True, slots=True)
class IncidentFigures:
    """Incidents of a contract touching the week (opened before and still open count)."""

    count: int
    opened: int
    breach_seconds: float  # time the incidents were open within the week
    ack_median_s: float | None  # opened → acknowledged, of those acknowledged
    ack_worst_s: float | None
    resolve_median_s: float | None  # opened → resolved, of those resolved in the week
    resolve_worst_s: float | None
    unacknowledged: int
    still_open: int  # at the end of the week
    by_kind: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ConflictFigures:
    """Ownership conflicts in a target: the field, the system that wrote it, how many records."""

    target: str
    field: str
    records: int
    days: int  # distinct local days with a conflict on this field
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class AtStake:
    """What a field's ``risk`` put at stake in a target: up to ``peak`` sampled records at risk,
    for ``seconds`` in all, the most on ``worst_day``."""

    target: str
    risk: str
    fields: tuple[str, ...]
    peak: int
    sampled_at_peak: int
    seconds: float
    worst_day: date
    worst_day_seconds: float


@dataclass(frozen=True, slots=True)
class TargetWeek:
    target: str
    runs: int
    runs_within_budget: int  # runs that could see and were within the drift budget
    runs_failed: int  # runs that could not read (kept apart: "we could not see")
    seconds_out_of_budget: float  # time between runs whose out-of-budget share was over budget
    sampled: int
    out_of_budget: int
    lag_p50: float | None  # median over the week's runs of each run's p50
    lag_p95: float | None  # the 95th percentile of the week's run p95s
    by_kind: dict[str, int]  # divergent observations by kind, over the sample proper
    unreadable: int  # schema change: records that could not be read
    probe_failures: dict[str, int]  # error reason -> runs
    days: tuple[DayLag, ...]
    lag_p95_lower_bound: bool = False  # the week's p95 counted records still not in sync: at least this

    @property
    def attainment(self) -> float | None:
        """Share of the runs that could see which were within budget."""
        seen = self.runs - self.runs_failed
        return self.runs_within_budget / seen if seen else None


@dataclass(frozen=True, slots=True)
class ContractWeek:
    contract: str
    description: str | None
    owner: str  # owner's name
    source: str  # system key
    latency_budget_s: float
    drift_budget: float
    targets: tuple[TargetWeek, ...]
    incidents: IncidentFigures
    conflicts: tuple[ConflictFigures, ...]
    at_stake: tuple[AtStake, ...]
    schema_changes: int  # schema-change incidents or runs with unreadable records
    runs: int
    noun: str = "records"  # what the sampled records are, in words: "SKUs", "orders", "customers"

    @property
    def attainment(self) -> float | None:
        seen = sum(t.runs - t.runs_failed for t in self.targets)
        return sum(t.runs_within_budget for t in self.targets) / seen if seen else None

    @property
    def seconds_out_of_budget(self) -> float:
        return max((t.seconds_out_of_budget for t in self.targets), default=0.0)


@dataclass(frozen=True, slots=True)
class FixFirst:
    """One of the things to fix first: the rule that chose it, and its evidence."""

    rule: str  # "worst_attainment", "repeated_conflicts", "recurring_time_of_day", "blind_spot"
    contract: str
    target: str | None
    title: str
    evidence: str
    score: float  # how the candidates were ranked (higher first)


@dataclass(frozen=True, slots=True)
class WeeklyReport:
    week: Week
    generated_at: datetime
    headline: Headline
    contracts: tuple[ContractWeek, ...]
    fix_first: tuple[FixFirst, ...]
    systems: dict[str, str]  # display names by system key
