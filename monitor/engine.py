"""One probe run (DESIGN.md section 3): sample keys, read source and targets, compare, classify.

The engine measures; it neither renders nor stores. It is given the contract,
open connectors, what was remembered from earlier runs (``PriorState``) and a
clock, and returns a ``ProbeResult``. A connector failure becomes an ``error``
outcome with its reason, never drift and never an exception.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, MutableMapping
from dataclasses import dataclass
from datetime import datetime

from monitor.classify import FieldComparer, TargetSpec, classify, tracked_source_time
from monitor.clock import Clock
from monitor.config.models import Contract
from monitor.errors import ConnectorError
from monitor.health import build_health, build_verdict
from monitor.keys import KeyProtector, KeyRulesCompiled
from monitor.results import (
    DivergenceChanges,
    Health,
    Kind,
    Observation,
    OpenDivergence,
    Outcome,
    PriorState,
    ProbeResult,
    Resolution,
    Stream,
    TargetResult,
    Verdict,
)
from monitor.sampling import draw_sample
from probes.base import Connector, EntityQuery, Record, SystemConfigBase

__all__ = ["ProbeEngine", "run_probe"]


@dataclass
class _SourceRow:
    raw_key: str
    stored: str
    display: str
    stream: Stream
    record: Record


class ProbeEngine:
    """A contract compiled once (comparators, key rules), run many times."""

    def __init__(self, contract: Contract, systems: Mapping[str, SystemConfigBase], key_secret: bytes) -> None:
        self.contract = contract
        self.comparer = FieldComparer(contract)
        self.key_rules = KeyRulesCompiled.from_rules(contract.keys)
        self.protector = KeyProtector(contract.keys.personal, key_secret)
        src = contract.source
        self.source_query = EntityQuery(
            src.entity, src.key, tuple(src.fields.get(f, f) for f in contract.fields), src.updated_at
        )
        self.targets = [TargetSpec.build(t, contract, systems[t.system]) for t in contract.targets]
        # Personal keys are stored hashed; a long-running process remembers the clear
        # key of its own open divergences (in memory only) so it can follow them up.
        self.clear_keys: MutableMapping[str, str] = {}

    def run(
        self, connectors: Mapping[str, Connector], prior: PriorState, clock: Clock, rng: random.Random
    ) -> ProbeResult:
        contract = self.contract
        started = clock.now()
        for connector in connectors.values():
            connector.reset_usage()
        source = connectors[contract.source.system]
        try:
            sample = draw_sample(
                contract,
                source,
                self.source_query,
                started,
                rng,
                (d for d in prior.open.values()),
                self.clear_keys if contract.keys.personal else None,
            )
            records = source.read(self.source_query, list(sample.keys))
        except ConnectorError as exc:
            return self._failed(started, clock.now(), prior, connectors, exc)
        rows = self._source_rows(sample.keys, records)
        changes = DivergenceChanges()
        target_results = []
        for spec in self.targets:
            target_results.append(self._probe_target(spec, connectors[spec.system], rows, prior, started, changes))
        finished = clock.now()
        outcomes = {tr.health.outcome for tr in target_results}
        if Outcome.ERROR in outcomes:
            outcome = Outcome.ERROR
        elif Outcome.DIVERGENT in outcomes:
            outcome = Outcome.DIVERGENT
        elif outcomes == {Outcome.SKIPPED}:
            outcome = Outcome.SKIPPED
        else:
            outcome = Outcome.IN_SYNC
        by_stream: dict[str, int] = defaultdict(int)
        for stream in sample.keys.values():
            by_stream[stream.value] += 1
        return ProbeResult(
            contract=contract.contract,
            started_at=started,
            finished_at=finished,
            outcome=outcome,
            sampled_by_stream=dict(by_stream),
            targets=target_results,
            changes=changes,
            usage=[c.usage() for c in connectors.values()],
        )

    # -- steps ---------------------------------------------------------------------------------

    def _source_rows(self, sampled: Mapping[str, Stream], records: list[Record]) -> list[_SourceRow]:
        by_key: dict[str, list[Record]] = defaultdict(list)
        for record in records:
            by_key[self.key_rules.normalise(record.key)].append(record)
        rows = []
        for raw, stream in sampled.items():
            norm = self.key_rules.normalise(raw)
            found = by_key.get(norm)
            # A key gone from the source since it was sampled (or a watch key that
            # does not exist) has nothing to compare; two source records for one key
            # is the source's own problem, and comparing either would be a guess.
            if not found or len(found) > 1:
                continue
            stored = self.protector.stored(norm)
            if self.protector.personal:
                self.clear_keys[stored] = raw
            rows.append(_SourceRow(raw, stored, self.protector.display(norm), stream, found[0]))
        return rows

    def _probe_target(
        self,
        spec: TargetSpec,
        connector: Connector,
        rows: list[_SourceRow],
        prior: PriorState,
        now: datetime,
        changes: DivergenceChanges,
    ) -> TargetResult:
        contract = self.contract
        target_keys = {row.stored: spec.key_mapper(row.raw_key) for row in rows}
        wanted = [k for k in dict.fromkeys(target_keys.values()) if k is not None]
        try:
            records = connector.read(spec.query, wanted)
        except ConnectorError as exc:
            health = build_health(contract, spec.system, now, [], [], error=exc)
            verdict = self._verdict(spec.system, health, prior)
            return TargetResult(spec.system, [], health, verdict)
        by_key: dict[str, list[Record]] = defaultdict(list)
        for record in records:
            by_key[self.key_rules.normalise(record.key)].append(record)
        observations: list[Observation] = []
        resolutions: list[Resolution] = []
        latency = contract.budget.latency.total_seconds()
        recent_since = now - contract.recent_window
        for row in rows:
            tkey = target_keys[row.stored]
            found = by_key.get(self.key_rules.normalise(tkey), []) if tkey is not None else None
            open_div = prior.open.get((spec.system, row.stored))
            obs = classify(
                row.stored, row.display, row.stream, row.record, found, spec, self.comparer,
                now, latency, recent_since, open_div,
            )
            observations.append(obs)
            self._follow(obs, open_div, now, changes, resolutions)
        health = build_health(contract, spec.system, now, observations, resolutions)
        verdict = self._verdict(spec.system, health, prior)
        return TargetResult(spec.system, observations, health, verdict)

    def _follow(
        self,
        obs: Observation,
        open_div: OpenDivergence | None,
        now: datetime,
        changes: DivergenceChanges,
        resolutions: list[Resolution],
    ) -> None:
        """Open, update or resolve the divergence of this key in this target."""
        if obs.divergent:
            fields = tuple(d.field for d in obs.diffs)
            tracked = tracked_source_time(obs.source_updated_at, obs.target_updated_at, open_div)
            if open_div is None:
                changes.opened.append(
                    OpenDivergence(obs.target, obs.key, obs.key_display, obs.kind, now, now, tracked, fields)
                )
            else:
                changes.updated.append(
                    OpenDivergence(
                        obs.target, obs.key, obs.key_display, obs.kind, open_div.first_seen, now, tracked, fields
                    )
                )
        elif obs.kind is Kind.IN_SYNC and open_div is not None:
            if open_div.source_updated_at is not None:
                lag = (now - open_div.source_updated_at).total_seconds()
                lower_bound = False
            else:
                lag = (now - open_div.first_seen).total_seconds()
                lower_bound = True
            resolution = Resolution(
                obs.target, obs.key, obs.key_display, open_div.kind, open_div.first_seen, now,
                open_div.source_updated_at, max(0.0, lag), (now - open_div.last_seen).total_seconds(), lower_bound,
            )
            resolutions.append(resolution)
            changes.resolved.append(resolution)
        # unreadable: the record cannot be judged; an open divergence stays open.

    def _verdict(self, target: str, health: Health, prior: PriorState) -> Verdict:
        return build_verdict(
            self.contract, target, health, prior.streaks.get(target, {}), prior.evidence.get(target, (0, 0))
        )

    def _failed(
        self,
        started: datetime,
        finished: datetime,
        prior: PriorState,
        connectors: Mapping[str, Connector],
        exc: ConnectorError,
    ) -> ProbeResult:
        targets = []
        for spec in self.targets:
            health = build_health(self.contract, spec.system, started, [], [], error=exc)
            verdict = self._verdict(spec.system, health, prior)
            targets.append(TargetResult(spec.system, [], health, verdict))
        return ProbeResult(
            contract=self.contract.contract,
            started_at=started,
            finished_at=finished,
            outcome=Outcome.ERROR,
            sampled_by_stream={},
            targets=targets,
            changes=DivergenceChanges(),
            usage=[c.usage() for c in connectors.values()],
            error=str(exc),
            error_reason=exc.reason,
        )


def run_probe(
    contract: Contract,
    systems: Mapping[str, SystemConfigBase],
    connectors: Mapping[str, Connector],
    prior: PriorState,
    clock: Clock,
    rng: random.Random,
    key_secret: bytes,
) -> ProbeResult:
    """One-shot convenience: compile the contract and run it once."""
    return ProbeEngine(contract, systems, key_secret).run(connectors, prior, clock, rng)

