"""Plain result data of a probe run: what was observed, what it means, nothing rendered.

Measuring (engine), deciding (health, verdict) and rendering (CLI, metrics, Slack,
HTML) are kept apart; these dataclasses are what passes between them. They have no
formatting methods on purpose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

__all__ = [
    "Kind",
    "Outcome",
    "Stream",
    "BreachKind",
    "FieldDiff",
    "Observation",
    "OpenDivergence",
    "Resolution",
    "DivergenceChanges",
    "Interval",
    "Health",
    "Verdict",
    "TargetResult",
    "ProbeResult",
    "PriorState",
    "ConnectorUsage",
    "DIVERGENT_KINDS",
    "LAG_KINDS",
]


class Kind(StrEnum):
    """What one key in one target looked like at one probe time (DESIGN.md section 3)."""

    IN_SYNC = "in_sync"
    STALE = "stale"
    CONFLICT = "conflict"
    MISSING = "missing"
    DUPLICATE = "duplicate"
    UNREADABLE = "unreadable"


# Kinds that count as drift. ``unreadable`` is a schema change: routed as such, never drift.
DIVERGENT_KINDS = frozenset({Kind.STALE, Kind.CONFLICT, Kind.MISSING, Kind.DUPLICATE})
# Kinds whose resolution measures a sync's lag (the target caught up with the source).
LAG_KINDS = frozenset({Kind.STALE, Kind.MISSING})


class Outcome(StrEnum):
    """How a probe run (or one target of it) ended. "Can't see" is not "out of sync"."""

    IN_SYNC = "in_sync"
    DIVERGENT = "divergent"
    ERROR = "error"
    SKIPPED = "skipped"


class Stream(StrEnum):
    """Why a key was sampled. ``followup`` keys re-check open divergences and are
    kept out of the health ratios, which stay estimates over the sample proper."""

    RECENT = "recent"
    UNIFORM = "uniform"
    WATCH = "watch"
    FOLLOWUP = "followup"


class BreachKind(StrEnum):
    OUT_OF_BUDGET = "out_of_budget"
    CONFLICT = "conflict"
    SCHEMA_CHANGE = "schema_change"
    PROBE_FAILING = "probe_failing"


@dataclass(frozen=True, slots=True)
class FieldDiff:
    """One contract field that compared unequal.

    ``direction`` is ``target_higher`` / ``target_lower`` for ordered comparators,
    else None. ``at_risk`` says whether the field's ``risk`` applies to this
    difference (e.g. ``oversell`` only when the target shows more than the source).
    """

    field: str
    risk: str | None = None
    direction: str | None = None
    at_risk: bool = False
    critical: bool = False


@dataclass(frozen=True, slots=True)
class Observation:
    """The result for one key in one target at one time.

    ``key`` is the form stored and compared across runs (a keyed hash for
    personal keys); ``key_display`` is safe to show (masked for personal keys).
    Customer values are never kept: only the names of the fields that differed.
    """

    target: str
    key: str
    key_display: str
    stream: Stream
    kind: Kind
    observed_at: datetime
    diffs: tuple[FieldDiff, ...] = ()
    source_updated_at: datetime | None = None
    target_updated_at: datetime | None = None
    age_seconds: float | None = None  # divergent: how long the target has been behind
    age_is_lower_bound: bool = False  # source has no updated_at: counted from first sight
    out_of_budget: bool = False
    lag_seconds: float | None = None  # in sync and recently changed: a lag sample
    problems: tuple[str, ...] = ()  # unreadable: "side.field: why"

    @property
    def divergent(self) -> bool:
        return self.kind in DIVERGENT_KINDS


@dataclass(frozen=True, slots=True)
class OpenDivergence:
    """A divergence still open, as remembered between runs (from the store)."""

    target: str
    key: str
    key_display: str
    kind: Kind
    first_seen: datetime
    last_seen: datetime
    source_updated_at: datetime | None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Resolution:
    """A divergence seen before and in sync now.

    The true lag lies between ``last_seen - source_updated_at`` and
    ``resolved_at - source_updated_at``; ``lag_seconds`` is the upper end and
    ``resolution_seconds`` the width of that interval.
    """

    target: str
    key: str
    key_display: str
    kind: Kind
    first_seen: datetime
    resolved_at: datetime
    source_updated_at: datetime | None
    lag_seconds: float
    resolution_seconds: float
    lag_is_lower_bound: bool = False


@dataclass(slots=True)
class DivergenceChanges:
    opened: list[OpenDivergence] = field(default_factory=list)
    updated: list[OpenDivergence] = field(default_factory=list)
    resolved: list[Resolution] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Interval:
    low: float
    high: float


@dataclass(frozen=True, slots=True)
class Health:
    """Per contract × target at one probe time (DESIGN.md section 3).

    Ratios are over the sample proper (recent, uniform, watch), not follow-ups.
    Lag quantiles include open divergences as censored values (at least their
    age); ``*_lower_bound`` says a censored value decided the quantile.
    """

    contract: str
    target: str
    at: datetime
    outcome: Outcome
    sampled: int = 0
    divergent: int = 0
    out_of_budget: int = 0
    conflicts: int = 0
    critical_conflicts: int = 0
    unreadable: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    drift_ratio: float | None = None
    drift_interval: Interval | None = None
    out_of_budget_ratio: float | None = None
    out_of_budget_interval: Interval | None = None
    lag_p50: float | None = None
    lag_p95: float | None = None
    lag_p50_lower_bound: bool = False
    lag_p95_lower_bound: bool = False
    lag_samples: int = 0
    censored: int = 0
    # risk -> keys where it applies, past their latency budget or in conflict (not in flight)
    at_risk: dict[str, int] = field(default_factory=dict)
    error: str | None = None
    error_reason: str | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """The budget verdict for one target after this run, with ``hold`` applied."""

    target: str
    conditions: tuple[BreachKind, ...]  # true in this run
    streaks: dict[str, int]  # consecutive runs each condition has held, this one included
    breaching: tuple[BreachKind, ...]  # conditions held for at least ``hold`` runs
    hold: int
    # Pooled (sampled, out of budget) over the current out-of-budget streak, this run included,
    # and how likely that count would be if the true share were exactly the budget.
    evidence: tuple[int, int] = (0, 0)
    p_value: float | None = None


@dataclass(slots=True)
class ConnectorUsage:
    """What one connector spent in one run; reported so the API share can be checked."""

    system: str
    requests: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    rate_limit_waits: int = 0
    waited_seconds: float = 0.0
    cost_points: float = 0.0  # cost-based APIs (Shopify): points spent
    durations: list[float] = field(default_factory=list)  # wall seconds of each request (metrics; not stored)


@dataclass(slots=True)
class TargetResult:
    target: str
    observations: list[Observation]
    health: Health
    verdict: Verdict


class IncidentState(StrEnum):
    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"
    RESOLVED = "resolved"


@dataclass(slots=True)
class Incident:
    """A breach (contract × target × breach kind) followed from opened to resolved.

    ``facts`` are the latest figures in plain values (ratios, counts, masked example keys),
    for messages and reports; never a customer value or a clear personal key.
    """

    id: int | None
    contract: str
    target: str
    kind: BreachKind
    state: IncidentState
    opened_at: datetime
    last_breach_at: datetime
    acknowledged_at: datetime | None = None
    acknowledged_by: str | None = None
    snoozed_until: datetime | None = None
    resolved_at: datetime | None = None
    healthy_runs: int = 0
    snoozed_by: str | None = None
    reopened: int = 0
    facts: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class Silence:
    """Notifications matching it are held back from ``starts_at`` to ``ends_at``; measuring goes on.
    A matcher left None matches anything."""

    id: int | None
    starts_at: datetime
    ends_at: datetime
    created_by: str
    comment: str = ""
    contract: str | None = None
    target: str | None = None
    kind: BreachKind | None = None

    def matches(self, contract: str, target: str, kind: BreachKind, at: datetime) -> bool:
        return (
            self.starts_at <= at < self.ends_at
            and self.contract in (None, contract)
            and self.target in (None, target)
            and self.kind in (None, kind)
        )


class IncidentChange(StrEnum):
    OPENED = "opened"
    REOPENED = "reopened"
    WORSE = "worse"
    BETTER = "better"
    RESOLVED = "resolved"


@dataclass(frozen=True, slots=True)
class IncidentEvent:
    """What happened to an incident in a run: what the owner is told about."""

    change: IncidentChange
    incident: Incident
    at: datetime


@dataclass(slots=True)
class ProbeResult:
    contract: str
    started_at: datetime
    finished_at: datetime
    outcome: Outcome
    sampled_by_stream: dict[str, int]
    targets: list[TargetResult]
    changes: DivergenceChanges
    usage: list[ConnectorUsage]
    error: str | None = None  # the source (or sampling) could not be read
    error_reason: str | None = None
    incident_events: list[IncidentEvent] = field(default_factory=list)  # filled when recorded


@dataclass(slots=True)
class PriorState:
    """What the engine needs to remember between runs, loaded from the store."""

    open: dict[tuple[str, str], OpenDivergence] = field(default_factory=dict)  # (target, key)
    streaks: dict[str, dict[str, int]] = field(default_factory=dict)  # target -> condition -> runs
    evidence: dict[str, tuple[int, int]] = field(default_factory=dict)  # target -> pooled (sampled, oob)
    last_run_at: datetime | None = None
