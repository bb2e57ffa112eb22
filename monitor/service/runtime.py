"""``syncwatch run``: one APScheduler job per contract, config reloads, metrics, a clean stop.

Jobs are rebuilt from the config at every start (no pickled job store): the contracts are
the source of truth. Each contract runs every ``sampling.every`` with jitter, ``coalesce``
and ``max_instances=1`` (a slow probe never overlaps itself; missed runs collapse into one)
and a misfire grace of half its interval. First runs are staggered a few seconds apart so a
restart does not fire every contract at once.

Contracts reload on SIGHUP and when their files change (checked every ``service.watch``);
an invalid new config is logged and the running one kept. Stopping waits for running probes
to finish: each run is recorded in one transaction, so there is never a half-written run.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from apscheduler.events import EVENT_JOB_ERROR, EVENT_JOB_EXECUTED, JobExecutionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.clock import Clock
from monitor.config import Config, load_config
from monitor.config.models import Contract
from monitor.errors import ConfigError, StoreError
from monitor.metrics import SyncMetrics
from monitor.results import IncidentState, ProbeResult
from monitor.runner import Prober
from monitor.service.app import store_problem
from monitor.store import Store
from probes.base import ConnectorContext

if TYPE_CHECKING:
    from monitor.alerting.notifier import Notifier

__all__ = ["ProbeService", "config_files"]

log = logging.getLogger(__name__)

_STAGGER = timedelta(seconds=2)
_MAX_JITTER = 30.0
_WATCH_JOB = "syncwatch:watch-config"
_NOTIFY_JOB = "syncwatch:notify"
_REPORT_JOB = "syncwatch:weekly-report"


def config_files(config: Config) -> list[Path]:
    """Every file the config was loaded from: syncwatch.yaml, the owners file, each contract."""
    files = [config.path, config.base_dir / config.settings.owners]
    files += [config.base_dir / name for name in sorted(set(config.contract_files.values()))]
    return files


def _fingerprint(config: Config) -> tuple[Any, ...]:
    """What changes when a config file is edited, added or removed."""
    contracts_dir = config.base_dir / config.settings.contracts
    listing = sorted(p.name for p in contracts_dir.glob("*.y*ml")) if contracts_dir.is_dir() else []
    stats: list[tuple[str, int | None, int | None]] = []
    for path in config_files(config):
        try:
            st = path.stat()
            stats.append((str(path), st.st_mtime_ns, st.st_size))
        except OSError:
            stats.append((str(path), None, None))
    return tuple(listing), tuple(stats)


class _Lease:
    """A prober shared by running jobs; closed once retired and no job holds it."""

    def __init__(self, prober: Prober) -> None:
        self.prober = prober
        self.holders = 0
        self.retired = False


class ProbeService:
    """The scheduler, the prober and the metrics of a running ``syncwatch run``."""

    def __init__(
        self,
        config: Config,
        store: Store,
        clock: Clock,
        ctx: ConnectorContext,
        *,
        workers: int = 8,
        watch_every: timedelta = timedelta(seconds=10),
        loader: Callable[[Path], Config] = load_config,
        metrics_cache: float = 0.0,
        notifier: Notifier | None = None,
        notify_every: timedelta = timedelta(seconds=30),
        publish: Callable[[Config, datetime], object] | None = None,
    ) -> None:
        self._config = config
        self._notifier = notifier
        self._notify_every = notify_every
        self._publish = publish
        self.on_notices: Callable[[], None] | None = None  # wakes the sender after a plan
        self._store = store
        self._clock = clock
        self._ctx = ctx
        self._loader = loader
        self._watch_every = watch_every
        self._lock = threading.Lock()
        self._metrics_cache = metrics_cache
        self._lease = _Lease(Prober(config, store, clock, ctx))
        self._fingerprint = _fingerprint(config)
        # metrics_cache > 0: /metrics serves text regenerated at most that often, kept warm on a thread.
        self._metrics = SyncMetrics(config, clock, cache_seconds=metrics_cache)
        self._warm_stop = threading.Event()
        self.last_reload_error: str | None = None
        self._started: dict[str, datetime] = {}
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"coalesce": True, "max_instances": 1},
        )
        self._scheduler.add_listener(self._job_done, EVENT_JOB_EXECUTED | EVENT_JOB_ERROR)
        self.on_result: Callable[[ProbeResult], None] | None = None

    # -- what the HTTP endpoints read ---------------------------------------------------------

    @property
    def config(self) -> Config:
        return self._config

    @property
    def store(self) -> Store:
        return self._store

    @property
    def metrics(self) -> SyncMetrics:
        return self._metrics

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def notifier(self) -> Notifier | None:
        return self._notifier

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def jobs(self) -> list[Any]:
        """The scheduled APScheduler jobs (probe jobs are ``probe:<contract>``)."""
        return list(self._scheduler.get_jobs())

    def readiness(self) -> dict[str, str | None]:
        checks: dict[str, str | None] = {
            "config": None if self._config.contracts else "no contracts loaded",
            "scheduler": None if self.running else "the scheduler is not running",
        }
        checks["store"] = store_problem(self._store)
        return checks

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self, paused: bool = False) -> None:
        """Schedule every contract and start; ``paused`` schedules without running (tests)."""
        for contract in self._config.contracts.values():
            name = contract.contract
            try:
                self._metrics.restore(contract, self._store.latest_records(name, [t.system for t in contract.targets]), self._store.runs(name, limit=50),
                                      self._store.open_divergences(name))
                self._incident_metrics(name)
            except StoreError as exc:
                log.error("%s: the last state could not be read from the store: %s", name, exc)
        now = self._clock.now()
        for i, contract in enumerate(self._config.contracts.values()):
            self._schedule(contract, now + _STAGGER * i)
        self._scheduler.add_job(
            self.check_files, IntervalTrigger(seconds=self._watch_every.total_seconds(), timezone=UTC),
            id=_WATCH_JOB, replace_existing=True, misfire_grace_time=None,
        )
        if self._notifier is not None:
            # Escalations, reminders and the ends of maintenance windows fall due between runs.
            self._scheduler.add_job(
                self.notify, IntervalTrigger(seconds=self._notify_every.total_seconds(), timezone=UTC),
                id=_NOTIFY_JOB, replace_existing=True, misfire_grace_time=None, next_run_time=self._clock.now(),
            )
        if self._publish is not None:
            # The weekly summary: checked every hour (and soon after start), published once a week.
            self._scheduler.add_job(
                self.publish_reports, IntervalTrigger(hours=1, timezone=UTC), id=_REPORT_JOB, replace_existing=True,
                misfire_grace_time=None, next_run_time=self._clock.now() + timedelta(seconds=30),
            )
        self._scheduler.start(paused=paused)
        if self._metrics_cache > 0:
            threading.Thread(target=self._metrics.keep_warm, args=(self._warm_stop,), name="syncwatch-metrics",
                             daemon=True).start()
        log.info("scheduled %d contracts", len(self._config.contracts))

    def stop(self) -> None:
        """Stop scheduling and wait for running probes to finish; close connectors."""
        self._warm_stop.set()
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        with self._lock:
            self._lease.retired = True
            self._close_if_idle(self._lease)

    def request_reload(self, reason: str) -> None:
        """Reload soon, on the scheduler's thread (safe to call from a signal handler)."""
        self._scheduler.add_job(self.reload, args=[reason], id="syncwatch:reload", replace_existing=True)

    def reload(self, reason: str) -> bool:
        """Load the config again; on success swap it in and reschedule, else keep the running one."""
        try:
            new = self._loader(self._config.path)
        except ConfigError as exc:
            self.last_reload_error = str(exc)
            log.error("config reload (%s) failed; still running the previous config:\n%s", reason, exc)
            self._fingerprint = _fingerprint(self._config)  # do not retry until the files change again
            return False
        if new.storage_url != self._config.storage_url:
            log.warning("storage changed in the config; it takes effect at the next start")
        with self._lock:
            old_config, old = self._config, self._lease
            self._config = new
            self._lease = _Lease(Prober(new, self._store, self._clock, self._ctx))
            old.retired = True
            self._close_if_idle(old)
        self._metrics.configure(new)
        if self._notifier is not None:
            self._notifier.configure(new)
        self._reschedule(old_config, new)
        self._fingerprint = _fingerprint(new)
        self.last_reload_error = None
        log.info("config reloaded (%s): %d contracts", reason, len(new.contracts))
        return True

    # -- jobs --------------------------------------------------------------------------------------

    def _schedule(self, contract: Contract, first: datetime) -> None:
        every = contract.sampling.every.total_seconds()
        trigger = IntervalTrigger(
            seconds=every, start_date=first, timezone=UTC, jitter=min(_MAX_JITTER, every * 0.05)
        )
        self._scheduler.add_job(
            self.run_contract, trigger, args=[contract.contract], id=f"probe:{contract.contract}",
            name=contract.contract, replace_existing=True, misfire_grace_time=max(1, int(every / 2)),
            next_run_time=first,
        )

    def _reschedule(self, old: Config, new: Config) -> None:
        now = self._clock.now()
        for name in old.contracts.keys() - new.contracts.keys():
            job = self._scheduler.get_job(f"probe:{name}")
            if job is not None:
                job.remove()
        added = 0
        for name, contract in new.contracts.items():
            before = old.contracts.get(name)
            if before is None or before.sampling.every != contract.sampling.every:
                self._schedule(contract, now + _STAGGER * added)
                added += 1

    def check_files(self) -> None:
        """Reload when a config file changed since the last load (the watch job calls this)."""
        if _fingerprint(self._config) != self._fingerprint:
            self.reload("config files changed")

    @contextmanager
    def _prober(self) -> Iterator[Prober]:
        with self._lock:
            lease = self._lease
            lease.holders += 1
        try:
            yield lease.prober
        finally:
            with self._lock:
                lease.holders -= 1
                self._close_if_idle(lease)

    def _close_if_idle(self, lease: _Lease) -> None:
        if lease.retired and lease.holders == 0:
            lease.prober.close()

    def run_contract(self, name: str) -> ProbeResult | None:
        """One probe run of ``name``: record it, update the metrics. Never raises into the scheduler."""
        self._started[name] = self._clock.now()
        if name not in self._config.contracts:
            return None  # removed by a reload while this run waited
        try:
            with self._prober() as prober:
                result = prober.probe(name)
        except StoreError as exc:
            log.error("%s: the run could not be recorded: %s", name, exc)
            return None
        except Exception:
            log.exception("%s: the probe run failed unexpectedly", name)
            return None
        try:
            divergences = self._store.open_divergences(name)
        except StoreError as exc:
            log.error("%s: open divergences could not be read: %s", name, exc)
            divergences = None
        self._metrics.observe(result, divergences)
        self._incident_metrics(name)
        _log_result(result)
        self.notify(name)
        if self.on_result is not None:
            self.on_result(result)
        return result

    def publish_reports(self) -> None:
        """Publish the weekly summary if it is due (see ``monitor.report.publish``). Never raises."""
        if self._publish is None:
            return
        try:
            self._publish(self._config, self._clock.now())
        except Exception:
            log.exception("the weekly report could not be published; the next hourly check tries again")

    def notify(self, contract: str | None = None) -> None:
        """Queue what incidents (of ``contract``, or all) need told; wake the sender. Never raises."""
        if self._notifier is None:
            return
        try:
            queued = self._notifier.plan(contract)
        except Exception:
            log.exception("planning notifications failed; the next run or timer tries again")
            return
        if queued and self.on_notices is not None:
            self.on_notices()

    def _incident_metrics(self, name: str) -> None:
        contract = self._config.contracts.get(name)
        if contract is None:
            return
        try:
            unresolved = self._store.incidents([IncidentState.OPEN, IncidentState.ACKNOWLEDGED], name, limit=1000)
        except StoreError as exc:
            log.error("%s: incidents could not be read: %s", name, exc)
            return
        self._metrics.incidents(contract, unresolved)

    def _job_done(self, event: JobExecutionEvent) -> None:
        job_id = str(event.job_id)
        if not job_id.startswith("probe:"):
            return
        name = job_id.removeprefix("probe:")
        started = self._started.get(name)
        planned = event.scheduled_run_time
        if started is not None and planned is not None:
            delay = (started - planned).total_seconds()
            self._metrics.start_delay.labels(name).observe(max(0.0, delay))


def _log_result(result: ProbeResult) -> None:
    parts = []
    for target in result.targets:
        h, v = target.health, target.verdict
        breach = f" BREACH {','.join(k.value for k in v.breaching)}" if v.breaching else ""
        if h.error:
            parts.append(f"{target.target}: could not read ({h.error_reason}){breach}")
        else:
            ratio = f"{h.out_of_budget_ratio:.1%}" if h.out_of_budget_ratio is not None else "-"
            parts.append(f"{target.target}: {h.outcome.value}, {h.sampled} sampled, {ratio} out of budget{breach}")
    if result.error:
        parts.append(f"source could not be read ({result.error_reason})")
    level = logging.WARNING if any(t.verdict.breaching for t in result.targets) else logging.INFO
    log.log(level, "%s: %s", result.contract, "; ".join(parts))
