"""What the status page and ``/api/contracts`` show: every contract × target, from the store.

Read from the store on every request (not from memory), so a restarted service shows the
same state and a CLI ``syncwatch probe`` run shows up too.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from monitor.config import Config
from monitor.config.models import Contract
from monitor.results import BreachKind, Outcome
from monitor.store import Store
from monitor.units import format_duration

__all__ = ["TargetStatus", "ContractStatus", "collect_status"]

State = Literal["green", "amber", "red", "grey"]
# A contract not probed for this many intervals is shown amber: the monitor itself may be stuck.
_LATE_INTERVALS = 3


_OUTCOME_WORDS = {
    "in_sync": "all in sync",
    "divergent": "divergences found",
    "error": "could not read",
    "skipped": "nothing to sample",
}


@dataclass(frozen=True)
class TargetStatus:
    target: str
    state: State
    why: str
    outcome: str | None
    at: datetime | None
    sampled: int
    lag_p95_seconds: float | None
    lag_p95_lower_bound: bool
    out_of_budget_ratio: float | None
    out_of_budget_upper_bound: float | None
    open_divergences: dict[str, int]
    breaching: tuple[str, ...]
    conditions: tuple[str, ...]
    error_reason: str | None

    @property
    def outcome_words(self) -> str:
        return _OUTCOME_WORDS.get(self.outcome or "", self.outcome or "")

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "state": self.state,
            "why": self.why,
            "last_probe_at": self.at.isoformat() if self.at else None,
            "last_outcome": self.outcome,
            "sampled": self.sampled,
            "lag_p95_seconds": self.lag_p95_seconds,
            "lag_p95_is_lower_bound": self.lag_p95_lower_bound,
            "out_of_budget_ratio": self.out_of_budget_ratio,
            "out_of_budget_upper_bound": self.out_of_budget_upper_bound,
            "open_divergences": self.open_divergences,
            "breaching": list(self.breaching),
            "conditions": list(self.conditions),
            "error_reason": self.error_reason,
        }


@dataclass(frozen=True)
class ContractStatus:
    name: str
    description: str | None
    owner: str
    owner_slack: str | None
    technical_owner: str
    source: str
    every_seconds: float
    latency_budget_seconds: float
    drift_budget: float
    hold: int
    targets: list[TargetStatus] = field(default_factory=list)

    @property
    def state(self) -> State:
        order: dict[State, int] = {"red": 3, "amber": 2, "grey": 1, "green": 0}
        return max((t.state for t in self.targets), key=lambda s: order[s], default="grey")

    @property
    def owner_name(self) -> str:
        return self.owner.split(" (", 1)[0]

    @property
    def owner_role(self) -> str:
        return self.owner.split(" (", 1)[1].rstrip(")") if " (" in self.owner else ""

    def to_json(self) -> dict[str, Any]:
        return {
            "contract": self.name,
            "description": self.description,
            "state": self.state,
            "owner": self.owner,
            "owner_slack": self.owner_slack,
            "technical_owner": self.technical_owner,
            "source": self.source,
            "every_seconds": self.every_seconds,
            "budget": {
                "latency_seconds": self.latency_budget_seconds,
                "drift_ratio": self.drift_budget,
                "hold_runs": self.hold,
            },
            "targets": [t.to_json() for t in self.targets],
        }


def collect_status(config: Config, store: Store, now: datetime) -> list[ContractStatus]:
    """The state of every contract in ``config``, worst first, then by name."""
    rows = [_contract_status(config, store, contract, now) for contract in config.contracts.values()]
    order = {"red": 0, "amber": 1, "grey": 2, "green": 3}
    return sorted(rows, key=lambda c: (order[c.state], c.name))


def _contract_status(config: Config, store: Store, contract: Contract, now: datetime) -> ContractStatus:
    owner = config.owners.get(contract.owner)
    technical = config.owners.get(contract.effective_technical_owner)
    latest = {record.verdict.target: record for record in store.latest_records(contract.contract, [t.system for t in contract.targets])}
    open_by_target: dict[str, Counter[str]] = {}
    for div in store.open_divergences(contract.contract):
        open_by_target.setdefault(div.target, Counter())[div.kind.value] += 1
    every = contract.sampling.every.total_seconds()
    targets = []
    for spec in contract.targets:
        record = latest.get(spec.system)
        open_ = dict(sorted(open_by_target.get(spec.system, Counter()).items()))
        if record is None:
            targets.append(TargetStatus(spec.system, "grey", "not probed yet", None, None, 0, None, False, None, None,
                                        open_, (), (), None))
            continue
        h, v = record.health, record.verdict
        state, why = _judge(contract, h.outcome, v.breaching, v.conditions, h.at, now, every)
        targets.append(TargetStatus(
            target=spec.system,
            state=state,
            why=why,
            outcome=h.outcome.value,
            at=h.at,
            sampled=h.sampled,
            lag_p95_seconds=h.lag_p95,
            lag_p95_lower_bound=h.lag_p95_lower_bound,
            out_of_budget_ratio=h.out_of_budget_ratio,
            out_of_budget_upper_bound=h.out_of_budget_interval.high if h.out_of_budget_interval else None,
            open_divergences=open_,
            breaching=tuple(k.value for k in v.breaching),
            conditions=tuple(k.value for k in v.conditions),
            error_reason=h.error_reason,
        ))
    return ContractStatus(
        name=contract.contract,
        description=contract.description,
        owner=owner.name if owner is not None else contract.owner,
        owner_slack=owner.slack if owner is not None else None,
        technical_owner=technical.name if technical is not None else contract.effective_technical_owner,
        source=f"{contract.source.system}.{contract.source.entity}",
        every_seconds=every,
        latency_budget_seconds=contract.budget.latency.total_seconds(),
        drift_budget=contract.budget.drift,
        hold=contract.budget.hold,
        targets=targets,
    )


def _judge(
    contract: Contract,
    outcome: Outcome,
    breaching: tuple[BreachKind, ...],
    conditions: tuple[BreachKind, ...],
    at: datetime,
    now: datetime,
    every: float,
) -> tuple[State, str]:
    if breaching:
        why = "breach: " + ", ".join(k.value.replace("_", " ") for k in breaching)
        pending = [k for k in conditions if k not in breaching]
        if pending:
            why += "; also " + ", ".join(k.value.replace("_", " ") for k in pending) + " this run"
        return "red", why
    if (now - at).total_seconds() > _LATE_INTERVALS * every:
        return "amber", f"no probe for {format_duration((now - at).total_seconds())} (every {format_duration(every)})"
    if conditions:
        names = ", ".join(k.value.replace("_", " ") for k in conditions)
        return "amber", f"{names} this run; not (yet) a breach (hold {contract.budget.hold} runs)"
    if outcome is Outcome.SKIPPED:
        return "green", "nothing to sample"
    return "green", "within budget"
