"""``syncwatch run`` end to end: store, scheduler, HTTP server, signals, a clean stop."""

from __future__ import annotations

import logging
import signal
import threading
import time
from datetime import datetime
from types import FrameType

from monitor.alerting.notifier import DeliveryWorker, Notifier, sender_for
from monitor.alerting.slack import SlackSender, check_owners
from monitor.clock import SystemClock
from monitor.config import Config
from monitor.service.app import build_app
from monitor.service.http import HttpServer
from monitor.service.runtime import ProbeService
from monitor.store import Store
from probes.base import ConnectorContext

__all__ = ["serve"]

log = logging.getLogger("syncwatch")

# /metrics text is at most this old (probe intervals are minutes; Prometheus scrapes every 15 s or so).
_METRICS_CACHE_SECONDS = 5.0


def serve(config: Config, host: str | None = None, port: int | None = None) -> int:
    """Run until SIGTERM or SIGINT; SIGHUP reloads the contracts. Returns the exit code."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Every job start and end, and every migration step, at INFO would drown the probe results.
    for noisy in ("apscheduler", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    settings = config.settings.service
    sender = sender_for(config)
    if isinstance(sender, SlackSender):
        check_owners(sender.client, config.owners, config.base_dir / config.settings.owners)
        log.info("alerts go to Slack (%s)", config.settings.slack.api_url)
    else:
        log.info("no Slack token (SLACK_BOT_TOKEN): alerts are printed here and stored")
    store = Store.open(config.storage_url)
    ctx = ConnectorContext(sleep=time.sleep, monotonic=time.monotonic, base_dir=config.base_dir)
    clock = SystemClock()
    stop = threading.Event()

    def pause(seconds: float) -> None:  # the outbox's pace; cut short when stopping
        stop.wait(seconds)

    notifier = Notifier(config, store, clock, sender, sleep=pause)
    worker = DeliveryWorker(notifier)
    client = sender.client if isinstance(sender, SlackSender) else None

    def publish(current: Config, now: datetime) -> object:
        from monitor.report.publish import publish_due  # the report stack loads only when it runs

        return publish_due(store, current, now, client)

    service = ProbeService(config, store, clock, ctx, workers=settings.workers, watch_every=settings.watch,
                           metrics_cache=_METRICS_CACHE_SECONDS, notifier=notifier, publish=publish)
    service.on_notices = worker.wake
    server = HttpServer(build_app(service), host or settings.host, settings.port if port is None else port)

    def on_stop(signum: int, _: FrameType | None) -> None:
        log.info("%s: stopping after the running probes finish", signal.Signals(signum).name)
        stop.set()

    def on_hup(_: int, __: FrameType | None) -> None:
        service.request_reload("SIGHUP")

    previous = {sig: signal.signal(sig, on_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, on_hup)
    try:
        server.start()
        worker.start()
        service.start()
        log.info("syncwatch running: %d contracts; status %s/ metrics %s/metrics", len(config.contracts),
                 server.url, server.url)
        stop.wait()
    finally:
        service.stop()
        worker.stop()
        server.stop()
        store.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    log.info("stopped")
    return 0
