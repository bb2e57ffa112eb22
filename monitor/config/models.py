"""The configuration language as pydantic models: syncwatch.yaml, owners, contracts.

Strict on purpose (``extra="forbid"``): a misspelt key is an error that names
what would be valid, not a silently ignored setting. Systems are validated by
the model registered for their ``kind`` (``probes.registry``), so the kinds are
listed once. Cross-file checks (references, ownership) live in ``loader.py``.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from monitor.compare import FieldSpec
from monitor.config.schedule import MaintenanceWindow
from monitor.units import Duration, Runs, Share
from probes.base import StrictModel

__all__ = [
    "Budget",
    "Sampling",
    "Endpoint",
    "TargetEndpoint",
    "KeyMap",
    "KeyRules",
    "Contract",
    "WorkingHours",
    "Owner",
    "OwnersFile",
    "Retention",
    "Storage",
    "Defaults",
    "Settings",
    "Alerting",
    "OutOfHours",
    "Slack",
    "Reports",
    "Service",
    "check_channel",
]

_NAME = r"^[a-z0-9][a-z0-9_-]*$"
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Budget(StrictModel):
    """How stale a record may get (``latency``), the share of records allowed out of
    that budget (``drift``), for how many consecutive runs before it is a breach
    (``hold``), and how sure the pooled samples of those runs must make us that the
    true share is above the budget (``confidence``; 0 trusts the point estimates alone)."""

    latency: Duration
    drift: Share
    hold: Runs = 2
    confidence: Share = 0.95

    @field_validator("confidence")
    @classmethod
    def _below_certainty(cls, value: float) -> float:
        if value >= 1:
            raise ValueError("confidence must be below 100% (no sample makes us certain); e.g. 95%, or 0% to turn the test off")
        return value


class Sampling(StrictModel):
    every: Duration = timedelta(minutes=5)
    size: int = Field(default=300, ge=1, le=100_000)
    recent: Share = 0.5
    # How far back "recently changed" reaches; default: twice the latency budget.
    recent_window: Duration | None = None
    watch: list[str] = Field(default_factory=list)
    # Open divergences re-read to follow them to resolution (outside the health ratios).
    followup: int = Field(default=200, ge=0, le=100_000)

    @field_validator("watch", mode="before")
    @classmethod
    def _keys_as_text(cls, value: object) -> object:
        # YAML reads SKU 22423 as an int; keys are text everywhere in syncwatch.
        if isinstance(value, list):
            return [str(v) if isinstance(v, int | float) and not isinstance(v, bool) else v for v in value]
        return value


class KeyMap(StrictModel):
    """Source key → target key, as two templates: ``{from: "#{n}", to: "SO-{n}"}``."""

    from_: str = Field(alias="from")
    to: str

    @model_validator(mode="after")
    def _same_placeholders(self) -> KeyMap:
        src = set(re.findall(r"\{(\w+)\}", self.from_))
        dst = set(re.findall(r"\{(\w+)\}", self.to))
        if not src:
            raise ValueError(f"'from' template {self.from_!r} has no placeholder such as {{n}}")
        if not dst <= src:
            missing = ", ".join(sorted(dst - src))
            raise ValueError(f"'to' uses {missing} which 'from' does not capture")
        return self


class Endpoint(StrictModel):
    """One side of a contract: an entity in a system, its key field and ``updated_at`` field.

    ``fields`` renames contract fields to this entity's field names where they differ.
    """

    system: str
    entity: str
    key: str
    updated_at: str | None = None
    fields: dict[str, str] = Field(default_factory=dict)


class TargetEndpoint(Endpoint):
    key_map: KeyMap | None = None


class KeyRules(StrictModel):
    """How keys compare across systems. ``personal`` keys (emails) are stored hashed and shown masked."""

    case: Literal["preserve", "fold"] = "preserve"
    trim: bool = True
    personal: bool = False


class Contract(StrictModel):
    contract: str = Field(pattern=_NAME)
    domain: str | None = None
    description: str | None = None
    owner: str
    technical_owner: str | None = None
    source: Endpoint
    targets: list[TargetEndpoint] = Field(min_length=1)
    keys: KeyRules = KeyRules()
    fields: dict[str, FieldSpec] = Field(min_length=1)
    budget: Budget
    sampling: Sampling = Sampling()
    runbook: str | None = None
    channel: str | None = None  # Slack channel of its incidents; default alerting.channel

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        return None if value is None else check_channel(value)

    @model_validator(mode="after")
    def _distinct_targets(self) -> Contract:
        seen: set[str] = set()
        for target in self.targets:
            if target.system in seen:
                raise ValueError(f"target system {target.system!r} is listed twice")
            seen.add(target.system)
        if self.source.system in seen:
            raise ValueError(f"source system {self.source.system!r} is also a target")
        return self

    @property
    def effective_technical_owner(self) -> str:
        return self.technical_owner or self.owner

    @property
    def recent_window(self) -> timedelta:
        return self.sampling.recent_window or 2 * self.budget.latency


class WorkingHours(StrictModel):
    """Working hours in Europe/London: ``{days: mon-fri, start: "08:00", end: "18:00"}``."""

    days: str = "mon-fri"
    start: time = time(9, 0)
    end: time = time(17, 30)

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        parse_days(value)
        return value

    @model_validator(mode="after")
    def _order(self) -> WorkingHours:
        if self.end <= self.start:
            raise ValueError(f"end {self.end:%H:%M} must be after start {self.start:%H:%M}")
        return self

    @property
    def day_numbers(self) -> frozenset[int]:
        return parse_days(self.days)


def parse_days(text: str) -> frozenset[int]:
    """``mon-fri`` or ``mon,wed,sat`` → weekday numbers (Monday 0)."""
    days: set[int] = set()
    for part in str(text).lower().replace(" ", "").split(","):
        if "-" in part:
            first, _, last = part.partition("-")
            if first not in _DAYS or last not in _DAYS:
                raise ValueError(f"{text!r}: days are mon..sun, e.g. mon-fri or mon,wed,fri")
            a, b = _DAYS.index(first), _DAYS.index(last)
            days.update(range(a, b + 1) if a <= b else [*range(a, 7), *range(0, b + 1)])
        elif part in _DAYS:
            days.add(_DAYS.index(part))
        else:
            raise ValueError(f"{text!r}: days are mon..sun, e.g. mon-fri or mon,wed,fri")
    return frozenset(days)


class Owner(StrictModel):
    name: str
    slack: str = Field(description="Slack user ID, e.g. U04ABCDEF12 (not a @handle: handles change)")
    backup: str | None = None
    working_hours: WorkingHours = WorkingHours()

    @field_validator("slack")
    @classmethod
    def _slack_id(cls, value: str) -> str:
        if not re.fullmatch(r"[UW][A-Z0-9]{6,}", value):
            raise ValueError(f"{value!r} does not look like a Slack user ID; expected e.g. U04ABCDEF12")
        return value


class OwnersFile(StrictModel):
    owners: dict[str, Owner] = Field(min_length=1)


class Retention(StrictModel):
    observations: Duration = timedelta(days=30)


class Storage(StrictModel):
    # Default: a SQLite file beside the config (resolved by the loader).
    url: str | None = None
    retention: Retention = Retention()


class Defaults(StrictModel):
    """Defaults merged into every contract's ``budget`` and ``sampling`` before validation."""

    budget: dict[str, object] = Field(default_factory=dict)
    sampling: dict[str, object] = Field(default_factory=dict)


class Service(StrictModel):
    """``syncwatch run``: where it serves /metrics, the status page and the health endpoints."""

    host: str = "127.0.0.1"
    port: int = Field(default=9873, ge=0, le=65535)
    workers: int = Field(default=8, ge=1, le=64, description="probe runs at once (different contracts)")
    watch: Duration = timedelta(seconds=10)


_CHANNEL = r"^(#[a-z0-9][a-z0-9._-]{0,79}|[CG][A-Z0-9]{6,})$"
_CHANNEL_HINT = "a channel name such as '#stock-alerts' or a channel ID such as 'C04ABCDEF12'"


def check_channel(value: str) -> str:
    if not re.fullmatch(_CHANNEL, value):
        raise ValueError(f"{value!r} is not a Slack channel; expected {_CHANNEL_HINT}")
    return value


class OutOfHours(StrictModel):
    """Where an incident goes when its owner is outside working hours: ``channel`` (e.g. the
    on-call channel; default the contract's) and ``mention`` (a Slack user ID U… or a user group
    ID S…; default nobody: the post waits for the owner's morning)."""

    channel: str | None = None
    mention: str | None = None

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        return None if value is None else check_channel(value)

    @field_validator("mention")
    @classmethod
    def _mention(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[UWS][A-Z0-9]{6,}", value):
            raise ValueError(f"{value!r} is not a Slack user ID (U…) or user group ID (S…), e.g. S04ONCALL1")
        return value

    @property
    def mention_text(self) -> str | None:
        if self.mention is None:
            return None
        return f"<!subteam^{self.mention}>" if self.mention.startswith("S") else f"<@{self.mention}>"


class Alerting(StrictModel):
    """How breaches become incidents and who hears about them.

    Incidents: resolved after ``resolve_after`` healthy runs; a breach within ``cooldown`` of its
    incident's resolution reopens it instead of opening another.
    Routing: a contract's incidents go to ``channel`` (unless the contract names its own),
    mentioning the owner (the technical owner for probe failures); out of the owner's working
    hours, to ``out_of_hours``. Not acknowledged within ``escalate_after`` of working time, they
    go to the owner's backup, then to ``escalation_channel``. Reminders every ``repeat_every``, in
    the thread, until acknowledged. ``maintenance`` windows hold notifications back; measuring
    goes on. ``grafana_url``: where the messages link to the contract's dashboard.
    """

    resolve_after: Runs = 2
    cooldown: Duration = timedelta(hours=1)
    channel: str = "#syncwatch-alerts"
    escalate_after: Duration = timedelta(minutes=30)
    escalation_channel: str | None = None
    repeat_every: Duration = timedelta(hours=4)
    snooze: Duration = timedelta(hours=2)
    out_of_hours: OutOfHours | None = None
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    grafana_url: str | None = None

    @field_validator("channel", "escalation_channel")
    @classmethod
    def _channels(cls, value: str | None) -> str | None:
        return None if value is None else check_channel(value)

    @field_validator("escalate_after", "repeat_every", "snooze", mode="before")
    @classmethod
    def _not_negative(cls, value: object) -> object:
        negative = (isinstance(value, int | float) and not isinstance(value, bool) and value < 0) or (
            isinstance(value, str) and value.strip().startswith("-"))
        if negative:
            raise ValueError(f"{value!r} is negative; must be more than 0, e.g. 30m")
        return value

    @field_validator("escalate_after", "repeat_every", "snooze")
    @classmethod
    def _positive(cls, value: timedelta) -> timedelta:
        if value <= timedelta(0):
            raise ValueError("must be more than 0, e.g. 30m")
        return value

    @field_validator("grafana_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^\s]+$", value):
            raise ValueError(f"{value!r} is not an http(s) URL, e.g. https://grafana.example.com")
        return None if value is None else value.rstrip("/")


class Slack(StrictModel):
    """Slack's Web API: ``api_url`` (the environment variable ``SYNCWATCH_SLACK_API_URL`` wins),
    the bot ``token`` (default: the environment variable ``SLACK_BOT_TOKEN``) and the app's
    ``signing_secret`` for its buttons (default: ``SLACK_SIGNING_SECRET``). Without a token,
    notifications are printed to the console and stored."""

    api_url: str = "https://slack.com/api/"
    token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    timeout: Duration = timedelta(seconds=10)

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^\s]+$", value):
            raise ValueError(f"{value!r} is not an http(s) URL, e.g. https://slack.com/api/")
        return value if value.endswith("/") else value + "/"


class Reports(StrictModel):
    """The weekly health summary: written to ``folder`` (beside the config) every Monday after
    08:00 Europe/London, for the week before, and posted to ``channel`` when Slack is configured
    (a short summary, the full HTML as a file in its thread). ``weekly: false`` turns it off."""

    weekly: bool = True
    channel: str | None = None
    folder: str = "reports"

    @field_validator("channel")
    @classmethod
    def _channel(cls, value: str | None) -> str | None:
        return None if value is None else check_channel(value)


class Settings(StrictModel):
    """The top of syncwatch.yaml, apart from ``systems`` (validated per kind)."""

    version: Literal[1] = 1
    storage: Storage = Storage()
    service: Service = Service()
    alerting: Alerting = Alerting()
    slack: Slack = Slack()
    reports: Reports = Reports()
    owners: str = "rules/owners.yaml"
    contracts: str = "rules/contracts"
    defaults: Defaults = Defaults()
