"""The measurement store: record probe runs, remember what the engine needs, read for reports.

One ``Store`` per process, built with ``Store.open(url)`` (SQLite file or PostgreSQL)
and passed to whoever needs it. Every write of a run is one transaction; every
SQLAlchemy or driver error leaves as ``monitor.errors.StoreError`` with one line
that never shows the URL's password. Nothing here reads the clock: times come
from the results recorded or from the caller.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any

from alembic.util import CommandError
from sqlalchemy import bindparam, delete, func, insert, make_url, select, update
from sqlalchemy.engine import URL, Connection, Engine
from sqlalchemy.exc import ArgumentError, IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from monitor.alerting.notices import ESCALATION, ROOT, Delivery, Method, Notice, NoticeKind, Thread
from monitor.errors import StoreError
from monitor.results import (
    DivergenceChanges,
    Health,
    Incident,
    IncidentChange,
    IncidentState,
    Observation,
    OpenDivergence,
    PriorState,
    ProbeResult,
    Resolution,
    Silence,
)
from monitor.store import week
from monitor.store.connect import create_store_engine, describe_error, upgrade_to_head
from monitor.store.mapping import (
    HealthRecord,
    RunRecord,
    apply_update,
    health_from_row,
    incident_from_row,
    incident_values,
    notice_from_row,
    notice_values,
    observation_from_row,
    observation_values,
    open_from_row,
    opened_values,
    resolution_from_row,
    resolution_values,
    resolved_values,
    run_from_row,
    run_values,
    silence_from_row,
    silence_values,
    snapshot_values,
    split_streaks,
    thread_from_row,
    thread_values,
    verdict_from_row,
)
from monitor.store.models import (
    Base,
    DivergenceRow,
    HealthSnapshotRow,
    IncidentRow,
    IncidentThreadRow,
    MetaRow,
    NoticeRow,
    ObservationRow,
    ProbeRunRow,
    SilenceRow,
)

__all__ = ["Store"]

WeekSnapshot = week.WeekSnapshot
WeekConflict = week.WeekConflict

RUNS = Base.metadata.tables[ProbeRunRow.__tablename__]
OBSERVATIONS = Base.metadata.tables[ObservationRow.__tablename__]
SNAPSHOTS = Base.metadata.tables[HealthSnapshotRow.__tablename__]
DIVERGENCES = Base.metadata.tables[DivergenceRow.__tablename__]
INCIDENTS = Base.metadata.tables[IncidentRow.__tablename__]
SILENCES = Base.metadata.tables[SilenceRow.__tablename__]
NOTICES = Base.metadata.tables[NoticeRow.__tablename__]
THREADS = Base.metadata.tables[IncidentThreadRow.__tablename__]


# What a probe run may write of an incident it already knows. People acknowledge and snooze
# (Slack's buttons, the CLI) while a run is under way: the run must not write back what it read
# before they did. It sets the state only when it changes it (resolved, reopened).
_RUN_COLUMNS = ("last_breach_at", "healthy_runs", "facts")
_STATE_COLUMNS = ("state", "resolved_at", "acknowledged_at", "acknowledged_by", "snoozed_until", "snoozed_by", "reopened")


def _write_incident(conn: Connection, incident: Incident, change: IncidentChange | None = None,
                    whole: bool = False) -> None:
    values = incident_values(incident)
    if incident.id is None:
        key = conn.execute(insert(INCIDENTS), values).inserted_primary_key
        assert key is not None  # a single-row insert always reports its key
        incident.id = int(key[0])
        return
    if not whole:
        columns: tuple[str, ...] = _RUN_COLUMNS
        if change is IncidentChange.RESOLVED:
            columns += ("state", "resolved_at")
        elif change is IncidentChange.REOPENED:
            columns += _STATE_COLUMNS
        values = {name: values[name] for name in columns}
    conn.execute(update(INCIDENTS).where(INCIDENTS.c.id == incident.id).values(values))

KEY_SECRET = "key_secret"
KEY_SECRET_BYTES = 32
DRIVERS = (
    "supported: sqlite:///path, or postgresql+psycopg://... with syncwatch[postgres] installed"
)


class Store:
    """Probe runs, observations, divergences and health snapshots in one SQL database."""

    def __init__(self, engine: Engine, url: URL) -> None:
        """Use ``Store.open``; this takes an engine whose schema is already at head."""
        self._engine = engine
        self._url = url
        self._key_secret: bytes | None = None

    # -- lifecycle ------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str) -> Store:
        """Connect to ``url`` (making a SQLite file's directory if missing); migrate to head."""
        try:
            parsed = make_url(url)
        except (ArgumentError, ValueError) as exc:  # the URL is not echoed: it may hold a password
            raise StoreError(
                "cannot open the store: the database URL is not valid "
                "(e.g. sqlite:///var/syncwatch.db or postgresql+psycopg://user@host:5432/syncwatch)"
            ) from exc
        shown = parsed.render_as_string(hide_password=True)
        engine: Engine | None = None
        try:
            engine = create_store_engine(parsed)
            upgrade_to_head(engine)
        except (SQLAlchemyError, CommandError, OSError, ImportError) as exc:
            if engine is not None:
                engine.dispose()
            reason = describe_error(exc, parsed)
            if isinstance(exc, ImportError):
                reason = f"its database driver is not installed ({reason}); {DRIVERS}"
            raise StoreError(f"cannot open the store at {shown}: {reason}") from exc
        return cls(engine, parsed)

    def close(self) -> None:
        """Close every pooled connection; call once the store is no longer needed."""
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def engine(self) -> Engine:
        """The underlying engine, for diagnostics and tests; the store's methods are the API."""
        return self._engine

    @property
    def url(self) -> str:
        """The database URL with its password hidden, fit for logs and messages."""
        return self._url.render_as_string(hide_password=True)

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        try:
            yield
        except SQLAlchemyError as exc:
            raise StoreError(
                f"store {self.url}: could not {doing}: {describe_error(exc, self._url)}"
            ) from exc

    # -- the key-hashing secret -----------------------------------------------------------

    def key_secret(self) -> bytes:
        """The store's secret for hashing personal keys: made once, at random, then always the same.

        Kept in the store so that keys hashed in one run match those of the next,
        while the store itself never holds a personal key in clear.
        """
        if self._key_secret is None:
            with self._errors("read or create the key-hashing secret"):
                self._key_secret = bytes.fromhex(self._load_or_create_secret())
        return self._key_secret

    def _load_or_create_secret(self) -> str:
        with Session(self._engine) as session:
            row = session.get(MetaRow, KEY_SECRET)
            if row is not None:
                return row.value
        try:
            with Session(self._engine) as session, session.begin():
                value = secrets.token_hex(KEY_SECRET_BYTES)
                session.add(MetaRow(key=KEY_SECRET, value=value))
            return value
        except IntegrityError:  # another process made it first: theirs wins
            with Session(self._engine) as session:
                return session.get_one(MetaRow, KEY_SECRET).value

    # -- writing --------------------------------------------------------------------------

    def record(self, result: ProbeResult, incidents: Sequence[Incident] = ()) -> int:
        """Persist a whole probe run in one transaction and return its id.

        The run, its observations, each target's health snapshot with its verdict,
        the divergence changes (opened, updated, resolved) and the incidents the run
        changed are written together; on any failure nothing is. New incidents get
        their ``id`` set.
        """
        doing = f"record the run of {result.contract!r} started {result.started_at.isoformat()}"
        with self._errors(doing), self._engine.begin() as conn:
            # Core statements: the ORM's unit of work cost more than the writes themselves.
            key = conn.execute(insert(RUNS), run_values(result)).inserted_primary_key
            assert key is not None  # a single-row insert always reports its key
            run_id: int = key[0]
            observations = [
                observation_values(run_id, result.contract, obs)
                for target in result.targets
                for obs in target.observations
            ]
            if observations:  # one executemany: a run holds hundreds of observations
                conn.execute(insert(OBSERVATIONS), observations)
            snapshots = [
                snapshot_values(run_id, result.contract, target.health, target.verdict)
                for target in result.targets
            ]
            if snapshots:
                conn.execute(insert(SNAPSHOTS), snapshots)
            apply_changes(conn, result.contract, result.changes)
            changes = {id(event.incident): event.change for event in result.incident_events}
            for incident in incidents:
                _write_incident(conn, incident, changes.get(id(incident)))
            return run_id

    # -- incidents and silences ---------------------------------------------------------------

    def incidents_to_track(self, contract: str, resolved_since: datetime) -> list[Incident]:
        """The contract's incidents not resolved, or resolved since ``resolved_since`` (they may reopen)."""
        stmt = select(IncidentRow).where(
            IncidentRow.contract == contract,
            (IncidentRow.state != IncidentState.RESOLVED.value) | (IncidentRow.resolved_at >= resolved_since),
        ).order_by(IncidentRow.id)
        with self._errors(f"read the incidents of {contract!r}"), Session(self._engine) as session:
            return [incident_from_row(row) for row in session.scalars(stmt)]

    def incidents(
        self, states: Iterable[IncidentState] | None = None, contract: str | None = None, limit: int = 100
    ) -> list[Incident]:
        """Incidents newest first, optionally only in ``states`` or of one contract."""
        stmt = select(IncidentRow).order_by(IncidentRow.opened_at.desc(), IncidentRow.id.desc()).limit(limit)
        if states is not None:
            stmt = stmt.where(IncidentRow.state.in_([s.value for s in states]))
        if contract is not None:
            stmt = stmt.where(IncidentRow.contract == contract)
        with self._errors("read the incidents"), Session(self._engine) as session:
            return [incident_from_row(row) for row in session.scalars(stmt)]

    def incident(self, incident_id: int) -> Incident | None:
        if not 0 < incident_id < 2**63:  # beyond any id the database can hold
            return None
        with self._errors(f"read incident {incident_id}"), Session(self._engine) as session:
            row = session.get(IncidentRow, incident_id)
            return incident_from_row(row) if row is not None else None

    def save_incident(self, incident: Incident) -> Incident:
        """Write one whole incident; return it with its id."""
        with self._errors(f"save incident {incident.id}"), self._engine.begin() as conn:
            _write_incident(conn, incident, whole=True)
        return incident

    def change_incident(self, incident_id: int, **values: Any) -> Incident | None:
        """Set some columns of an unresolved incident (an acknowledgement, a snooze, a resolution
        by hand) in one statement, so that a probe run writing at the same time loses nothing;
        return it as it is now, or None when there is no such unresolved incident."""
        allowed = {"state", "acknowledged_at", "acknowledged_by", "snoozed_until", "snoozed_by", "resolved_at", "facts"}
        if not values or set(values) - allowed:
            raise ValueError(f"change_incident sets {', '.join(sorted(allowed))}; got {', '.join(sorted(values))}")
        values = {k: (v.value if isinstance(v, IncidentState) else v) for k, v in values.items()}
        with self._errors(f"change incident {incident_id}"), self._engine.begin() as conn:
            done = conn.execute(
                update(INCIDENTS)
                .where(INCIDENTS.c.id == incident_id, INCIDENTS.c.state != IncidentState.RESOLVED.value)
                .values(values)
            ).rowcount
        return self.incident(incident_id) if done else None

    # -- small facts the service keeps (the meta table) ------------------------------------------

    def claim(self, key: str, value: str) -> bool:
        """Record ``key`` once: True for the caller that recorded it, False when it was there
        already (another process, an earlier run). For "do this once" (publish a week's report)."""
        if key == KEY_SECRET:
            raise ValueError("that key is the store's own")
        try:
            with self._engine.begin() as conn:
                conn.execute(insert(MetaRow), {"key": key, "value": value})
        except IntegrityError:
            return False
        except SQLAlchemyError as exc:
            raise StoreError(f"could not record {key!r}: {describe_error(exc)}") from exc
        return True

    def release(self, key: str) -> None:
        """Forget a claim (the work it stood for failed; let the next attempt claim it)."""
        with self._errors(f"forget {key!r}"), self._engine.begin() as conn:
            conn.execute(delete(MetaRow).where(MetaRow.key == key))

    def claimed(self, key: str) -> str | None:
        with self._errors(f"read {key!r}"), Session(self._engine) as session:
            row = session.get(MetaRow, key)
            return row.value if row is not None else None

    # -- reads for reports (monitor.store.week) ------------------------------------------------

    def week_snapshots(self, start: datetime, end: datetime, contract: str | None = None) -> list[WeekSnapshot]:
        """Health snapshots in [start, end) as light rows, by contract, target and time."""
        with self._errors("read the health snapshots for a report"):
            return week.snapshots(self._engine, start, end, contract)

    def week_snapshot_totals(self, start: datetime, end: datetime) -> tuple[int, int]:
        with self._errors("read the health snapshots for a report"):
            return week.snapshot_totals(self._engine, start, end)

    def week_incidents(self, start: datetime, end: datetime) -> list[Incident]:
        with self._errors("read the incidents for a report"):
            return week.incidents(self._engine, start, end)

    def week_conflicts(self, start: datetime, end: datetime) -> list[WeekConflict]:
        with self._errors("read the conflicts for a report"):
            return week.conflicts(self._engine, start, end)

    # -- notifications: the outbox and what each thread was told ------------------------------

    def add_notices(self, thread: Thread, notices: Sequence[Notice]) -> None:
        """Queue ``notices`` and save ``thread`` in one transaction. Planned references to the
        thread's root or escalation post (``parent`` ROOT/ESCALATION) become notice ids; a new
        root or escalation post becomes the thread's. Notices get their ``id``."""
        with self._errors(f"queue notices of incident {thread.incident_id}"), self._engine.begin() as conn:
            for notice in notices:
                if notice.parent == ROOT:
                    notice.parent_id = thread.root_id
                elif notice.parent == ESCALATION:
                    notice.parent_id = thread.escalation_id
                key = conn.execute(insert(NOTICES), notice_values(notice)).inserted_primary_key
                assert key is not None
                notice.id = int(key[0])
                if notice.method is Method.POST and notice.kind in (NoticeKind.OPENED, NoticeKind.REOPENED):
                    thread.root_id = notice.id
                elif notice.method is Method.POST and notice.kind is NoticeKind.ESCALATED:
                    thread.escalation_id = notice.id
            values = thread_values(thread)
            done = conn.execute(
                update(THREADS).where(THREADS.c.incident_id == thread.incident_id).values(values)
            ).rowcount
            if not done:
                conn.execute(insert(THREADS), values)

    def incidents_to_notify(self) -> list[tuple[Incident, Thread | None]]:
        """Incidents the notifier must look at: unresolved ones, and resolved ones whose thread
        has not been told so yet; with their thread, if any. Oldest first."""
        open_threads = select(THREADS.c.incident_id).where(THREADS.c.closed.is_(False))
        stmt = (
            select(IncidentRow, IncidentThreadRow)
            .outerjoin(IncidentThreadRow, IncidentThreadRow.incident_id == IncidentRow.id)
            .where((IncidentRow.state != IncidentState.RESOLVED.value) | IncidentRow.id.in_(open_threads))
            .order_by(IncidentRow.id)
        )
        with self._errors("read the incidents to notify"), Session(self._engine) as session:
            return [
                (incident_from_row(incident), thread_from_row(thread) if thread is not None else None)
                for incident, thread in session.execute(stmt)
            ]

    def thread(self, incident_id: int) -> Thread | None:
        with self._errors(f"read the thread of incident {incident_id}"), Session(self._engine) as session:
            row = session.get(IncidentThreadRow, incident_id)
            return thread_from_row(row) if row is not None else None

    def pending_notices(self, limit: int = 500) -> list[Notice]:
        """Notices not yet sent (due or waiting to try again), in the order they were queued."""
        stmt = (
            select(NoticeRow)
            .where(NoticeRow.state == Delivery.PENDING.value)
            .order_by(NoticeRow.id)
            .limit(limit)
        )
        with self._errors("read the outbox"), Session(self._engine) as session:
            return [notice_from_row(row) for row in session.scalars(stmt)]

    def notices(self, states: Iterable[Delivery] | None = None, incident_id: int | None = None,
                limit: int = 1000, latest: bool = False) -> list[Notice]:
        """Notices in the order they were queued, optionally only in ``states`` or of one incident;
        ``latest``: the last ``limit`` of them rather than the first."""
        order = NoticeRow.id.desc() if latest else NoticeRow.id
        stmt = select(NoticeRow).order_by(order).limit(limit)
        if states is not None:
            stmt = stmt.where(NoticeRow.state.in_([s.value for s in states]))
        if incident_id is not None:
            stmt = stmt.where(NoticeRow.incident_id == incident_id)
        with self._errors("read the outbox"), Session(self._engine) as session:
            found = [notice_from_row(row) for row in session.scalars(stmt)]
        return found[::-1] if latest else found

    def notice(self, notice_id: int) -> Notice | None:
        with self._errors(f"read notice {notice_id}"), Session(self._engine) as session:
            row = session.get(NoticeRow, notice_id)
            return notice_from_row(row) if row is not None else None

    def update_notice(self, notice_id: int, **values: Any) -> None:
        """Record a delivery attempt's outcome (state, attempts, next_attempt_at, last_error,
        uncertain, sent_at, sent_channel, ts)."""
        values = {k: (v.value if isinstance(v, Delivery) else v) for k, v in values.items()}
        with self._errors(f"update notice {notice_id}"), self._engine.begin() as conn:
            conn.execute(update(NOTICES).where(NOTICES.c.id == notice_id).values(values))

    def retry_failed_notices(self, now: datetime) -> int:
        """Put every failed notice back in the queue; return how many."""
        with self._errors("retry failed notices"), self._engine.begin() as conn:
            return int(conn.execute(
                update(NOTICES).where(NOTICES.c.state == Delivery.FAILED.value)
                .values(state=Delivery.PENDING.value, next_attempt_at=now, uncertain=True)
            ).rowcount)

    def channel_id(self, channel: str) -> str | None:
        """The channel ID Slack answered for ``channel`` (a name) when last posted to, if ever."""
        stmt = (
            select(NoticeRow.sent_channel)
            .where(NoticeRow.channel == channel, NoticeRow.sent_channel.is_not(None))
            .order_by(NoticeRow.id.desc())
            .limit(1)
        )
        with self._errors("read the outbox"), Session(self._engine) as session:
            return session.scalar(stmt)

    def add_silence(self, silence: Silence) -> Silence:
        with self._errors("add a silence"), self._engine.begin() as conn:
            key = conn.execute(insert(SILENCES), silence_values(silence)).inserted_primary_key
            assert key is not None
            silence.id = int(key[0])
        return silence

    def silences(self, active_at: datetime | None = None) -> list[Silence]:
        """Every silence, or only those in force at ``active_at``; soonest ending first."""
        stmt = select(SilenceRow).order_by(SilenceRow.ends_at, SilenceRow.id)
        if active_at is not None:
            stmt = stmt.where(SilenceRow.starts_at <= active_at, SilenceRow.ends_at > active_at)
        with self._errors("read the silences"), Session(self._engine) as session:
            return [silence_from_row(row) for row in session.scalars(stmt)]

    def remove_silence(self, silence_id: int) -> bool:
        with self._errors(f"remove silence {silence_id}"), self._engine.begin() as conn:
            return bool(conn.execute(delete(SilenceRow).where(SilenceRow.id == silence_id)).rowcount)

    def prune(self, now: datetime, observations_older_than: timedelta) -> int:
        """Delete observations older than ``now - observations_older_than``; return how many.

        Runs, divergences and health snapshots are kept: they are small and the
        weekly report and budgets history read them.
        """
        cutoff = now - observations_older_than
        with self._errors("prune old observations"), self._engine.begin() as conn:
            deleted = conn.execute(
                delete(ObservationRow).where(ObservationRow.observed_at < cutoff)
            )
            return max(deleted.rowcount, 0)

    # -- what the engine remembers between runs -------------------------------------------

    def prior_state(self, contract: str, targets: Sequence[str] | None = None) -> PriorState:
        """Open divergences by (target, key), latest streaks and evidence per target, the last run's start."""
        with (
            self._errors(f"read the prior state of {contract!r}"),
            Session(self._engine) as session,
        ):
            divergences = map(open_from_row, _open_rows(session, contract))
            open_ = {(d.target, d.key): d for d in divergences}
            streaks, evidence = {}, {}
            for row in _latest_snapshots(session, contract, targets):
                streaks[row.target], evidence[row.target], _ = split_streaks(dict(row.streaks))
            last_run_at = session.scalar(
                select(func.max(ProbeRunRow.started_at)).where(ProbeRunRow.contract == contract)
            )
        return PriorState(open=open_, streaks=streaks, evidence=evidence, last_run_at=last_run_at)

    # -- reading for the CLI and reports --------------------------------------------------

    def runs(self, contract: str, limit: int = 20) -> list[RunRecord]:
        """The contract's latest runs, newest first."""
        stmt = (
            select(ProbeRunRow)
            .where(ProbeRunRow.contract == contract)
            .order_by(ProbeRunRow.started_at.desc(), ProbeRunRow.id.desc())
            .limit(limit)
        )
        with self._errors(f"read the runs of {contract!r}"), Session(self._engine) as session:
            return [run_from_row(row) for row in session.scalars(stmt)]

    def observations(self, run_id: int) -> list[Observation]:
        """A run's observations in the order recorded ([] once pruned)."""
        stmt = (
            select(ObservationRow)
            .where(ObservationRow.run_id == run_id)
            .order_by(ObservationRow.id)
        )
        with (
            self._errors(f"read the observations of run {run_id}"),
            Session(self._engine) as session,
        ):
            return [observation_from_row(row) for row in session.scalars(stmt)]

    def latest_records(self, contract: str, targets: Sequence[str] | None = None) -> list[HealthRecord]:
        """The most recent health and verdict of each of the contract's targets (pass them: faster)."""
        with self._errors(f"read the health of {contract!r}"), Session(self._engine) as session:
            return [
                HealthRecord(row.run_id, health_from_row(row), verdict_from_row(row))
                for row in _latest_snapshots(session, contract, targets)
            ]

    def latest_health(self, contract: str) -> list[Health]:
        """The most recent health of each of the contract's targets, by target name."""
        with self._errors(f"read the health of {contract!r}"), Session(self._engine) as session:
            return [health_from_row(row) for row in _latest_snapshots(session, contract)]

    def health_history(
        self, contract: str, since: datetime, until: datetime | None = None
    ) -> list[HealthRecord]:
        """Health snapshots with their verdicts taken in ``[since, until)``, oldest first."""
        stmt = select(HealthSnapshotRow).where(
            HealthSnapshotRow.contract == contract, HealthSnapshotRow.at >= since
        )
        if until is not None:
            stmt = stmt.where(HealthSnapshotRow.at < until)
        stmt = stmt.order_by(HealthSnapshotRow.at, HealthSnapshotRow.target, HealthSnapshotRow.id)
        with (
            self._errors(f"read the health history of {contract!r}"),
            Session(self._engine) as session,
        ):
            return [
                HealthRecord(
                    run_id=row.run_id, health=health_from_row(row), verdict=verdict_from_row(row)
                )
                for row in session.scalars(stmt)
            ]

    def open_divergences(self, contract: str) -> list[OpenDivergence]:
        """Divergences of the contract still open, oldest first sighting first."""
        with (
            self._errors(f"read the open divergences of {contract!r}"),
            Session(self._engine) as session,
        ):
            return [open_from_row(row) for row in _open_rows(session, contract)]

    def resolutions(
        self, contract: str, since: datetime, until: datetime | None = None
    ) -> list[Resolution]:
        """Divergences resolved in ``[since, until)``, in the order they were resolved."""
        stmt = select(DivergenceRow).where(
            DivergenceRow.contract == contract, DivergenceRow.resolved_at >= since
        )
        if until is not None:
            stmt = stmt.where(DivergenceRow.resolved_at < until)
        stmt = stmt.order_by(DivergenceRow.resolved_at, DivergenceRow.id)
        with (
            self._errors(f"read the resolutions of {contract!r}"),
            Session(self._engine) as session,
        ):
            return [resolution_from_row(row) for row in session.scalars(stmt)]


def apply_changes(conn: Connection, contract: str, changes: DivergenceChanges) -> None:
    """Open, update and close divergence rows, keeping at most one open row per (target, key).

    The engine works from ``prior_state``, so its changes normally match the open
    rows. Where they do not (a store restored from backup, a second writer), the
    store stays consistent rather than losing the run: an "opened" key already
    open is merged into the open row (earlier first sighting kept), an "updated"
    key not open is opened, and a resolution of a key never seen open is recorded
    closed so reports still count it.
    """
    if not (changes.opened or changes.updated or changes.resolved):
        return
    table = DIVERGENCES
    stmt = select(table.c.id, table.c.target, table.c.key, table.c.first_seen, table.c.last_seen)
    stmt = stmt.where(table.c.contract == contract, table.c.resolved_at.is_(None))
    open_rows = {(row.target, row.key): row for row in conn.execute(stmt)}
    closing: list[dict[str, Any]] = []
    closed_unseen: list[dict[str, Any]] = []
    for res in changes.resolved:
        row = open_rows.pop((res.target, res.key), None)
        if row is None:
            closed_unseen.append(resolved_values(contract, res))
        else:
            closing.append({"row_id": row.id, **resolution_values(res)})
    _write_divergences(conn, closing, closed_unseen)  # before anything below reopens a key
    updating: dict[tuple[str, str], dict[str, Any]] = {}
    opening: dict[tuple[str, str], dict[str, Any]] = {}
    for div in [*changes.updated, *changes.opened]:
        where = (div.target, div.key)
        row = open_rows.get(where)
        if where in opening:
            apply_update(opening[where], div)
        elif row is None:
            opening[where] = opened_values(contract, div)
        else:
            values = updating.setdefault(
                where, {"row_id": row.id, "first_seen": row.first_seen, "last_seen": row.last_seen}
            )
            apply_update(values, div)
    _write_divergences(conn, list(updating.values()), list(opening.values()))


def _write_divergences(
    conn: Connection, updates: list[dict[str, Any]], inserts: list[dict[str, Any]]
) -> None:
    """Update rows by ``row_id`` (each dict's other keys are the columns set), then insert."""
    if updates:
        by_id = DIVERGENCES.c.id == bindparam("row_id")
        conn.execute(update(DIVERGENCES).where(by_id), updates)
    if inserts:
        conn.execute(insert(DIVERGENCES), inserts)


def _open_rows(session: Session, contract: str) -> Sequence[DivergenceRow]:
    stmt = (
        select(DivergenceRow)
        .where(DivergenceRow.contract == contract, DivergenceRow.resolved_at.is_(None))
        .order_by(DivergenceRow.first_seen, DivergenceRow.id)
    )
    return session.scalars(stmt).all()


def _latest_snapshots(
    session: Session, contract: str, targets: Sequence[str] | None = None
) -> Sequence[HealthSnapshotRow]:
    """Each target's most recent snapshot (latest ``at``; the later-recorded on a tie).

    With the contract's ``targets`` known, one index seek each on (contract, target, at):
    constant time however long the history. Without, a window over the contract's snapshots.
    """
    if targets is not None:
        rows = []
        for target in sorted(set(targets)):
            row = session.scalars(
                select(HealthSnapshotRow)
                .where(HealthSnapshotRow.contract == contract, HealthSnapshotRow.target == target)
                .order_by(HealthSnapshotRow.at.desc(), HealthSnapshotRow.id.desc())
                .limit(1)
            ).first()
            if row is not None:
                rows.append(row)
        return rows
    rank = (
        func.row_number()
        .over(
            partition_by=HealthSnapshotRow.target,
            order_by=(HealthSnapshotRow.at.desc(), HealthSnapshotRow.id.desc()),
        )
        .label("rank")
    )
    ranked = (
        select(HealthSnapshotRow.id, rank).where(HealthSnapshotRow.contract == contract).subquery()
    )
    stmt = (
        select(HealthSnapshotRow)
        .join(ranked, ranked.c.id == HealthSnapshotRow.id)
        .where(ranked.c.rank == 1)
        .order_by(HealthSnapshotRow.target)
    )
    return session.scalars(stmt).all()
