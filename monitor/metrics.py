"""Prometheus metrics from probe results: one registry per service, bounded labels only.

Labels come from bounded sets: contract, target, system, kind, outcome, reason, status and,
where the contract lists it, field. Never a record key, an email or error text. Budgets are
exported as gauges so PromQL compares against them without generated rules; timestamps are
exported rather than "time since" (except the age of the oldest open divergence, computed at
scrape time from the timestamp kept here).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from monitor.clock import Clock
from monitor.config import Config
from monitor.config.models import Contract
from monitor.errors import ERROR_REASONS
from monitor.health import lag_samples
from monitor.results import (
    BreachKind,
    Health,
    Incident,
    IncidentState,
    Kind,
    OpenDivergence,
    Outcome,
    ProbeResult,
)
from monitor.store.mapping import HealthRecord, RunRecord

__all__ = ["SyncMetrics", "METRIC_NAMES", "lag_buckets"]

# No ``*_created`` series: a third of the exposition, and Prometheus 2 ignores them.
disable_created_metrics()  # type: ignore[no-untyped-call]

# Divergent kinds as exported (in_sync is not a divergence).
_KINDS = tuple(k.value for k in Kind if k is not Kind.IN_SYNC)
_BASE_BUCKETS = (5.0, 15.0, 60.0, 300.0, 900.0, 3600.0, 14400.0, 86400.0)

# Every series name the exporter produces (histograms and counters by their family names).
METRIC_NAMES = frozenset({
    "syncwatch_sync_lag_seconds",
    "syncwatch_latency_budget_seconds",
    "syncwatch_drift_budget_ratio",
    "syncwatch_hold_runs",
    "syncwatch_probe_interval_seconds",
    "syncwatch_drift_ratio",
    "syncwatch_drift_upper_bound_ratio",
    "syncwatch_out_of_budget_ratio",
    "syncwatch_out_of_budget_upper_bound_ratio",
    "syncwatch_lag_p50_seconds",
    "syncwatch_lag_p95_seconds",
    "syncwatch_records_sampled_total",
    "syncwatch_records_out_of_budget_total",
    "syncwatch_divergences_observed_total",
    "syncwatch_field_divergences_total",
    "syncwatch_divergences_open",
    "syncwatch_oldest_open_divergence_age_seconds",
    "syncwatch_breach",
    "syncwatch_incidents_open",
    "syncwatch_probe_runs_total",
    "syncwatch_probe_errors_total",
    "syncwatch_probe_duration_seconds",
    "syncwatch_probe_start_delay_seconds",
    "syncwatch_last_probe_timestamp_seconds",
    "syncwatch_last_success_timestamp_seconds",
    "syncwatch_connector_requests_total",
    "syncwatch_connector_request_duration_seconds",
    "syncwatch_connector_retries_total",
    "syncwatch_connector_rate_limit_waits_total",
    "syncwatch_connector_rate_limit_wait_seconds_total",
    "syncwatch_connector_api_used_total",
    "syncwatch_connector_api_limit_per_second",
    "syncwatch_connector_api_share_budget_ratio",
})


def lag_buckets(contracts: Iterable[Contract]) -> tuple[float, ...]:
    """Histogram buckets around every contract's latency budget (½×, 1×, 2×) on top of a
    fixed ladder, so ``le`` equal to a budget always exists."""
    edges = set(_BASE_BUCKETS)
    for contract in contracts:
        budget = contract.budget.latency.total_seconds()
        edges.update(budget * f for f in (0.5, 1.0, 2.0))
    return tuple(sorted(edges))


class _OpenDivergences:
    """Open divergences by kind and when the oldest began, as of the last run of each contract."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str, str], int] = {}
        self._oldest: dict[tuple[str, str], datetime] = {}

    def update(self, contract: str, targets: Iterable[str], divergences: Iterable[OpenDivergence]) -> None:
        counts = {(contract, t, kind): 0 for t in targets for kind in _KINDS}
        oldest: dict[tuple[str, str], datetime] = {}
        for div in divergences:
            counts[(contract, div.target, div.kind.value)] = counts.get((contract, div.target, div.kind.value), 0) + 1
            since = div.source_updated_at or div.first_seen
            key = (contract, div.target)
            if key not in oldest or since < oldest[key]:
                oldest[key] = since
        with self._lock:
            self._counts = {k: v for k, v in self._counts.items() if k[0] != contract} | counts
            self._oldest = {k: v for k, v in self._oldest.items() if k[0] != contract} | oldest
            for target in targets:
                self._oldest.setdefault((contract, target), self.clock.now())

    def forget(self, keep: set[str]) -> None:
        with self._lock:
            self._counts = {k: v for k, v in self._counts.items() if k[0] in keep}
            self._oldest = {k: v for k, v in self._oldest.items() if k[0] in keep}

    def snapshot(self) -> tuple[dict[tuple[str, str, str], int], dict[tuple[str, str], datetime]]:
        with self._lock:
            return dict(self._counts), dict(self._oldest)


class _OpenCounts(Collector):
    def __init__(self, state: _OpenDivergences) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("syncwatch_divergences_open", "Open divergences by kind, as of the last probe run.",
                                   labels=["contract", "target", "kind"])
        counts, _ = self._state.snapshot()
        for (contract, target, kind), n in sorted(counts.items()):
            family.add_metric([contract, target, kind], n)
        yield family

    def describe(self) -> Iterator[Metric]:
        return iter(())


class _OldestAge(Collector):
    """Computed at every scrape (it grows between runs), so kept out of the cached exposition."""

    def __init__(self, state: _OpenDivergences) -> None:
        self._state = state

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "syncwatch_oldest_open_divergence_age_seconds",
            "Age of the oldest open divergence (from the source change it is behind on); 0 when none is open.",
            labels=["contract", "target"],
        )
        now = self._state.clock.now()
        counts, oldest = self._state.snapshot()
        open_pairs = {(c, t) for (c, t, _), n in counts.items() if n}
        for (contract, target), since in sorted(oldest.items()):
            age = max(0.0, (now - since).total_seconds()) if (contract, target) in open_pairs else 0.0
            family.add_metric([contract, target], age)
        yield family

    def describe(self) -> Iterator[Metric]:
        return iter(())


class _Exposition:
    """The text exposition of the registry, regenerated only when something changed and at
    most every ``max_age`` seconds, plus the live part (ages) rendered at every scrape.

    prometheus_client formats about 20 µs a line; at 50 contracts × 3 targets (~6,000
    lines) a scrape would cost over 100 ms of CPU. Probe results change the metrics once a
    run, so the service keeps the text warm on a background thread and a scrape serves it.
    """

    def __init__(self, registry: CollectorRegistry, live: CollectorRegistry, max_age: float) -> None:
        self._registry = registry
        self._live = live
        self.max_age = max_age
        self._lock = threading.Lock()
        self._version = 0
        self._text = b""
        self._text_version = -1
        self._text_at = 0.0

    def changed(self) -> None:
        with self._lock:
            self._version += 1

    def refresh(self, force: bool = False) -> None:
        """Regenerate the cached text if anything changed (and it is older than ``max_age``)."""
        with self._lock:
            now = time.monotonic()
            stale = self._text_version != self._version and now - self._text_at >= self.max_age
            if force or stale or self._text_version < 0:
                version = self._version
                self._text = generate_latest(self._registry)
                self._text_version, self._text_at = version, now

    def render(self) -> bytes:
        self.refresh()
        with self._lock:
            text = self._text
        return text + generate_latest(self._live)

    def keep_warm(self, stop: threading.Event) -> None:
        """Refresh every ``max_age`` seconds until ``stop`` (run on its own thread)."""
        while not stop.wait(max(0.5, self.max_age)):
            self.refresh()


class SyncMetrics:
    """The exporter's metrics on their own registry, fed by ``observe`` after every probe run."""

    def __init__(self, config: Config, clock: Clock, registry: CollectorRegistry | None = None,
                 cache_seconds: float = 0.0) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.live = CollectorRegistry(auto_describe=True)
        self._clock = clock
        r = self.registry
        ct = ["contract", "target"]
        self.lag = Histogram("syncwatch_sync_lag_seconds", "Measured sync lag of changed records (target behind source).",
                             ct, buckets=lag_buckets(config.contracts.values()), registry=r)
        self.latency_budget = Gauge("syncwatch_latency_budget_seconds", "The contract's latency budget.",
                                    ["contract"], registry=r)
        self.drift_budget = Gauge("syncwatch_drift_budget_ratio",
                                  "Share of sampled records allowed out of the latency budget.", ["contract"], registry=r)
        self.hold = Gauge("syncwatch_hold_runs", "Consecutive probe runs a condition must hold to breach.",
                          ["contract"], registry=r)
        self.interval = Gauge("syncwatch_probe_interval_seconds", "How often the contract is probed (sampling.every).",
                              ["contract"], registry=r)
        self.drift = Gauge("syncwatch_drift_ratio", "Share of sampled records divergent in the last run.", ct, registry=r)
        self.drift_high = Gauge("syncwatch_drift_upper_bound_ratio",
                                "Wilson 95% upper bound of the drift ratio in the last run.", ct, registry=r)
        self.oob = Gauge("syncwatch_out_of_budget_ratio",
                         "Share of sampled records out of the latency budget in the last run.", ct, registry=r)
        self.oob_high = Gauge("syncwatch_out_of_budget_upper_bound_ratio",
                              "Wilson 95% upper bound of the out-of-budget ratio in the last run.", ct, registry=r)
        self.lag_p50 = Gauge("syncwatch_lag_p50_seconds",
                             "Median lag in the last run (open divergences counted at least their age).", ct, registry=r)
        self.lag_p95 = Gauge("syncwatch_lag_p95_seconds",
                             "95th percentile lag in the last run (open divergences counted at least their age).",
                             ct, registry=r)
        self.sampled = Counter("syncwatch_records_sampled", "Records sampled (follow-ups excluded).", ct, registry=r)
        self.out_of_budget = Counter("syncwatch_records_out_of_budget",
                                     "Sampled records found out of the latency budget.", ct, registry=r)
        self.divergences = Counter("syncwatch_divergences_observed", "Divergent sampled records by kind.",
                                   [*ct, "kind"], registry=r)
        self.field_divergences = Counter("syncwatch_field_divergences",
                                         "Sampled records whose field differed, by contract field.",
                                         [*ct, "field"], registry=r)
        self.breach = Gauge("syncwatch_breach", "1 while the condition is a breach (hold and evidence applied).",
                            [*ct, "kind"], registry=r)
        self.incidents_open = Gauge("syncwatch_incidents_open",
                                    "Incidents not yet resolved, by breach kind and state (open or acknowledged).",
                                    [*ct, "kind", "state"], registry=r)
        self.runs = Counter("syncwatch_probe_runs", "Probe runs by outcome.", ["contract", "outcome"], registry=r)
        self.errors = Counter("syncwatch_probe_errors", "Probe runs that could not read a system, by reason.",
                              ["contract", "reason"], registry=r)
        self.duration = Histogram("syncwatch_probe_duration_seconds", "Wall time of a probe run.", ["contract"],
                                  buckets=(0.1, 0.5, 1.0, 5.0, 30.0, 120.0, 600.0),
                                  registry=r)
        self.start_delay = Histogram("syncwatch_probe_start_delay_seconds",
                                     "How late a scheduled probe run started against its planned time.", ["contract"],
                                     buckets=(0.01, 0.1, 0.5, 1.0, 5.0, 30.0), registry=r)
        self.last_probe = Gauge("syncwatch_last_probe_timestamp_seconds", "When the last probe run started.",
                                ["contract"], registry=r)
        self.last_success = Gauge("syncwatch_last_success_timestamp_seconds",
                                  "When the last probe run that could read every system started.", ["contract"], registry=r)
        self.requests = Counter("syncwatch_connector_requests", "Requests sent to a system, by outcome: the HTTP status (e.g. 200, 429), or ok, timeout, "
                                "connection_error, unavailable, query_error, error.",
                                ["system", "status"], registry=r)
        self.request_duration = Histogram("syncwatch_connector_request_duration_seconds",
                                          "Wall time of one request to a system (retries counted apart).", ["system"],
                                          buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0), registry=r)
        self.retries = Counter("syncwatch_connector_retries", "Requests retried.", ["system"], registry=r)
        self.waits = Counter("syncwatch_connector_rate_limit_waits", "Times a connector waited on a rate limit.",
                             ["system"], registry=r)
        self.waited = Counter("syncwatch_connector_rate_limit_wait_seconds", "Time spent waiting on rate limits.",
                              ["system"], registry=r)
        self.api_used = Counter("syncwatch_connector_api_used",
                                "API units spent: cost points where the API is cost-based, else requests.",
                                ["system"], registry=r)
        self.api_limit = Gauge("syncwatch_connector_api_limit_per_second",
                               "The system's declared API rate limit in units per second.", ["system"], registry=r)
        self.api_share = Gauge("syncwatch_connector_api_share_budget_ratio",
                               "Share of the system's API rate limit syncwatch may use.", ["system"], registry=r)
        self.open = _OpenDivergences(clock)
        r.register(_OpenCounts(self.open))
        self.live.register(_OldestAge(self.open))
        self._exposition = _Exposition(r, self.live, cache_seconds)
        self.configure(config)

    def exposition(self) -> bytes:
        """The text to serve on /metrics (see ``_Exposition``)."""
        return self._exposition.render()

    def keep_warm(self, stop: threading.Event) -> None:
        self._exposition.keep_warm(stop)

    def configure(self, config: Config) -> None:
        """Budgets and limits from (re)loaded config; series of removed contracts and targets are dropped."""
        for name in list(_label_values(self.latency_budget, 0)):
            if name not in config.contracts:
                self._forget_contract(name)
        pairs = {(name, t.system) for name, c in config.contracts.items() for t in c.targets}
        for metric in self._per_target():
            for labels in list(_label_sets(metric)):
                if labels[0] in config.contracts and (labels[0], labels[1]) not in pairs:
                    metric.remove(*labels)
        for name, contract in config.contracts.items():
            self.latency_budget.labels(name).set(contract.budget.latency.total_seconds())
            self.drift_budget.labels(name).set(contract.budget.drift)
            self.hold.labels(name).set(contract.budget.hold)
            self.interval.labels(name).set(contract.sampling.every.total_seconds())
            for reason in ERROR_REASONS:  # at 0 from the start: rate() and alerts need the series to exist
                self.errors.labels(name, reason)
        for system, settings in config.systems.items():
            self.api_share.labels(system).set(settings.api_share)
            limit = _limit_per_second(settings)
            if limit is not None:
                self.api_limit.labels(system).set(limit)
        self.open.forget(set(config.contracts))
        self._exposition.changed()

    def restore(self, contract: Contract, latest: Iterable[HealthRecord], runs: Iterable[RunRecord],
                open_divergences: Iterable[OpenDivergence]) -> None:
        """At start-up, from the store: breach states, last ratios and the last probe and success
        times, so a restart neither clears a firing alert nor hides a probe gone stale."""
        c = contract.contract
        for record in latest:
            h, v = record.health, record.verdict
            t = v.target
            for kind in BreachKind:
                self.breach.labels(c, t, kind.value).set(1 if kind in v.breaching else 0)
            if h.outcome not in (Outcome.ERROR, Outcome.SKIPPED):
                self._last_run(c, t, h)
        newest_first = sorted(runs, key=lambda r: r.started_at, reverse=True)
        if newest_first:
            self.last_probe.labels(c).set(newest_first[0].started_at.timestamp())
        success = next((r for r in newest_first if r.outcome is not Outcome.ERROR), None)
        if success is not None:
            self.last_success.labels(c).set(success.started_at.timestamp())
        self.open.update(c, [t.system for t in contract.targets], open_divergences)
        self._exposition.changed()

    def incidents(self, contract: Contract, unresolved: Iterable[Incident]) -> None:
        """Set the contract's open and acknowledged incidents (every combination, 0 included)."""
        counts = {(t.system, kind.value, state.value): 0 for t in contract.targets for kind in BreachKind
                  for state in (IncidentState.OPEN, IncidentState.ACKNOWLEDGED)}
        for incident in unresolved:
            key = (incident.target, incident.kind.value, incident.state.value)
            if key in counts:
                counts[key] += 1
        for (target, kind, state), n in counts.items():
            self.incidents_open.labels(contract.contract, target, kind, state).set(n)
        self._exposition.changed()

    def observe(self, result: ProbeResult, open_divergences: Iterable[OpenDivergence] | None = None) -> None:
        """Fold one probe run into the metrics; ``open_divergences`` as stored after the run."""
        c = result.contract
        started = result.started_at.timestamp()
        self.runs.labels(c, result.outcome.value).inc()
        self.duration.labels(c).observe(max(0.0, (result.finished_at - result.started_at).total_seconds()))
        self.last_probe.labels(c).set(started)
        if result.outcome is Outcome.ERROR:
            reasons = {result.error_reason} if result.error else set()
            reasons |= {t.health.error_reason for t in result.targets if t.health.error}
            for reason in sorted(r or "error" for r in reasons):
                self.errors.labels(c, reason).inc()
        else:
            self.last_success.labels(c).set(started)
        for target in result.targets:
            t, h, v = target.target, target.health, target.verdict
            for kind in BreachKind:
                self.breach.labels(c, t, kind.value).set(1 if kind in v.breaching else 0)
            if h.outcome in (Outcome.ERROR, Outcome.SKIPPED):
                continue
            self.sampled.labels(c, t).inc(h.sampled)
            self.out_of_budget.labels(c, t).inc(h.out_of_budget)
            for kind_name in _KINDS:
                if h.by_kind.get(kind_name):  # a series per kind seen, not five per target from the start
                    self.divergences.labels(c, t, kind_name).inc(h.by_kind[kind_name])
            self._last_run(c, t, h)
            resolved = [r for r in result.changes.resolved if r.target == t]
            for lag in lag_samples(target.observations, resolved):
                self.lag.labels(c, t).observe(lag)
            fields: dict[str, int] = {}
            for obs in target.observations:
                for diff in obs.diffs:
                    fields[diff.field] = fields.get(diff.field, 0) + 1
            for name, n in fields.items():
                self.field_divergences.labels(c, t, name).inc(n)
        for usage in result.usage:
            for status, n in usage.by_status.items():
                self.requests.labels(usage.system, status).inc(n)
            for seconds in usage.durations:
                self.request_duration.labels(usage.system).observe(seconds)
            self.retries.labels(usage.system).inc(usage.retries)
            self.waits.labels(usage.system).inc(usage.rate_limit_waits)
            self.waited.labels(usage.system).inc(usage.waited_seconds)
            self.api_used.labels(usage.system).inc(usage.cost_points or usage.requests)
        if open_divergences is not None:
            self.open.update(c, [t.target for t in result.targets], open_divergences)
        self._exposition.changed()

    def _last_run(self, c: str, t: str, h: Health) -> None:
        _set(self.drift, (c, t), h.drift_ratio)
        _set(self.drift_high, (c, t), h.drift_interval.high if h.drift_interval else None)
        _set(self.oob, (c, t), h.out_of_budget_ratio)
        _set(self.oob_high, (c, t), h.out_of_budget_interval.high if h.out_of_budget_interval else None)
        _set(self.lag_p50, (c, t), h.lag_p50)
        _set(self.lag_p95, (c, t), h.lag_p95)

    def _per_target(self) -> tuple[Gauge | Counter | Histogram, ...]:
        return (self.lag, self.drift, self.drift_high, self.oob, self.oob_high, self.lag_p50, self.lag_p95,
                self.sampled, self.out_of_budget, self.divergences, self.field_divergences, self.breach,
                self.incidents_open)

    def _forget_contract(self, name: str) -> None:
        for gauge in (self.latency_budget, self.drift_budget, self.hold, self.interval, self.last_probe,
                      self.last_success):
            _remove(gauge, (name,))
        for metric in (*self._per_target(), self.runs, self.errors, self.duration, self.start_delay):
            for labels in list(_label_sets(metric)):
                if labels[0] == name:
                    metric.remove(*labels)


def _limit_per_second(settings: object) -> float | None:
    rate_limit = getattr(settings, "rate_limit", None)
    if rate_limit is not None:
        return float(rate_limit.requests) / float(rate_limit.per.total_seconds())
    restore = getattr(settings, "restore_rate", None)
    return float(restore) if restore is not None else None


def _set(gauge: Gauge, labels: tuple[str, ...], value: float | None) -> None:
    if value is None:
        _remove(gauge, labels)
    else:
        gauge.labels(*labels).set(value)


def _remove(metric: Gauge | Counter | Histogram, labels: tuple[str, ...]) -> None:
    if labels in set(_label_sets(metric)):
        metric.remove(*labels)


def _label_sets(metric: Gauge | Counter | Histogram) -> Iterator[tuple[str, ...]]:
    """The label values of the metric's children, read through its public ``collect``."""
    seen: set[tuple[str, ...]] = set()
    for family in metric.collect():
        for sample in family.samples:
            labels = tuple(v for k, v in sample.labels.items() if k not in ("le", "quantile"))
            if labels and labels not in seen:
                seen.add(labels)
                yield labels


def _label_values(metric: Gauge, index: int) -> Iterator[str]:
    for labels in _label_sets(metric):
        yield labels[index]
