"""The measurement store's schema: SQLAlchemy declarative models, portable to SQLite and PostgreSQL.

Migrations (``migrations/versions``) create exactly this schema; a test compares the two.
Customer values are never stored: observations and divergences keep the names of the
fields that differed, and keys are stored in the form the engine compares them in
(a keyed hash for personal keys).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    column,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "UTCDateTime",
    "ProbeRunRow",
    "ObservationRow",
    "DivergenceRow",
    "HealthSnapshotRow",
    "MetaRow",
    "IncidentRow",
    "SilenceRow",
    "NoticeRow",
    "IncidentThreadRow",
]

# Deterministic constraint names, so the hand-written migration and the models agree
# and later migrations can refer to constraints by name on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL; plain INTEGER on SQLite, where only that is an alias of the rowid.
ID = BigInteger().with_variant(Integer(), "sqlite")

NAME = 200  # contract, target and system names
KEY = 512  # record keys as compared (hashes for personal keys) and their display form
TOKEN = 32  # enum values (kind, outcome, stream)
REASON = 64  # short stable error tokens


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime in, an aware UTC datetime out, on every backend.

    SQLite keeps no time zone and hands back naive values; PostgreSQL hands back
    the session's zone. Values are converted to UTC before binding (so SQLite's
    text ordering is also time ordering) and made aware UTC when read.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], Any] | None:
        """On SQLite, one step from datetime to the text SQLAlchemy's ``DATETIME`` stores.

        The same text as ``process_bind_param`` followed by that type's default storage
        format (``2025-03-03 09:00:00.000000``, always with microseconds), at a fraction
        of the cost: a run binds some 300 datetimes. Other backends are left as they are.
        """
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_datetime_text

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:  # taken to be UTC, as monitor.clock.ensure_utc does
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_datetime_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:  # taken to be UTC already
        return value.isoformat(" ", "microseconds")
    # Cheaper than .replace(tzinfo=None): cut the "+00:00" that UTC values end with.
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:-6]


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime(), dict[str, Any]: JSON(), list[Any]: JSON()}


class ProbeRunRow(Base):
    """One execution of a contract."""

    __tablename__ = "probe_runs"
    __table_args__ = (Index("ix_probe_runs_contract_started_at", "contract", "started_at"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    contract: Mapped[str] = mapped_column(String(NAME))
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(TOKEN))
    error_reason: Mapped[str | None] = mapped_column(String(REASON))
    error: Mapped[str | None] = mapped_column(Text)  # our message, never customer data
    sampled_by_stream: Mapped[dict[str, Any]]
    usage: Mapped[list[Any]]  # ConnectorUsage as dicts


class ObservationRow(Base):
    """One key in one target at one probe time. Pruned by age; nothing else is."""

    __tablename__ = "observations"
    __table_args__ = (
        Index("ix_observations_contract_target_observed_at", "contract", "target", "observed_at"),
        Index("ix_observations_observed_at", "observed_at"),  # retention deletes by age alone
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    run_id: Mapped[int] = mapped_column(ID, ForeignKey("probe_runs.id", ondelete="CASCADE"))
    contract: Mapped[str] = mapped_column(String(NAME))
    target: Mapped[str] = mapped_column(String(NAME))
    key: Mapped[str] = mapped_column(String(KEY))
    key_display: Mapped[str] = mapped_column(String(KEY))
    stream: Mapped[str] = mapped_column(String(TOKEN))
    kind: Mapped[str] = mapped_column(String(TOKEN))
    observed_at: Mapped[datetime]
    fields: Mapped[list[Any]]  # names of the fields that differed
    diffs: Mapped[list[Any]]  # FieldDiff as dicts: names, risk, direction; no values
    source_updated_at: Mapped[datetime | None]
    target_updated_at: Mapped[datetime | None]
    age_seconds: Mapped[float | None] = mapped_column(Double)
    age_is_lower_bound: Mapped[bool] = mapped_column(Boolean)
    out_of_budget: Mapped[bool] = mapped_column(Boolean)
    lag_seconds: Mapped[float | None] = mapped_column(Double)
    problems: Mapped[list[Any]]


class DivergenceRow(Base):
    """A record-level mismatch followed across runs; open while ``resolved_at`` is null.

    At most one open row per (contract, target, key): the store enforces it when
    recording, and the partial unique index is the backstop.
    """

    __tablename__ = "divergences"
    __table_args__ = (
        Index(
            "uq_divergences_open_key",
            "contract",
            "target",
            "key",
            unique=True,
            sqlite_where=column("resolved_at").is_(None),
            postgresql_where=column("resolved_at").is_(None),
        ),
        Index("ix_divergences_contract_resolved_at", "contract", "resolved_at"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    contract: Mapped[str] = mapped_column(String(NAME))
    target: Mapped[str] = mapped_column(String(NAME))
    key: Mapped[str] = mapped_column(String(KEY))
    key_display: Mapped[str] = mapped_column(String(KEY))
    kind: Mapped[str] = mapped_column(String(TOKEN))
    first_seen: Mapped[datetime]
    last_seen: Mapped[datetime]
    source_updated_at: Mapped[datetime | None]
    fields: Mapped[list[Any]]
    resolved_at: Mapped[datetime | None]
    lag_seconds: Mapped[float | None] = mapped_column(Double)
    resolution_seconds: Mapped[float | None] = mapped_column(Double)
    lag_is_lower_bound: Mapped[bool] = mapped_column(Boolean)


class HealthSnapshotRow(Base):
    """Health and budget verdict per contract × target at one probe time. Kept forever."""

    __tablename__ = "health_snapshots"
    __table_args__ = (
        Index("ix_health_snapshots_contract_target_at", "contract", "target", "at"),
        Index("ix_health_snapshots_at", "at"),  # reports read a week across all contracts
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    run_id: Mapped[int] = mapped_column(ID, ForeignKey("probe_runs.id", ondelete="CASCADE"))
    contract: Mapped[str] = mapped_column(String(NAME))
    target: Mapped[str] = mapped_column(String(NAME))
    at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(TOKEN))
    sampled: Mapped[int] = mapped_column(Integer)
    divergent: Mapped[int] = mapped_column(Integer)
    out_of_budget: Mapped[int] = mapped_column(Integer)
    conflicts: Mapped[int] = mapped_column(Integer)
    critical_conflicts: Mapped[int] = mapped_column(Integer)
    unreadable: Mapped[int] = mapped_column(Integer)
    by_kind: Mapped[dict[str, Any]]
    drift_ratio: Mapped[float | None] = mapped_column(Double)
    drift_low: Mapped[float | None] = mapped_column(Double)
    drift_high: Mapped[float | None] = mapped_column(Double)
    oob_ratio: Mapped[float | None] = mapped_column(Double)
    oob_low: Mapped[float | None] = mapped_column(Double)
    oob_high: Mapped[float | None] = mapped_column(Double)
    lag_p50: Mapped[float | None] = mapped_column(Double)
    lag_p95: Mapped[float | None] = mapped_column(Double)
    lag_p50_lower_bound: Mapped[bool] = mapped_column(Boolean)
    lag_p95_lower_bound: Mapped[bool] = mapped_column(Boolean)
    lag_samples: Mapped[int] = mapped_column(Integer)
    censored: Mapped[int] = mapped_column(Integer)
    at_risk: Mapped[dict[str, Any]]
    error: Mapped[str | None] = mapped_column(Text)
    error_reason: Mapped[str | None] = mapped_column(String(REASON))
    conditions: Mapped[list[Any]]  # verdict: BreachKind values true in this run
    streaks: Mapped[dict[str, Any]]  # verdict: condition -> consecutive runs
    breaching: Mapped[list[Any]]  # verdict: conditions held for at least ``hold`` runs
    hold: Mapped[int] = mapped_column(Integer)


class MetaRow(Base):
    """Facts about the store itself, e.g. the secret used to hash personal keys."""

    __tablename__ = "meta"

    key: Mapped[str] = mapped_column(String(REASON), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class IncidentRow(Base):
    """A breach followed from opened to acknowledged to resolved; ``facts``: the latest figures."""

    __tablename__ = "incidents"
    __table_args__ = (
        Index("ix_incidents_contract_target_kind", "contract", "target", "kind"),
        Index("ix_incidents_state", "state"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    contract: Mapped[str] = mapped_column(String(NAME))
    target: Mapped[str] = mapped_column(String(NAME))
    kind: Mapped[str] = mapped_column(String(TOKEN))
    state: Mapped[str] = mapped_column(String(TOKEN))
    opened_at: Mapped[datetime]
    last_breach_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(NAME))
    snoozed_until: Mapped[datetime | None]
    snoozed_by: Mapped[str | None] = mapped_column(String(NAME))
    resolved_at: Mapped[datetime | None]
    healthy_runs: Mapped[int] = mapped_column(Integer)
    reopened: Mapped[int] = mapped_column(Integer)
    facts: Mapped[dict[str, Any]]


class SilenceRow(Base):
    """Notifications matching (contract, target, kind; null matches any) are held back between the times."""

    __tablename__ = "silences"
    __table_args__ = (Index("ix_silences_ends_at", "ends_at"),)

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    contract: Mapped[str | None] = mapped_column(String(NAME))
    target: Mapped[str | None] = mapped_column(String(NAME))
    kind: Mapped[str | None] = mapped_column(String(TOKEN))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(NAME))
    comment: Mapped[str] = mapped_column(Text)


class NoticeRow(Base):
    """A notification in the outbox: written before it is sent (``monitor.alerting.outbox``)."""

    __tablename__ = "notices"
    __table_args__ = (
        Index("ix_notices_state_next", "state", "next_attempt_at"),
        Index("ix_notices_incident", "incident_id"),
        UniqueConstraint("uid"),
    )

    id: Mapped[int] = mapped_column(ID, primary_key=True)
    uid: Mapped[str] = mapped_column(String(TOKEN))
    incident_id: Mapped[int | None] = mapped_column(ID)
    kind: Mapped[str] = mapped_column(String(TOKEN))
    method: Mapped[str] = mapped_column(String(TOKEN))
    channel: Mapped[str] = mapped_column(String(NAME))
    parent_id: Mapped[int | None] = mapped_column(ID)
    text: Mapped[str] = mapped_column(Text)
    blocks: Mapped[list[Any]]
    created_at: Mapped[datetime]
    state: Mapped[str] = mapped_column(String(TOKEN))
    attempts: Mapped[int] = mapped_column(Integer)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)
    uncertain: Mapped[bool] = mapped_column(Boolean)
    sent_at: Mapped[datetime | None]
    sent_channel: Mapped[str | None] = mapped_column(String(NAME))
    ts: Mapped[str | None] = mapped_column(String(TOKEN))


class IncidentThreadRow(Base):
    """What an incident's thread has been told (``monitor.alerting.notices.Thread``, as JSON)."""

    __tablename__ = "incident_threads"
    __table_args__ = (Index("ix_incident_threads_closed", "closed"),)

    incident_id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=False)
    closed: Mapped[bool] = mapped_column(Boolean)
    told: Mapped[dict[str, Any]]
