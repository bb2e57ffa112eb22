"""Wire a probe run together: config → connectors → engine → store.

The one place that opens connectors for a contract, loads what the store
remembers, runs the engine and records the result in one transaction. The CLI
uses it now; the scheduler will call the same ``Prober.probe`` per job.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import datetime, timedelta

from monitor.clock import Clock
from monitor.config import Config
from monitor.engine import ProbeEngine
from monitor.errors import ConfigError, ConfigProblem
from monitor.incidents import track_incidents
from monitor.results import ProbeResult
from monitor.store import Store
from probes.base import Connector, ConnectorContext
from probes.registry import open_connector

__all__ = ["Prober"]

_PRUNE_EVERY = timedelta(hours=1)


class Prober:
    def __init__(
        self, config: Config, store: Store, clock: Clock, ctx: ConnectorContext, rng: random.Random | None = None
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.ctx = ctx
        self.rng = rng or random.Random()
        self._connectors: dict[str, Connector] = {}
        self._engines: dict[str, ProbeEngine] = {}
        self._pruned_at: datetime | None = None

    def probe(self, contract_name: str) -> ProbeResult:
        """Run one contract now, record the result and the incidents it opens or closes, prune old
        observations; return the result (its ``incident_events`` say what happened to incidents)."""
        engine = self._engine(contract_name)
        contract = engine.contract
        systems = [contract.source.system, *(t.system for t in contract.targets)]
        connectors = {name: self._connector(name) for name in systems}
        prior = self.store.prior_state(contract_name, [t.system for t in contract.targets])
        result = engine.run(connectors, prior, self.clock, self.rng)
        policy = self.config.settings.alerting
        known = self.store.incidents_to_track(contract_name, result.started_at - policy.cooldown)
        incidents, result.incident_events = track_incidents(known, result, policy, result.started_at)
        self.store.record(result, incidents)  # the run and its incidents in one transaction
        now = self.clock.now()
        # Pruning scans the observations table: once an hour is plenty for a retention in days.
        if self._pruned_at is None or now - self._pruned_at >= _PRUNE_EVERY:
            self.store.prune(now, self.config.settings.storage.retention.observations)
            self._pruned_at = now
        return result

    def probe_all(self, names: Iterable[str] | None = None) -> list[ProbeResult]:
        return [self.probe(name) for name in (names or self.config.contracts)]

    def close(self) -> None:
        for connector in self._connectors.values():
            connector.close()
        self._connectors.clear()

    def _engine(self, name: str) -> ProbeEngine:
        if name not in self._engines:
            contract = self.config.contracts.get(name)
            if contract is None:
                known = ", ".join(sorted(self.config.contracts)) or "(none)"
                raise ConfigError([ConfigProblem(str(self.config.path), None, "contract", f"{name!r} is not a contract; known: {known}")])
            self._engines[name] = ProbeEngine(contract, self.config.systems, self.store.key_secret())
        return self._engines[name]

    def _connector(self, system: str) -> Connector:
        if system not in self._connectors:
            self._connectors[system] = open_connector(system, self.config.systems[system], self.ctx)
        return self._connectors[system]
