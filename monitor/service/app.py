"""The service's one HTTP port: ``/metrics``, ``/healthz``, ``/readyz``, ``/`` and ``/api/contracts``.

Starlette (with uvicorn serving it) rather than a hand-written server: routing, content
types and a test client come with it, and the Slack interactivity endpoint will live on the
same app. Endpoints are plain synchronous functions; Starlette runs them in its thread pool,
so a slow store query never blocks the event loop.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from jinja2 import Environment, PackageLoader, select_autoescape
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from monitor.clock import Clock
from monitor.config import Config
from monitor.metrics import SyncMetrics
from monitor.service.status import collect_status
from monitor.store import Store
from monitor.units import format_duration

__all__ = ["Runtime", "FixedRuntime", "build_app", "REFRESH_SECONDS"]

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

    def readiness(self) -> dict[str, str | None]:
        """Each readiness check by name: None when it passes, else what is wrong."""
        ...


class FixedRuntime:
    """A runtime whose config never changes and whose probes someone else runs (the demo)."""

    def __init__(self, config: Config, store: Store, metrics: SyncMetrics, clock: Clock,
                 running: Callable[[], bool]) -> None:
        self.config = config
        self.store = store
        self.metrics = metrics
        self.clock = clock
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


def build_app(runtime: Runtime) -> Starlette:
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

    return Starlette(routes=[
        Route("/", page),
        Route("/metrics", metrics),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/api/contracts", contracts),
    ])
