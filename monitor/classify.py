"""Judge one key in one target: in sync, or divergent with a kind, its age and budget.

This is DESIGN.md section 3 for a single record pair. It is the hot path of a
probe run, so contracts are compiled once (``FieldComparer``, ``TargetSpec``)
and this module does no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from monitor.compare import (
    EQUAL,
    Difference,
    UnreadableValue,
    build_comparator,
    field_risk_applies,
)
from monitor.config.models import Contract, TargetEndpoint
from monitor.keys import KeyMapper
from monitor.results import FieldDiff, Kind, Observation, OpenDivergence, Stream
from probes.base import EntityQuery, Record, SystemConfigBase

__all__ = ["FieldComparer", "TargetSpec", "classify", "tracked_source_time"]


@dataclass(frozen=True)
class _Field:
    name: str
    source_name: str
    compare: Any  # compiled comparator: (source, target) -> EQUAL | direction
    spec: Any
    local_writes: bool


class FieldComparer:
    """The contract's fields with their comparators, compiled once per contract."""

    def __init__(self, contract: Contract) -> None:
        src = contract.source.fields
        self.fields = [
            _Field(name, src.get(name, name), build_comparator(spec), spec, spec.local_writes == "allowed")
            for name, spec in contract.fields.items()
        ]
        self._plan = tuple((f.name, f.source_name, f.compare, f.spec) for f in self.fields)
        self._specs = {f.name: f.spec for f in self.fields}

    def compare(
        self, source: Record, target: Record, target_names: tuple[str, ...]
    ) -> tuple[list[FieldDiff], list[str]]:
        """Differing fields, and problems (``field: why``) that make the pair unreadable."""
        diffs: list[FieldDiff] = []
        problems: list[str] = []
        sget, tget = source.fields.get, target.fields.get
        # The hot loop of a probe run: plain tuples, no attribute lookups per field.
        for (name, source_name, compare, _spec), target_name in zip(self._plan, target_names):
            try:
                result = compare(sget(source_name), tget(target_name))
            except UnreadableValue as exc:
                problems.append(f"{name}: {exc}")
                continue
            if result is not EQUAL:
                diffs.append(self._diff(name, result))
        return diffs, problems

    def _diff(self, name: str, result: Difference) -> FieldDiff:
        spec = self._specs[name]
        return FieldDiff(
            name, spec.risk, None if result == "differs" else result, field_risk_applies(spec, result), spec.critical
        )

    def local_writes_allowed(self, diffs: list[FieldDiff]) -> bool:
        allowed = {f.name for f in self.fields if f.local_writes}
        return bool(diffs) and all(d.field in allowed for d in diffs)


@dataclass(frozen=True)
class TargetSpec:
    system: str
    query: EntityQuery
    field_names: tuple[str, ...]  # target field name per contract field, in contract order
    key_mapper: KeyMapper
    clock_skew: float  # seconds

    @classmethod
    def build(cls, target: TargetEndpoint, contract: Contract, system: SystemConfigBase) -> TargetSpec:
        names = tuple(target.fields.get(f, f) for f in contract.fields)
        return cls(
            system=target.system,
            query=EntityQuery(target.entity, target.key, names, target.updated_at),
            field_names=names,
            key_mapper=KeyMapper(target.key_map),
            clock_skew=system.clock_skew.total_seconds(),
        )


def tracked_source_time(
    source_updated_at: datetime | None, target_updated_at: datetime | None, open_div: OpenDivergence | None
) -> datetime | None:
    """The source change the target is behind on.

    We keep the oldest unreflected change we know of: a target that keeps missing
    updates while the source keeps changing has been behind since the first of
    them. If the target wrote after that change, it caught up with it and is now
    behind a newer one: move on to the current source time.
    """
    if open_div is None or open_div.source_updated_at is None:
        return source_updated_at
    if target_updated_at is not None and target_updated_at > open_div.source_updated_at:
        return source_updated_at
    return open_div.source_updated_at


def _problems(record: Record, side: str) -> list[str]:
    # Connectors report problems only for the fields they were asked for.
    return [f"{side}.{name}: {why}" for name, why in record.problems.items()] if record.problems else []


def classify(
    key: str,
    display: str,
    stream: Stream,
    source: Record,
    found: list[Record] | None,
    spec: TargetSpec,
    comparer: FieldComparer,
    now: datetime,
    latency: float,
    recent_since: datetime,
    open_div: OpenDivergence | None,
) -> Observation:
    """``found`` is the target's records for this key; None when the key has no target form."""
    us = source.updated_at
    if found is None:
        return Observation(spec.system, key, display, stream, Kind.UNREADABLE, now, source_updated_at=us,
                           problems=("key: does not fit the target's key_map",))
    problems = _problems(source, "source")
    if problems:
        return Observation(spec.system, key, display, stream, Kind.UNREADABLE, now, source_updated_at=us,
                           problems=tuple(problems))
    if len(found) != 1:
        kind = Kind.MISSING if not found else Kind.DUPLICATE
        tracked = tracked_source_time(us, None, open_div)
        age, lower = _age(now, tracked, open_div)
        return Observation(spec.system, key, display, stream, kind, now, source_updated_at=us,
                           age_seconds=age, age_is_lower_bound=lower, out_of_budget=age > latency)
    target = found[0]
    ut = target.updated_at
    problems = _problems(target, "target")
    diffs, value_problems = comparer.compare(source, target, spec.field_names)
    problems += value_problems
    if problems:
        return Observation(spec.system, key, display, stream, Kind.UNREADABLE, now, source_updated_at=us,
                           target_updated_at=ut, problems=tuple(problems))
    if not diffs:
        lag = None
        if us is not None and ut is not None and us >= recent_since:
            delta = (ut - us).total_seconds()
            # A target written before the source's last change, yet equal, means that
            # change did not touch the contract's fields: no lag to measure.
            if delta >= -spec.clock_skew:
                lag = max(0.0, delta)
        return Observation(spec.system, key, display, stream, Kind.IN_SYNC, now, source_updated_at=us,
                           target_updated_at=ut, lag_seconds=lag)
    kind = Kind.STALE
    if us is not None and ut is not None and (ut - us).total_seconds() > max(latency, spec.clock_skew):
        # Written, to another value, more than a latency budget after the source's last change.
        # A write sooner than that may be the sync landing an *earlier* change late (overtaken
        # by a newer one, or the newer one lost): the target is behind, so stale. Later than
        # that, no sync within budget explains it: someone else wrote the field. A conflict.
        if not comparer.local_writes_allowed(diffs):
            kind = Kind.CONFLICT
    tracked = us if kind is Kind.CONFLICT else tracked_source_time(us, ut, open_div)
    age, lower = _age(now, tracked, open_div)
    return Observation(spec.system, key, display, stream, kind, now, diffs=tuple(diffs), source_updated_at=us,
                       target_updated_at=ut, age_seconds=age, age_is_lower_bound=lower,
                       out_of_budget=age > latency)


def _age(now: datetime, tracked: datetime | None, open_div: OpenDivergence | None) -> tuple[float, bool]:
    """Seconds the target has been behind; without a source time, since first seen (a lower bound)."""
    if tracked is not None:
        return max(0.0, (now - tracked).total_seconds()), False
    first = open_div.first_seen if open_div is not None else now
    return max(0.0, (now - first).total_seconds()), True
