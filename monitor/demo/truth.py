"""Ground truth of the demo world: every propagated change with its true lag, and every fault.

The world records here what really happened; the scorecard compares the
monitor's findings with it. ``Flow`` tracks, per key, the source changes a
target has not reflected yet, which gives the true out-of-budget share of a
contract at any moment without sampling.
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from monitor.keys import mask_email

__all__ = ["Change", "FaultRecord", "Flow", "GroundTruth"]


@dataclass
class Change:
    flow: str
    key: str
    changed_at: datetime
    applied_at: datetime | None = None  # None: lost for good (or still in flight at the end)

    @property
    def lag_seconds(self) -> float | None:
        return None if self.applied_at is None else (self.applied_at - self.changed_at).total_seconds()


@dataclass
class FaultRecord:
    name: str
    kind: str  # delay, drop, rogue_writer, mapping_bug, duplicates, schema_change, outage, rate_storm
    contract: str
    target: str
    start: datetime
    end: datetime
    description: str
    breach_kind: str  # the breach the monitor should raise: out_of_budget, conflict, schema_change, probe_failing
    keys: list[str] = field(default_factory=list)
    system: str | None = None  # the system a protocol fault (outage, rate storm) hits


class Flow:
    """One sync flow (source → target) of one contract: pending changes per key."""

    def __init__(self, name: str, contract: str, target: str) -> None:
        self.name = name
        self.contract = contract
        self.target = target
        self.changes: list[Change] = []
        self._pending: dict[str, deque[Change]] = {}
        self._corrupt: dict[str, datetime] = {}  # key -> when another writer overwrote it

    def changed(self, key: str, at: datetime) -> Change:
        change = Change(self.name, key, at)
        self.changes.append(change)
        self._pending.setdefault(key, deque()).append(change)
        return change

    def applied(self, change: Change, at: datetime) -> None:
        """The target now reflects ``change`` and every earlier change of its key."""
        queue = self._pending.get(change.key)
        while queue and queue[0].changed_at <= change.changed_at:
            done = queue.popleft()
            if done.applied_at is None:
                done.applied_at = at
        if queue is not None and not queue:
            del self._pending[change.key]
        self._corrupt.pop(change.key, None)

    def corrupted(self, key: str, at: datetime) -> None:
        self._corrupt.setdefault(key, at)

    def repaired(self, key: str) -> None:
        self._corrupt.pop(key, None)

    def behind_since(self, key: str) -> datetime | None:
        """Since when the target has not matched the source for this key (None: it matches)."""
        times = []
        if self._pending.get(key):
            times.append(self._pending[key][0].changed_at)
        if key in self._corrupt:
            times.append(self._corrupt[key])
        return min(times) if times else None

    def out_of_budget(self, now: datetime, latency_seconds: float) -> int:
        """How many keys are out of budget right now: behind by more than the latency
        budget, or made wrong by a writer other than the sync (never "in flight")."""
        count = len(self._corrupt)
        for key, queue in self._pending.items():
            if key not in self._corrupt and queue and (now - queue[0].changed_at).total_seconds() > latency_seconds:
                count += 1
        return count


class GroundTruth:
    def __init__(self) -> None:
        self.flows: dict[str, Flow] = {}
        self.faults: list[FaultRecord] = []

    def flow(self, name: str, contract: str, target: str) -> Flow:
        if name not in self.flows:
            self.flows[name] = Flow(name, contract, target)
        return self.flows[name]

    def to_json(self) -> dict[str, Any]:
        return {
            "faults": [_jsonable(asdict(f)) for f in self.faults],
            "changes": [
                {
                    "flow": c.flow,
                    "contract": self.flows[c.flow].contract,
                    "target": self.flows[c.flow].target,
                    # Demo customers are synthetic, but emails are shown masked everywhere all the same.
                    "key": mask_email(c.key) if "@" in c.key else c.key,
                    "changed_at": c.changed_at.isoformat(),
                    "applied_at": c.applied_at.isoformat() if c.applied_at else None,
                    "lag_seconds": c.lag_seconds,
                }
                for flow in self.flows.values()
                for c in flow.changes
            ],
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value
