"""HTTP attempts of a connector: paced, retried, translated, bounded.

``Exchange`` is the part every HTTP-based connector kind shares (``http``,
``shopify``): it sends one request over the connector's ``httpx.Client``,
streams the body up to ``max_response_bytes``, turns timeouts and connection
failures into retryable ``Transient`` errors, and runs attempts under a retry
loop with exponential back-off (honouring a ``retry_after`` a caller found, e.g.
``Retry-After`` or Shopify's throttle status). What is left after the attempts
becomes a ``monitor.errors`` exception. Retrying uses tenacity, a well-kept
retry library whose ``sleep`` is injectable, so back-off runs on the context's
clock and tests never wait. There is no jitter: syncwatch is one sequential
client per system, with nothing to de-synchronise, and exact waits keep tests
exact.

``Fetcher.get`` is the ``http`` connector's GET on top of it: through the token
bucket (``api_share`` of the system's own rate limit), retrying 429, 5xx and
unreadable JSON as well.

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
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, NoReturn, Protocol, TypeVar

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
from probes.base import ConnectorContext, UsageMeter
from probes.http_config import HttpSystemConfig, RetryConfig
from probes.http_paging import Fetched, PageRequest
from probes.ratelimit import TokenBucket

__all__ = ["Exchange", "Fetcher", "Transient", "retry_after_seconds"]

logger = logging.getLogger(__name__)

T = TypeVar("T")


class Transient(Exception):
    """A failed attempt worth retrying; becomes an ``error`` when attempts run out.

    ``retry_after``: seconds the system asked us to wait (else exponential back-off).
    """

    def __init__(self, error: type[ConnectorError], message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.error, self.message, self.retry_after = error, message, retry_after


class HttpSettings(Protocol):
    """What an HTTP-based system's config gives its exchange (``http`` and ``shopify`` both do)."""

    retries: RetryConfig
    timeout: timedelta
    max_response_bytes: int


class Exchange:
    """One system's HTTP attempts over one ``httpx.Client``, counting what they cost in ``usage()``.

    ``by_status`` counts each attempt once: its HTTP status, or ``timeout`` /
    ``connection_error``. ``retries`` counts back-off sleeps; ``waited_seconds``
    adds up back-off and the rate-limit waits callers report through
    ``add_wait``, which ``rate_limit_waits`` counts.
    """

    @classmethod
    def for_config(
        cls, system: str, config: HttpSettings, ctx: ConnectorContext, client: httpx.Client, url_setting: str
    ) -> Exchange:
        """An exchange with a system's own retries, timeout and response size limit."""
        return cls(
            system, ctx, client, retries=config.retries, timeout_seconds=config.timeout.total_seconds(),
            max_response_bytes=config.max_response_bytes, url_setting=url_setting,
        )

    def __init__(
        self,
        system: str,
        ctx: ConnectorContext,
        client: httpx.Client,
        *,
        retries: RetryConfig,
        timeout_seconds: float,
        max_response_bytes: int,
        url_setting: str = "base_url",
    ) -> None:
        self.system = system
        self._url_setting = url_setting  # the config key a redirect's error message points at
        self.retries = retries
        self._ctx = ctx
        self._client = client
        self._timeout_seconds = timeout_seconds
        self._max_response_bytes = max_response_bytes
        self._meter = UsageMeter(system)
        self._retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(retries.attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type(Transient),
            sleep=self._backoff_sleep,
            before_sleep=self._log_retry,
            reraise=True,
        )

    # -- usage -------------------------------------------------------------------------------

    def usage(self) -> ConnectorUsage:
        return self._meter.snapshot()

    def reset_usage(self) -> None:
        self._meter.reset()

    def add_wait(self, seconds: float) -> None:
        """Count a rate-limit wait (a token bucket's, a server's budget) of ``seconds``."""
        if seconds <= 0:
            return
        self._meter.current.rate_limit_waits += 1
        self._meter.current.waited_seconds += seconds

    def add_cost(self, points: float) -> None:
        """Count points a cost-based API charged."""
        self._meter.current.cost_points += points

    def close(self) -> None:
        self._client.close()

    # -- attempts ----------------------------------------------------------------------------

    def run(self, attempt: Callable[[int], T]) -> T:
        """``attempt(n)`` (n from 1) until it returns, raises a non-``Transient`` error, or
        ``retries.attempts`` are spent; then the last ``Transient`` becomes its error."""
        attempts = 0

        def once() -> T:
            nonlocal attempts
            attempts += 1
            return attempt(attempts)

        try:
            result: T = self._retrying(once)
        except Transient as exc:
            raise exc.error(exc.message, system=self.system, attempts=attempts) from exc.__cause__
        return result

    def send(
        self,
        label: str,
        method: str,
        url: httpx.URL | str,
        *,
        attempt: int,
        check: Callable[[httpx.Response], bool],
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
    ) -> tuple[httpx.Response, bytes | None]:
        """One request: the (closed) response and its body, or None where ``check`` said not
        to read it. ``check`` sees the response before its body and raises to refuse it."""
        outcome = "error"
        try:
            with self._meter.request(), self._client.stream(method, url, params=params, json=json_body) as response:
                outcome = str(response.status_code)
                raw = self._read_body(response, label, attempt) if check(response) else None
        except httpx.TimeoutException as exc:
            outcome = "timeout"
            raise Transient(ConnectorTimeout, f"{label}: no answer within {self._timeout_seconds:g}s") from exc
        except httpx.DecodingError as exc:
            raise Transient(MalformedResponse, f"{label}: body could not be decoded") from exc
        except httpx.RequestError as exc:
            outcome = "connection_error"
            raise Transient(ConnectorUnavailable, f"{label}: connection failed ({type(exc).__name__})") from exc
        finally:
            self._count(outcome)
        return response, raw

    def check_status(self, response: httpx.Response, label: str, attempt: int) -> None:
        """Refuse a status other than 2xx: the error it means, retryable or not."""
        status = response.status_code
        if status < 300:
            return
        said = f"{label}: HTTP {status}"
        if status in (401, 403):
            raise AuthError(f"{said}; check the credentials and their scopes", system=self.system, attempts=attempt)
        if status == 429 or status >= 500:
            error = RateLimited if status == 429 else ConnectorUnavailable
            self.raise_transient(error, said, retry_after_seconds(response), attempt)
        if status < 400:
            raise QueryError(
                f"{said} (a redirect); set {self._url_setting} to where the API answers",
                system=self.system,
                attempts=attempt,
            )
        raise QueryError(said, system=self.system, attempts=attempt)

    def raise_transient(
        self, error: type[ConnectorError], said: str, retry_after: float | None, attempt: int
    ) -> NoReturn:
        """Raise a retryable ``error``, or at once when the wait asked for is over ``max_retry_after``."""
        limit = self.retries.max_retry_after.total_seconds()
        if retry_after is not None and retry_after > limit:
            raise error(
                f"{said}; the system asks to wait {retry_after:.0f}s, longer than "
                f"retries.max_retry_after ({limit:g}s)",
                system=self.system,
                attempts=attempt,
            )
        raise Transient(error, said, retry_after)

    def _read_body(self, response: httpx.Response, label: str, attempt: int) -> bytes:
        limit = self._max_response_bytes
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
            raise Transient(MalformedResponse, f"{label}: response body cut short") from exc
        return b"".join(chunks)

    def _too_large(self, label: str, attempt: int) -> ResponseTooLarge:
        limit = self._max_response_bytes
        return ResponseTooLarge(
            f"{label}: response larger than max_response_bytes ({limit})", system=self.system, attempts=attempt
        )

    def _wait(self, state: tenacity.RetryCallState) -> float:
        error = state.outcome.exception() if state.outcome is not None else None
        if isinstance(error, Transient) and error.retry_after is not None:
            return float(error.retry_after)
        backoff: float = self.retries.backoff.total_seconds() * 2 ** (state.attempt_number - 1)
        return min(self.retries.max_backoff.total_seconds(), backoff)

    def _backoff_sleep(self, seconds: float) -> None:
        self._meter.current.retries += 1
        self._meter.current.waited_seconds += seconds
        self._ctx.sleep(seconds)

    def _log_retry(self, state: tenacity.RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        wait = state.next_action.sleep if state.next_action is not None else 0.0
        logger.info("%s: %s; retry %d in %.1fs", self.system, error, state.attempt_number, wait)

    def _count(self, outcome: str) -> None:
        self._meter.current.by_status[outcome] = self._meter.current.by_status.get(outcome, 0) + 1


class Fetcher:
    """The ``http`` connector's GETs for one system, through its token bucket; see the module docstring."""

    def __init__(
        self, system: str, config: HttpSystemConfig, ctx: ConnectorContext, client: httpx.Client
    ) -> None:
        self.system = system
        self.config = config
        self._exchange = Exchange.for_config(system, config, ctx, client, url_setting="base_url")
        self._origin = _origin(httpx.URL(config.base_url))
        self._bucket: TokenBucket | None = None
        rate = config.requests_per_second()
        if rate is not None:
            # A burst of one second's worth of our share (at least one request): spending
            # a minute's share at once could collide with the integration's own bursts,
            # which short windows (Klaviyo: 75/s besides 750/m) punish.
            self._bucket = TokenBucket(rate, max(1.0, rate), monotonic=ctx.monotonic, sleep=ctx.sleep)

    def usage(self) -> ConnectorUsage:
        return self._exchange.usage()

    def reset_usage(self) -> None:
        self._exchange.reset_usage()

    def close(self) -> None:
        self._exchange.close()

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
        return self._exchange.run(lambda attempt: self._attempt(label, url, params, missing_ok, attempt))

    def _attempt(
        self,
        label: str,
        url: httpx.URL | str,
        params: Mapping[str, str] | None,
        missing_ok: bool,
        attempt: int,
    ) -> Fetched | None:
        self._throttle()

        def check(response: httpx.Response) -> bool:
            if response.status_code == 404 and missing_ok:
                return False
            self._exchange.check_status(response, label, attempt)
            return response.status_code != 204

        response, raw = self._exchange.send(label, "GET", url, attempt=attempt, check=check, params=params)
        if response.status_code == 404 and missing_ok:
            return None
        link = response.links.get("next", {}).get("url")
        fetched = Fetched(None, url=str(response.url), next_link=str(response.url.join(link)) if link else None)
        if raw is None:
            return fetched
        try:
            return replace(fetched, body=json.loads(raw))
        except ValueError as exc:
            reason = f"{label}: response is not valid JSON (malformed or cut short)"
            raise Transient(MalformedResponse, reason) from exc

    def _throttle(self) -> None:
        if self._bucket is not None:
            self._exchange.add_wait(self._bucket.acquire())


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def retry_after_seconds(response: httpx.Response) -> float | None:
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
