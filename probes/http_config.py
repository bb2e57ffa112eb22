"""Configuration of an ``http`` system: base URL, auth, rate limit, retries, entities.

Secrets (tokens, passwords, header and query keys) arrive already substituted
from ``${ENV}`` by the config loader and are held as ``SecretStr``, so they never
show in a repr, a log line or an error. Static ``headers`` are held the same
way, in case one of them carries a key.

An example (a Mintsoft-like WMS)::

    wms:
      kind: http
      base_url: https://api.mintsoft.co.uk
      auth: {type: header, name: ms-apikey, value: "${MINTSOFT_API_KEY}"}
      rate_limit: {requests: 120, per: 1m}
      entities:
        stock:
          records: ""
          fields: {sku: SKU, available: Level, last_updated: LastUpdated}
          lookup: {path: /api/Product/StockLevels, params: {SKU: "{keys}"}}
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import timedelta
from typing import Annotated, Literal

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from monitor.units import Duration, TimeZoneName
from probes.base import StrictModel, SystemConfigBase
from probes.http_paging import ChangedEndpoint, ListEndpoint, LookupEndpoint
from probes.paths import JsonPath, compile_path

__all__ = [
    "service_url",
    "NoAuth",
    "BearerAuth",
    "BasicAuth",
    "HeaderAuth",
    "QueryAuth",
    "Auth",
    "RateLimitConfig",
    "RetryConfig",
    "HttpEntityConfig",
    "HttpSystemConfig",
    "build_auth",
]


class NoAuth(StrictModel):
    type: Literal["none"] = "none"


class BearerAuth(StrictModel):
    type: Literal["bearer"]
    token: SecretStr


class BasicAuth(StrictModel):
    type: Literal["basic"]
    username: str
    password: SecretStr


class HeaderAuth(StrictModel):
    """A key in a header of its own (Mintsoft ``ms-apikey``, Klaviyo ``Authorization``)."""

    type: Literal["header"]
    name: str
    value: SecretStr


class QueryAuth(StrictModel):
    """A key as a query parameter (Mintsoft ``APIKey``); prefer ``header`` where offered."""

    type: Literal["query"]
    name: str
    value: SecretStr


Auth = Annotated[NoAuth | BearerAuth | BasicAuth | HeaderAuth | QueryAuth, Field(discriminator="type")]


class RateLimitConfig(StrictModel):
    """The system's own published limit: ``requests`` per ``per`` (all clients together)."""

    requests: int = Field(ge=1)
    per: Duration

    @field_validator("per")
    @classmethod
    def _positive(cls, per: timedelta) -> timedelta:
        if per <= timedelta(0):
            raise ValueError("per must be longer than 0s, e.g. 1m")
        return per


class RetryConfig(StrictModel):
    attempts: int = Field(default=4, ge=1, le=20)  # in all, the first one included
    backoff: Duration = timedelta(seconds=0.5)  # doubled after each failed attempt
    max_backoff: Duration = timedelta(seconds=30)
    max_retry_after: Duration = timedelta(seconds=120)


class HttpEntityConfig(StrictModel):
    """One entity: where its records are in a response, where its fields are in a record.

    A field the engine asks for that ``fields`` does not declare is read from the
    record's top-level key of the same name.
    """

    records: JsonPath = JsonPath("")
    fields: dict[str, JsonPath] = Field(default_factory=dict)
    lookup: LookupEndpoint
    changed: ChangedEndpoint | None = None
    list: ListEndpoint | None = None

    def declared_fields(self) -> frozenset[str] | None:
        """Field names a config checker can verify, or None when fields are not declared."""
        return frozenset(self.fields) if self.fields else None

    def path_for(self, name: str) -> JsonPath:
        declared = self.fields.get(name)
        if declared is not None:
            return declared
        return compile_path(name.replace("\\", "\\\\").replace(".", "\\."))


class HttpSystemConfig(SystemConfigBase):
    """A system reached through a JSON HTTP API. Secrets arrive already substituted."""

    kind: Literal["http"]
    base_url: str
    headers: dict[str, SecretStr] = Field(default_factory=dict)  # static; secret in case one is a key
    auth: Auth = Field(default_factory=NoAuth)
    rate_limit: RateLimitConfig | None = None
    retries: RetryConfig = Field(default_factory=RetryConfig)
    max_response_bytes: int = Field(default=20_000_000, ge=1)
    timezone: TimeZoneName = "UTC"  # how to read timestamps sent without an offset
    entities: dict[str, HttpEntityConfig]

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        service_url(value, "base_url", "auth")
        return value

    @model_validator(mode="after")
    def _share_leaves_requests(self) -> HttpSystemConfig:
        if self.rate_limit is not None and self.api_share <= 0:
            raise ValueError("api_share is 0%: syncwatch could make no requests at all")
        return self

    def requests_per_second(self) -> float | None:
        """syncwatch's own rate: ``api_share`` of the system's limit (None: unlimited)."""
        if self.rate_limit is None:
            return None
        return self.rate_limit.requests / self.rate_limit.per.total_seconds() * self.api_share


class _HeaderAuth(httpx.Auth):
    def __init__(self, name: str, value: str) -> None:
        self._name, self._value = name, value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers[self._name] = self._value
        yield request


class _QueryAuth(httpx.Auth):
    def __init__(self, name: str, value: str) -> None:
        self._name, self._value = name, value

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.url = request.url.copy_set_param(self._name, self._value)
        yield request


def build_auth(auth: NoAuth | BearerAuth | BasicAuth | HeaderAuth | QueryAuth) -> httpx.Auth | None:
    """The httpx auth that applies ``auth`` to every request, next-page URLs included."""
    if isinstance(auth, BearerAuth):
        return _HeaderAuth("Authorization", f"Bearer {auth.token.get_secret_value()}")
    if isinstance(auth, BasicAuth):
        return httpx.BasicAuth(auth.username, auth.password.get_secret_value())
    if isinstance(auth, HeaderAuth):
        return _HeaderAuth(auth.name, auth.value.get_secret_value())
    if isinstance(auth, QueryAuth):
        return _QueryAuth(auth.name, auth.value.get_secret_value())
    return None


def service_url(value: str, setting: str, credentials: str) -> httpx.URL:
    """An http(s) URL with a host and no query string or credentials in it (those belong
    in ``credentials``, where they are kept secret). Shared by every HTTP-based kind."""
    try:
        url = httpx.URL(value)
    except httpx.InvalidURL as exc:
        raise ValueError(f"{value!r} is not a URL") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise ValueError(f"{setting} must be an http:// or https:// URL with a host")
    if url.query or url.userinfo:
        raise ValueError(f"{setting} must not carry a query string or credentials; use {credentials}")
    return url
