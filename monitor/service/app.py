"""The service's one HTTP port: ``/metrics``, ``/healthz``, ``/readyz``, ``/``, ``/api/contracts``
and ``/slack/actions`` (Slack's interactivity requests: the Acknowledge and Snooze buttons).

Starlette (with uvicorn serving it) rather than a hand-written server: routing, content
types and a test client come with it. Endpoints are plain synchronous functions; Starlette runs them in its thread pool,
so a slow store query never blocks the event loop.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Protocol
from urllib.parse import parse_qs

from jinja2 import Environment, PackageLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST
from slack_sdk.signature import Clock as SlackClock
from slack_sdk.signature import SignatureVerifier
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from monitor.alerting.actions import ActionRefused, interaction
from monitor.clock import Clock
from monitor.config import Config
from monitor.metrics import SyncMetrics
from monitor.service.status import collect_status
from monitor.store import Store
from monitor.units import format_duration

if TYPE_CHECKING:
    from monitor.alerting.notifier import Notifier

__all__ = ["Runtime", "FixedRuntime", "build_app", "REFRESH_SECONDS"]

log = logging.getLogger("syncwatch.service")

REFRESH_SECONDS = 15


class Runtime(Protocol):
    """What the endpoints read: the running config, store, metrics and readiness."""

    @property
    def config(self) -> Config: ...

    @property
    def store(self) -> Store: ...

    @property
    def metrics(self) -> SyncMetrics: ...

    @property
    def clock(self) -> Clock: ...

    @property
    def notifier(self) -> Notifier | None:
        """Tells incidents' threads what people did with the buttons; None without alerting."""
        ...

    def readiness(self) -> dict[str, str | None]:
        """Each readiness check by name: None when it passes, else what is wrong."""
        ...


class FixedRuntime:
    """A runtime whose config never changes and whose probes someone else runs (the demo)."""

    def __init__(self, config: Config, store: Store, metrics: SyncMetrics, clock: Clock,
                 running: Callable[[], bool], notifier: Notifier | None = None) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.clock = clock
        self.notifier = notifier
        self._running = running

    def readiness(self) -> dict[str, str | None]:
        return {
            "config": None if self.config.contracts else "no contracts loaded",
            "scheduler": None if self._running() else "probes are not running",
            "store": store_problem(self.store),
        }


def store_problem(store: Store) -> str | None:
    """None when the store answers a trivial query, else why not (never the URL: it may hold a password)."""
    try:
        with store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:  # any driver error means not ready
        return f"the store cannot be reached ({type(exc).__name__})"
    return None


_templates = Environment(
    loader=PackageLoader("monitor.service", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _short(seconds: float | None) -> str:
    """``3m``, ``2m 32s``, ``1h 5m``: format_duration without the zero tail."""
    text = format_duration(seconds)
    return text.removesuffix(" 00s").removesuffix(" 00m").removesuffix(" 0h")


def _ago(value: datetime | None, now: datetime) -> str:
    return "never" if value is None else f"{_short(max(0.0, (now - value).total_seconds()))} ago"


_templates.filters["percent"] = _percent
_templates.filters["duration"] = _short


def build_app(runtime: Runtime, wall: Callable[[], float] = time.time) -> Starlette:
    """The app. ``wall``: the real time in seconds, against which Slack's request timestamps are
    checked (not the runtime's clock, which runs fast in the demo)."""

    def metrics(_: Request) -> Response:
        return Response(runtime.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    def healthz(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    def readyz(_: Request) -> Response:
        checks = runtime.readiness()
        ready = all(problem is None for problem in checks.values())
        body = {"ready": ready, "checks": {name: problem or "ok" for name, problem in checks.items()}}
        return JSONResponse(body, status_code=200 if ready else 503)

    def contracts(_: Request) -> Response:
        now = runtime.clock.now()
        status = collect_status(runtime.config, runtime.store, now)
        return JSONResponse({"generated_at": now.isoformat(), "contracts": [c.to_json() for c in status]})

    def page(_: Request) -> Response:
        now = runtime.clock.now()
        status = collect_status(runtime.config, runtime.store, now)
        html = _templates.get_template("status.html").render(
            contracts=status, now=now, refresh=REFRESH_SECONDS, ago=lambda v: _ago(v, now),
            counts={s: sum(1 for c in status if c.state == s) for s in ("red", "amber", "grey", "green")},
        )
        return HTMLResponse(html)

    class _Wall(SlackClock):
        def now(self) -> float:
            return wall()

    async def slack_actions(request: Request) -> Response:
        configured = runtime.config.settings.slack.signing_secret
        secret = configured.get_secret_value() if configured is not None else ""
        if not secret:
            return PlainTextResponse("Slack interactivity is not configured (slack.signing_secret)\n", status_code=404)
        body = await request.body()
        try:
            valid = SignatureVerifier(secret, clock=_Wall()).is_valid_request(body, dict(request.headers))
        except (ValueError, TypeError):  # a timestamp that is not a number, a signature that is not ASCII
            valid = False
        if not valid:
            log.warning("refused a /slack/actions request with a bad or stale signature")
            return PlainTextResponse("invalid signature\n", status_code=401)
        payload = (parse_qs(body.decode("utf-8", "replace")).get("payload") or [""])[0]
        return await run_in_threadpool(_act, payload)

    def _act(payload: str) -> Response:
        config = runtime.config
        try:
            done = interaction(payload, runtime.store, config.owners, runtime.clock.now(),
                               config.settings.alerting.snooze)
        except ActionRefused as exc:
            log.warning("Slack action refused: %s", exc)
            return PlainTextResponse(f"{exc}\n", status_code=400)
        for item in done:
            log.info("%s (Slack)", item.said)
        notifier = runtime.notifier
        if notifier is not None:
            for contract in {item.incident.contract for item in done}:
                notifier.plan(contract)
        # Slack wants an empty 200 within 3 s; the thread hears of it from the outbox.
        return Response(status_code=200)

    return Starlette(routes=[
        Route("/", page),
        Route("/slack/actions", slack_actions, methods=["POST"]),
        Route("/metrics", metrics),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/api/contracts", contracts),
    ])
