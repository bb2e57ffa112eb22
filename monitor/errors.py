"""The one exception tree of syncwatch.

Everything syncwatch raises on purpose derives from ``SyncwatchError``. Library
errors (httpx, SQLAlchemy, PyYAML, pydantic) are translated at the edge where
they happen, with ``raise ... from exc``, so callers catch ours only:

    SyncwatchError
    ├── ConfigError            bad configuration: file, line, field, what is valid
    ├── ConnectorError         a system could not be read (never drift)
    │   ├── ConnectorTimeout       the system did not answer in time
    │   ├── ConnectorUnavailable   connection refused/reset, 5xx
    │   ├── RateLimited            429 (or a throttle) after the allowed retries
    │   ├── MalformedResponse      not the JSON we were promised, or truncated
    │   ├── ResponseTooLarge       larger than the connector's byte limit
    │   ├── AuthError              401/403: credentials are wrong or missing scope
    │   └── QueryError             the SQL or HTTP request itself is wrong (4xx, SQL error)
    └── StoreError             the measurement store could not be read or written

The CLI prints ``str(error)`` (one line) and exits with a documented code;
tracebacks only with ``--debug``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "SyncwatchError",
    "ConfigError",
    "ConfigProblem",
    "ConnectorError",
    "ConnectorTimeout",
    "ConnectorUnavailable",
    "RateLimited",
    "MalformedResponse",
    "ResponseTooLarge",
    "AuthError",
    "QueryError",
    "StoreError",
]


class SyncwatchError(Exception):
    """Base of every error syncwatch raises on purpose."""


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with the configuration, located as precisely as we can."""

    file: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"


class ConfigError(SyncwatchError):
    """The configuration is invalid; carries every problem found, in file order."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


@dataclass
class _ConnectorErrorInfo:
    system: str = ""
    attempts: int = 1
    extra: dict[str, str] = field(default_factory=dict)


class ConnectorError(SyncwatchError):
    """A system could not be read. Recorded as a probe error, never as drift.

    ``reason`` is a short stable token (``timeout``, ``unavailable``,
    ``rate_limited``, ``malformed``, ``too_large``, ``auth``, ``query``) used
    as a bounded metric label; the message is for humans and must not carry
    customer data or credentials.
    """

    reason = "error"

    def __init__(self, message: str, *, system: str = "", attempts: int = 1) -> None:
        self.system = system
        self.attempts = attempts
        prefix = f"{system}: " if system else ""
        suffix = f" (after {attempts} attempts)" if attempts > 1 else ""
        super().__init__(f"{prefix}{message}{suffix}")


class ConnectorTimeout(ConnectorError):
    reason = "timeout"


class ConnectorUnavailable(ConnectorError):
    reason = "unavailable"


class RateLimited(ConnectorError):
    reason = "rate_limited"


class MalformedResponse(ConnectorError):
    reason = "malformed"


class ResponseTooLarge(ConnectorError):
    reason = "too_large"


class AuthError(ConnectorError):
    reason = "auth"


class QueryError(ConnectorError):
    reason = "query"


# Every ``reason`` a probe error can carry: the metric label's bounded set.
ERROR_REASONS = tuple(sorted({ConnectorError.reason, *(cls.reason for cls in ConnectorError.__subclasses__())}))


class StoreError(SyncwatchError):
    """The measurement store failed (unreachable, migration, integrity)."""
