"""One GET of the ``http`` connector: paced, retried, translated, bounded.

``Fetcher.get`` sends a request through the token bucket (``api_share`` of the
system's own rate limit), retries timeouts, connection failures, 429, 5xx and
unreadable JSON with exponential back-off (honouring ``Retry-After``), and
turns what is left into ``monitor.errors`` exceptions. Retrying uses tenacity,
a well-kept retry library whose ``sleep`` is injectable, so back-off runs on
the context's clock and tests never wait. There is no jitter: syncwatch is one
sequential client per system, with nothing to de-synchronise, and exact waits
keep tests exact.

Not retried: 401/403 (``AuthError``), other 4xx and redirects (``QueryError``),
a body over ``max_response_bytes`` (``ResponseTooLarge``: it would be as large
again), and a ``Retry-After`` longer than ``retries.max_retry_after`` (the
system asked us to stay away; retrying early would spend its rate limit on
refusals). A ``Retry-After`` HTTP-date is read against the response's own
``Date`` header: the server's clock, so no skew and no wall clock of ours.

Error messages name the endpoint's template (``label``), never the URL's query
string, a credential or the body, which may hold customer data.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC
from email.utils import parsedate_to_datetime

import httpx
import tenacity

from monitor.errors import (
    AuthError,
    ConnectorError,
    ConnectorTimeout,
    ConnectorUnavailable,
    MalformedResponse,
    QueryError,
    RateLimited,
    ResponseTooLarge,
)
from monitor.results import ConnectorUsage
from probes.base import ConnectorContext
from probes.http_config import HttpSystemConfig
from probes.http_paging import Fetched, PageRequest
from probes.ratelimit import TokenBucket

__all__ = ["Fetcher"]

logger = logging.getLogger(__name__)


class _Transient(Exception):
    """A failed attempt worth retrying; becomes an ``error`` when attempts run out."""

    def __init__(self, error: type[ConnectorError], message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.error, self.message, self.retry_after = error, message, retry_after


class Fetcher:
    """GETs for one system over one ``httpx.Client``, counting what they cost in ``usage()``.

    ``by_status`` counts each attempt once: its HTTP status, or ``timeout`` /
    ``connection_error``. ``retries`` counts back-off sleeps; ``waited_seconds``
    adds up back-off and token-bucket waits, ``rate_limit_waits`` counts the latter.
    """

    def __init__(
        self, system: str, config: HttpSystemConfig, ctx: ConnectorContext, client: httpx.Client
    ) -> None:
        self.system = system
        self.config = config
        self._ctx = ctx
        self._client = client
        self._origin = _origin(httpx.URL(config.base_url))
        self._lock = threading.Lock()
        self._usage = ConnectorUsage(system)
        self._bucket: TokenBucket | None = None
        rate = config.requests_per_second()
        if rate is not None:
            # A burst of one second's worth of our share (at least one request): spending
            # a minute's share at once could collide with the integration's own bursts,
            # which short windows (Klaviyo: 75/s besides 750/m) punish.
            self._bucket = TokenBucket(rate, max(1.0, rate), monotonic=ctx.monotonic, sleep=ctx.sleep)
        self._retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(config.retries.attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(_Transient),
            sleep=self._backoff_sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )

    def usage(self) -> ConnectorUsage:
        with self._lock:
            u = self._usage
            return ConnectorUsage(
                u.system, u.requests, dict(u.by_status), u.retries, u.rate_limit_waits, u.waited_seconds
            )

    def reset_usage(self) -> None:
        with self._lock:
            self._usage = ConnectorUsage(self.system)

    def close(self) -> None:
        self._client.close()

    def get(self, label: str, request: PageRequest, missing_ok: bool = False) -> Fetched | None:
        """The decoded response to ``request`` (a path with params, or a next page's URL);
        None for a 404 when ``missing_ok``. ``label`` names the endpoint in errors."""
        url: httpx.URL | str = request.target
        params = request.params
        if request.target.startswith(("http://", "https://")):
            url, params = httpx.URL(request.target), None
            if _origin(url) != self._origin:
                raise MalformedResponse(
                    f"{label}: the next page is on another host; not sending our credentials there",
                    system=self.system,
                )
        attempts = 0

        def attempt() -> Fetched | None:
            nonlocal attempts
            attempts += 1
            return self._attempt(label, url, params, missing_ok, attempts)

        try:
            result: Fetched | None = self._retrying(attempt)
        except _Transient as exc:
            raise exc.error(exc.message, system=self.system, attempts=attempts) from exc.__cause__
        return result

    def _attempt(
        self,
        label: str,
        url: httpx.URL | str,
        params: Mapping[str, str] | None,
        missing_ok: bool,
        attempt: int,
    ) -> Fetched | None:
        self._throttle()
        with self._lock:
            self._usage.requests += 1
        outcome = "error"
        try:
            with self._client.stream("GET", url, params=params) as response:
                outcome = str(response.status_code)
                if response.status_code == 404 and missing_ok:
                    return None
                self._check_status(response, label, attempt)
                raw = b"" if response.status_code == 204 else self._read_body(response, label, attempt)
                link = response.links.get("next", {}).get("url")
                fetched = Fetched(None, url=str(response.url), next_link=str(response.url.join(link)) if link else None)
        except httpx.TimeoutException as exc:
            outcome = "timeout"
            seconds = self.config.timeout.total_seconds()
            raise _Transient(ConnectorTimeout, f"{label}: no answer within {seconds:g}s") from exc
        except httpx.DecodingError as exc:
            raise _Transient(MalformedResponse, f"{label}: body could not be decoded") from exc
        except httpx.RequestError as exc:
            outcome = "connection_error"
            raise _Transient(ConnectorUnavailable, f"{label}: connection failed ({type(exc).__name__})") from exc
        finally:
            self._count(outcome)
        if outcome == "204":
            return fetched
        try:
            return replace(fetched, body=json.loads(raw))
        except ValueError as exc:
            reason = f"{label}: response is not valid JSON (malformed or cut short)"
            raise _Transient(MalformedResponse, reason) from exc

    def _check_status(self, response: httpx.Response, label: str, attempt: int) -> None:
        status = response.status_code
        if status < 300:
            return
        said = f"{label}: HTTP {status}"
        if status in (401, 403):
            raise AuthError(f"{said}; check the credentials and their scopes", system=self.system, attempts=attempt)
        if status == 429 or status >= 500:
            error = RateLimited if status == 429 else ConnectorUnavailable
            retry_after = _retry_after(response)
            limit = self.config.retries.max_retry_after.total_seconds()
            if retry_after is not None and retry_after > limit:
                raise error(
                    f"{said}; the system asks to wait {retry_after:.0f}s, longer than "
                    f"retries.max_retry_after ({limit:g}s)",
                    system=self.system,
                    attempts=attempt,
                )
            raise _Transient(error, said, retry_after)
        if status < 400:
            raise QueryError(
                f"{said} (a redirect); set base_url to where the API answers", system=self.system, attempts=attempt
            )
        raise QueryError(said, system=self.system, attempts=attempt)

    def _read_body(self, response: httpx.Response, label: str, attempt: int) -> bytes:
        limit = self.config.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise self._too_large(label, attempt)  # refused unread
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > limit:
                    raise self._too_large(label, attempt)  # leaving the stream drops the connection
                chunks.append(chunk)
        except httpx.RemoteProtocolError as exc:
            raise _Transient(MalformedResponse, f"{label}: response body cut short") from exc
        return b"".join(chunks)

    def _too_large(self, label: str, attempt: int) -> ResponseTooLarge:
        limit = self.config.max_response_bytes
        return ResponseTooLarge(
            f"{label}: response larger than max_response_bytes ({limit})", system=self.system, attempts=attempt
        )

    def _throttle(self) -> None:
        if self._bucket is None:
            return
        waited = self._bucket.acquire()
        if waited > 0:
            with self._lock:
                self._usage.rate_limit_waits += 1
                self._usage.waited_seconds += waited

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, _Transient) and error.retry_after is not None:
            return float(error.retry_after)
        retries = self.config.retries
        backoff: float = retries.backoff.total_seconds() * 2 ** (state.attempt_number - 1)
        return min(retries.max_backoff.total_seconds(), backoff)

    def _backoff_sleep(self, seconds: float) -> None:
        with self._lock:
            self._usage.retries += 1
            self._usage.waited_seconds += seconds
        self._ctx.sleep(seconds)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.info("%s: %s; retry %d in %.1fs", self.system, error, state.attempt_number, wait)

    def _count(self, outcome: str) -> None:
        with self._lock:
            self._usage.by_status[outcome] = self._usage.by_status.get(outcome, 0) + 1


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _retry_after(response: httpx.Response) -> float | None:
    """Seconds to wait from ``Retry-After``: seconds, or an HTTP-date read against the
    response's own ``Date`` (the server's clock, so no skew and no wall clock of ours)."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
        now = parsedate_to_datetime(response.headers.get("date", ""))
    except (TypeError, ValueError, IndexError):
        return None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    now = now if now.tzinfo else now.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())
