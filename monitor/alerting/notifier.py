"""The notifier: plans what each incident needs told (``planner.plan``), queues it in the outbox
in the same transaction as the thread's new state, and delivers the outbox (``Outbox``).

Call ``tick`` after every probe run and on a timer (escalations and reminders fall due between
runs). The service runs it on its scheduler; replays call it with simulated time.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from threading import Event, RLock, Thread
from typing import IO

from monitor.alerting.notices import Notice
from monitor.alerting.outbox import DeliveryReport, Outbox, Sender
from monitor.alerting.planner import Routing, plan, system_names
from monitor.alerting.slack import ConsoleSender, SlackSender
from monitor.clock import Clock
from monitor.config.loader import Config
from monitor.store import Store

__all__ = ["Notifier", "DeliveryWorker", "routing_of", "sender_for"]

log = logging.getLogger("syncwatch.notifier")

RECHECK = timedelta(minutes=1)


def routing_of(config: Config) -> Routing:
    return Routing(config.settings.alerting, dict(config.owners), system_names(config.systems))


def sender_for(config: Config, console: IO[str] | None = None) -> Sender:
    """Slack when a bot token is configured, else the console."""
    if config.settings.slack.token:
        return SlackSender(config.settings.slack)
    return ConsoleSender(console or sys.stdout)


class Notifier:
    """Plans and delivers notifications for the incidents in ``store`` (see the module docstring)."""

    def __init__(self, config: Config, store: Store, clock: Clock, sender: Sender,
                 sleep: Callable[[float], None], on_sent: Callable[[Notice], None] | None = None) -> None:
        self._lock = RLock()  # planning (probe threads, the timer, button presses)
        self._sending = RLock()  # delivering: may wait on Slack; planning need not wait for it
        self._store = store
        self._clock = clock
        self.sender = sender
        self.outbox = Outbox(store, sender, clock, sleep, on_sent)
        self._pending = True  # notices may wait from before a restart
        self._checked: datetime | None = None
        self.configure(config)

    def configure(self, config: Config) -> None:
        """Use a reloaded configuration from the next tick."""
        with self._lock:
            self._config = config
            self._routing = routing_of(config)

    def plan(self, contract: str | None = None) -> list[Notice]:
        """Queue what the incidents (of ``contract``, or all) need told now; return the new notices."""
        with self._lock:
            now = self._clock.now()
            candidates = self._store.incidents_to_notify()
            if not candidates:
                return []
            silences = self._store.silences(active_at=now)
            queued: list[Notice] = []
            for incident, thread in candidates:
                if contract is not None and incident.contract != contract:
                    continue
                spec = self._config.contracts.get(incident.contract)
                if spec is None:
                    continue  # the contract was removed; its incidents stay as they are
                new_thread, notices = plan(incident, thread, spec, self._routing, silences, now)
                if new_thread is not None and (notices or new_thread != thread):
                    self._store.add_notices(new_thread, notices)
                    queued.extend(notices)
            if queued:
                self._pending = True
            return queued

    def deliver(self) -> DeliveryReport:
        """Deliver what is due. When the last pass left nothing waiting and nothing was queued
        since, the outbox is only read again after ``RECHECK`` (another process, such as
        `syncwatch outbox retry`, may have queued something)."""
        with self._sending:
            now = self._clock.now()
            if not self._pending and self._checked is not None and now - self._checked < RECHECK:
                return DeliveryReport()
            self._pending, self._checked = False, now
            report = self.outbox.deliver()
            if report.waiting:
                self._pending = True
            return report

    def tick(self, contract: str | None = None) -> DeliveryReport:
        """Plan, then deliver everything due."""
        self.plan(contract)
        return self.deliver()


class DeliveryWorker:
    """The service's sender thread: delivers the outbox when woken (after a plan) and every
    ``poll`` seconds (back-offs falling due), until stopped."""

    def __init__(self, notifier: Notifier, poll: float = 5.0) -> None:
        self._notifier = notifier
        self._poll = poll
        self._wake = Event()
        self._stop = Event()
        self._thread = Thread(target=self._loop, name="syncwatch-outbox", daemon=True)

    @property
    def stopping(self) -> Event:
        return self._stop

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 15.0) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self._poll)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._notifier.deliver()
            except Exception:  # never let the sender thread die: the next poll tries again
                log.exception("delivering the outbox failed; trying again in %.0f s", self._poll)
