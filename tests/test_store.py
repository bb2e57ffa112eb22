"""The measurement store on SQLite and, when SYNCWATCH_TEST_POSTGRES_URL is set, PostgreSQL."""

from __future__ import annotations

import math
import socket
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session
from store_fixtures import (
    CONTRACT,
    SHOPIFY,
    T0,
    WMS,
    count_rows,
    make_result,
    obs,
    opened,
    store_fixture,  # noqa: F401 (the ``store`` fixture)
    store_url_fixture,  # noqa: F401 (the ``store_url`` fixture)
)

from monitor.errors import StoreError
from monitor.results import (
    ConnectorUsage,
    DivergenceChanges,
    FieldDiff,
    Kind,
    Outcome,
    Resolution,
    Stream,
)
from monitor.store import Store
from monitor.store import store as store_module
from monitor.store.mapping import opened_values
from monitor.store.models import Base

BST = timezone(timedelta(hours=1), "BST")
LATER = T0 + timedelta(minutes=10)


def assert_utc(value: datetime | None) -> None:
    assert value is not None and value.tzinfo is not None and value.utcoffset() == timedelta(0)


def resolution(key: str, at: datetime = LATER, kind: Kind = Kind.STALE) -> Resolution:
    return Resolution(WMS, key, key, kind, T0, at, T0 - timedelta(minutes=5), 900.0, 600.0)


# -- a whole run, there and back -----------------------------------------------------------


def test_a_recorded_run_reads_back_whole_with_aware_utc_times(store: Store) -> None:
    at = T0.astimezone(BST)  # aware but not UTC: stored as the same instant
    stale = obs(
        WMS,
        "SKU-2",
        Kind.STALE,
        at,
        diffs=(
            FieldDiff("available", risk="oversell", direction="target_higher", at_risk=True),
            FieldDiff("price", critical=True),
        ),
        source_updated_at=T0 - timedelta(minutes=20),
        target_updated_at=T0 - timedelta(hours=1),
        age_seconds=1200.0,
        out_of_budget=True,
    )
    observations = [
        obs(WMS, "SKU-1", at=at, stream=Stream.RECENT, lag_seconds=4.25, source_updated_at=at),
        stale,
        obs(SHOPIFY, "SKU-3", Kind.UNREADABLE, at, problems=("target.available: not a number",)),
        obs(
            SHOPIFY,
            "c-9f2e",
            Kind.MISSING,
            at,
            key_display="j***@e***.com",
            age_is_lower_bound=True,
        ),
    ]
    result = make_result(at, observations, streaks={WMS: {"out_of_budget": 1}})

    run_id = store.record(result)

    [run] = store.runs(CONTRACT)
    assert (run.id, run.outcome, run.sampled_by_stream, run.usage) == (
        run_id,
        Outcome.DIVERGENT,
        result.sampled_by_stream,
        result.usage,
    )
    assert (run.started_at, run.finished_at) == (T0, T0 + timedelta(seconds=4))
    back = store.observations(run_id)
    assert back == observations
    for value in (run.started_at, back[0].observed_at, back[1].source_updated_at):
        assert_utc(value)
    health = store.latest_health(CONTRACT)
    assert health == sorted((t.health for t in result.targets), key=lambda h: h.target)
    assert_utc(health[0].at)
    assert (count_rows(store, "observations"), count_rows(store, "health_snapshots")) == (4, 2)
    with Session(store.engine) as session:  # names of fields only, never values
        stored = session.scalars(sa.select(Base.metadata.tables["observations"].c.fields)).all()
    assert stored == [[], ["available", "price"], [], []]


def test_a_failed_probe_run_keeps_its_error(store: Store) -> None:
    result = make_result(T0, [], targets=(WMS,))
    result.outcome, result.error, result.error_reason = Outcome.ERROR, "erp: timed out", "timeout"

    store.record(result)

    [run] = store.runs(CONTRACT)
    assert (run.outcome, run.error, run.error_reason) == (
        Outcome.ERROR,
        "erp: timed out",
        "timeout",
    )


def test_runs_are_newest_first_and_limited(store: Store) -> None:
    for minutes in (0, 10, 20):
        store.record(make_result(T0 + timedelta(minutes=minutes), [obs(WMS, "SKU-1")]))
    store.record(make_result(T0, [obs(WMS, "SKU-1")], contract="orders-shopify-to-erp"))

    runs = store.runs(CONTRACT, limit=2)

    assert [r.started_at for r in runs] == [T0 + timedelta(minutes=20), LATER]


def test_time_filters_compare_instants_whatever_the_zone(store: Store) -> None:
    at = T0.astimezone(BST)
    store.record(make_result(at, [obs(WMS, "a", at=at)]))

    assert store.health_history(CONTRACT, since=T0 + timedelta(seconds=1)) == []
    [record] = store.health_history(CONTRACT, since=at, until=at + timedelta(seconds=1))
    assert record.health.at.tzinfo == UTC


def test_json_values_read_back_identical_unicode_floats_and_all(store: Store) -> None:
    awkward = ("é ü ß – ‘quoted’ \"escaped\" \\ 😀 \u2028 null", "a\tb")
    floats = (0.1 + 0.2, 1e300, 5e-324, -0.0, 2.500000057220459, 1e16, 123456789.123)
    result = make_result(
        T0,
        [obs(WMS, "SKU-é", key_display="Ünïcødé 😀", problems=awkward, fields=("prix_€", "null"))],
    )
    result.sampled_by_stream = {"récent": 2**63 - 1, "uniform": -(2**63)}
    result.usage = [
        ConnectorUsage(f"système-{i}", i, {"200": i, "429": 0}, waited_seconds=f, cost_points=-f)
        for i, f in enumerate(floats)
    ]

    run_id = store.record(result)

    [run] = store.runs(CONTRACT)
    assert (run.sampled_by_stream, run.usage) == (result.sampled_by_stream, result.usage)
    assert math.copysign(1.0, run.usage[3].waited_seconds) == -1.0  # -0.0 stays negative
    assert store.observations(run_id) == result.targets[0].observations


# -- divergences and what the engine remembers ------------------------------------------------


def test_divergence_lifecycle_opened_updated_resolved(store: Store) -> None:
    first = opened("SKU-1")
    store.record(
        make_result(T0, [obs(WMS, "SKU-1", Kind.STALE)], changes=DivergenceChanges([first]))
    )
    assert store.prior_state(CONTRACT).open == {(WMS, "SKU-1"): first}

    update = opened(
        "SKU-1", LATER, kind=Kind.CONFLICT, first_seen=T0, fields=("available", "price")
    )
    changes = DivergenceChanges(updated=[update])
    store.record(make_result(LATER, [obs(WMS, "SKU-1", Kind.CONFLICT, LATER)], changes=changes))
    assert store.prior_state(CONTRACT).open == {(WMS, "SKU-1"): update}
    assert store.open_divergences(CONTRACT) == [update]

    end = LATER + timedelta(minutes=10)
    closing = resolution("SKU-1", end, Kind.CONFLICT)
    changes = DivergenceChanges(resolved=[closing])
    store.record(make_result(end, [obs(WMS, "SKU-1", at=end)], changes=changes))

    state = store.prior_state(CONTRACT)
    assert (state.open, state.last_run_at) == ({}, end)
    assert_utc(state.last_run_at)
    assert store.open_divergences(CONTRACT) == []
    assert store.resolutions(CONTRACT, since=T0) == [closing]
    assert store.resolutions(CONTRACT, since=T0, until=end) == []
    assert count_rows(store, "divergences") == 1


def test_at_most_one_open_divergence_per_key(store: Store) -> None:
    store.record(make_result(T0, [], targets=(WMS,), changes=DivergenceChanges([opened("SKU-1")])))
    # An engine working from a stale prior state opens the same key again: merged, not doubled.
    again = opened("SKU-1", LATER, kind=Kind.MISSING)
    store.record(make_result(LATER, [], targets=(WMS,), changes=DivergenceChanges([again])))

    [only] = store.open_divergences(CONTRACT)
    assert (only.first_seen, only.last_seen, only.kind) == (T0, LATER, Kind.MISSING)

    # The partial unique index is the backstop below the store's own rule.
    divergences = Base.metadata.tables["divergences"]
    with pytest.raises(IntegrityError), store.engine.begin() as conn:
        conn.execute(sa.insert(divergences), opened_values(CONTRACT, again))


def test_a_key_resolved_and_opened_again_in_one_run_is_two_rows(store: Store) -> None:
    store.record(make_result(T0, [], targets=(WMS,), changes=DivergenceChanges([opened("SKU-1")])))
    closing = resolution("SKU-1")
    changes = DivergenceChanges(opened=[opened("SKU-1", LATER)], resolved=[closing])

    store.record(make_result(LATER, [], targets=(WMS,), changes=changes))

    assert store.resolutions(CONTRACT, since=T0) == [closing]
    assert [d.first_seen for d in store.open_divergences(CONTRACT)] == [LATER]


def test_a_resolution_never_seen_open_is_still_recorded(store: Store) -> None:
    closing = resolution("SKU-7")

    store.record(
        make_result(LATER, [], targets=(WMS,), changes=DivergenceChanges(resolved=[closing]))
    )

    assert store.resolutions(CONTRACT, since=T0) == [closing]
    assert store.open_divergences(CONTRACT) == []


def test_an_update_of_a_key_not_open_opens_it_and_repeats_merge(store: Store) -> None:
    early = opened("SKU-1", LATER, first_seen=T0, fields=("price",))
    late = opened("SKU-1", LATER + timedelta(minutes=5), kind=Kind.CONFLICT)
    changes = DivergenceChanges(opened=[late], updated=[early, opened("SKU-2", LATER)])

    store.record(make_result(LATER, [], targets=(WMS,), changes=changes))

    [one, two] = store.open_divergences(CONTRACT)
    assert (one.key, one.first_seen, one.last_seen, one.kind, one.fields) == (
        "SKU-1",
        T0,
        LATER + timedelta(minutes=5),
        Kind.CONFLICT,
        ("available",),
    )
    assert two == opened("SKU-2", LATER)


def test_streaks_are_carried_per_target_from_the_latest_snapshot(store: Store) -> None:
    both = [obs(WMS, "a"), obs(SHOPIFY, "a")]
    store.record(
        make_result(T0, both, streaks={WMS: {"out_of_budget": 1}, SHOPIFY: {"conflict": 1}})
    )
    store.record(make_result(LATER, [obs(WMS, "a", at=LATER)], streaks={WMS: {"out_of_budget": 2}}))
    other = make_result(
        LATER, [obs(WMS, "a")], contract="other", streaks={WMS: {"probe_failing": 5}}
    )
    store.record(other)

    state = store.prior_state(CONTRACT)

    assert state.streaks == {WMS: {"out_of_budget": 2}, SHOPIFY: {"conflict": 1}}
    assert state.last_run_at == LATER
    # Given the targets (one index seek each), the same answer; a target never recorded is absent.
    assert store.prior_state(CONTRACT, [SHOPIFY, WMS, "crm"]).streaks == state.streaks
    assert [r.verdict.target for r in store.latest_records(CONTRACT, [WMS, SHOPIFY])] == [SHOPIFY, WMS]
    assert store.latest_records(CONTRACT, [WMS])[0].verdict.streaks == {"out_of_budget": 2}
    [_, wms_before, wms_now] = store.health_history(CONTRACT, since=T0)
    assert wms_before.verdict.streaks == {"out_of_budget": 1}
    assert wms_now.verdict.breaching == ("out_of_budget",)


def test_prior_state_of_an_unknown_contract_is_empty(store: Store) -> None:
    state = store.prior_state("never-run")
    assert (state.open, state.streaks, state.last_run_at) == ({}, {}, None)
    assert store.latest_health("never-run") == []


# -- all or nothing --------------------------------------------------------------------------


def test_a_constraint_violation_rolls_back_the_whole_run(store: Store) -> None:
    keyless = obs(WMS, None)  # type: ignore[arg-type]
    bad = make_result(
        T0, [obs(WMS, "SKU-1"), keyless], changes=DivergenceChanges([opened("SKU-1")])
    )

    with pytest.raises(StoreError, match=f"could not record the run of '{CONTRACT}'") as caught:
        store.record(bad)

    assert "\n" not in str(caught.value)
    for table in ("probe_runs", "observations", "health_snapshots", "divergences"):
        assert count_rows(store, table) == 0, table


def test_a_failure_after_some_inserts_leaves_no_half_written_run(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.record(
        make_result(
            T0, [obs(WMS, "SKU-1", Kind.STALE)], changes=DivergenceChanges([opened("SKU-1")])
        )
    )
    observations_seen: list[int | None] = []

    def fail_midway(conn: sa.Connection, contract: str, changes: DivergenceChanges) -> None:
        count = sa.select(sa.func.count()).select_from(Base.metadata.tables["observations"])
        observations_seen.append(conn.scalar(count))
        raise OperationalError("UPDATE divergences ...", {}, Exception("disk I/O error"))

    monkeypatch.setattr(store_module, "apply_changes", fail_midway)
    second = [obs(WMS, "SKU-1", at=LATER), obs(WMS, "SKU-2", at=LATER)]
    changes = DivergenceChanges(resolved=[resolution("SKU-1")])

    with pytest.raises(StoreError, match="disk I/O error"):
        store.record(make_result(LATER, second, changes=changes))

    assert observations_seen == [3]  # the second run's rows were written in the transaction,
    assert [run.started_at for run in store.runs(CONTRACT)] == [T0]  # and went with it
    assert (count_rows(store, "observations"), count_rows(store, "health_snapshots")) == (1, 1)
    assert list(store.prior_state(CONTRACT).open) == [(WMS, "SKU-1")]


# -- retention -------------------------------------------------------------------------------


def test_prune_removes_only_old_observations(store: Store) -> None:
    two = [obs(WMS, "a"), obs(WMS, "b", Kind.STALE)]
    old = store.record(make_result(T0, two, changes=DivergenceChanges([opened("b")])))
    now = T0 + timedelta(days=10)
    new = store.record(make_result(now, [obs(WMS, "a", at=now)]))

    assert store.prune(now, observations_older_than=timedelta(days=7)) == 2

    assert store.observations(old) == [] and len(store.observations(new)) == 1
    assert len(store.runs(CONTRACT)) == 2
    assert len(store.health_history(CONTRACT, since=T0)) == 2
    assert len(store.open_divergences(CONTRACT)) == 1
    assert store.prune(now, observations_older_than=timedelta(days=7)) == 0


# -- the store itself ------------------------------------------------------------------------


def test_key_secret_is_made_once_and_kept_across_reopen(store_url: str) -> None:
    with Store.open(store_url) as first:
        secret = first.key_secret()
        assert len(secret) == 32 and first.key_secret() == secret
    with Store.open(store_url) as again:
        assert again.key_secret() == secret


def test_migrations_and_models_agree(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert compare_metadata(context, Base.metadata) == []
        # Not vacuous: a column the migrations lack is seen.
        changed = sa.MetaData()
        for table in Base.metadata.tables.values():
            table.to_metadata(changed)
        changed.tables["meta"].append_column(sa.Column("extra", sa.Integer()))
        assert [diff[0] for diff in compare_metadata(context, changed)] == ["add_column"]


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there.db"
    with Store.open(f"sqlite:///{path}") as store, store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    assert path.exists()


def _closed_loopback_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_an_unreachable_database_is_a_store_error_without_the_password() -> None:
    pytest.importorskip("psycopg")
    port = _closed_loopback_port()

    with pytest.raises(StoreError) as caught:
        Store.open(f"postgresql+psycopg://syncwatch:hunter2secret@127.0.0.1:{port}/syncwatch")

    message = str(caught.value)
    assert "hunter2secret" not in message
    assert f"postgresql+psycopg://syncwatch:***@127.0.0.1:{port}/syncwatch" in message
    assert "\n" not in message


def test_an_invalid_url_is_a_store_error_that_does_not_echo_it() -> None:
    with pytest.raises(StoreError, match="database URL is not valid") as caught:
        Store.open("user:hunter2secret at somewhere")
    assert "hunter2secret" not in str(caught.value)


def test_an_unwritable_sqlite_location_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")

    with pytest.raises(StoreError, match="cannot open the store at sqlite:///"):
        Store.open(f"sqlite:///{blocker / 'syncwatch.db'}")


def test_a_store_from_a_newer_syncwatch_is_a_clear_store_error(store_url: str) -> None:
    with Store.open(store_url) as store, store.engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))

    with pytest.raises(StoreError, match=r"revision identified by '9999'.*newer syncwatch"):
        Store.open(store_url)
