"""The sql connector against real SQLite files (and PostgreSQL's refusal on a closed port)."""

from __future__ import annotations

import random
import socket
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from monitor.clock import FixedClock
from monitor.errors import ConnectorUnavailable, QueryError
from probes.base import ConnectorContext, EntityQuery
from probes.sql import SqlConnector, SqlSystemConfig

T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
Q = EntityQuery("stock", "sku", ("level",), "last_updated")


def _connector(tmp_path: Path, clock: FixedClock, **entity: object) -> SqlConnector:
    config = SqlSystemConfig.model_validate(
        {"kind": "sql", "url": "sqlite:///wms.db", "batch_size": 100,
         "entities": {"stock": {"table": "stock_levels", "timestamps": "iso", **entity}}}
    )
    return SqlConnector.open("wms", config, ConnectorContext(clock.sleep, clock.monotonic, tmp_path))


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "wms.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE stock_levels (sku TEXT PRIMARY KEY, level INTEGER, last_updated TEXT, note TEXT)")
        conn.executemany(
            "INSERT INTO stock_levels VALUES (?, ?, ?, NULL)",
            [(f"S{i:04d}", i, (T0 - timedelta(minutes=i)).isoformat()) for i in range(1000)],
        )
        conn.execute("INSERT INTO stock_levels VALUES ('BAD', 1, '12/11/2026 10:00', NULL)")
        conn.execute("INSERT INTO stock_levels VALUES ('NOTIME', 1, NULL, NULL)")
    conn.close()
    return path


def test_batched_lookups_use_one_query_per_batch(db: Path, tmp_path: Path) -> None:
    conn = _connector(tmp_path, FixedClock(T0))
    keys = [f"S{i:04d}" for i in range(0, 1000, 2)] + ["nope"]
    records = conn.read(Q, keys)
    assert len(records) == 500
    assert conn.usage().requests == 6  # 501 keys in batches of 100
    first = next(r for r in records if r.key == "S0002")
    assert first.fields == {"level": 2} and first.updated_at == T0 - timedelta(minutes=2)
    conn.close()


def test_unparseable_or_empty_updated_at_is_a_problem_not_an_exception(db: Path, tmp_path: Path) -> None:
    conn = _connector(tmp_path, FixedClock(T0))
    records = {r.key: r for r in conn.read(Q, ["BAD", "NOTIME"])}
    assert records["BAD"].problems == {"last_updated": "not an ISO 8601 timestamp"}
    assert records["NOTIME"].problems == {"last_updated": "empty"}
    assert "12/11" not in str(records["BAD"].problems)
    conn.close()


def test_changed_since_is_a_range_in_the_database(db: Path, tmp_path: Path) -> None:
    conn = _connector(tmp_path, FixedClock(T0))
    keys = conn.changed_since(Q, T0 - timedelta(minutes=9, seconds=30), limit=100)
    assert sorted(keys) == [f"S{i:04d}" for i in range(10)]
    assert conn.changed_since(Q, T0 - timedelta(days=30), limit=7) == [f"S{i:04d}" for i in range(7)]
    assert conn.changed_since(EntityQuery("stock", "sku", ("level",), None), T0, 10) == []
    conn.close()


def test_uniform_sample_is_drawn_by_the_database(db: Path, tmp_path: Path) -> None:
    conn = _connector(tmp_path, FixedClock(T0))
    first = conn.sample_keys(Q, 50, random.Random(1))
    second = conn.sample_keys(Q, 50, random.Random(1))
    assert len(set(first)) == 50 and first != second  # random in SQL, not a fixed prefix
    assert len(conn.sample_keys(Q, 5000, random.Random(1))) == 1002
    conn.close()


def test_a_query_entity_with_aliases(db: Path, tmp_path: Path) -> None:
    conn = _connector(tmp_path, FixedClock(T0), table=None,
                      query="SELECT sku, level * 2 AS level, last_updated FROM stock_levels WHERE sku LIKE 'S%'")
    [record] = conn.read(Q, ["S0021"])
    assert record.fields == {"level": 42}
    conn.close()


def test_a_missing_table_is_a_query_error_at_once(tmp_path: Path) -> None:
    (tmp_path / "wms.db").touch()
    clock = FixedClock(T0)
    conn = _connector(tmp_path, clock)
    with pytest.raises(QueryError) as info:
        conn.read(Q, ["S0001"])
    assert "no such table" in str(info.value) and info.value.attempts == 1
    assert clock.now() == T0  # not retried
    conn.close()


def test_an_unreachable_database_is_retried_then_unavailable(tmp_path: Path) -> None:
    with socket.socket() as s:  # a loopback port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    clock = FixedClock(T0)
    config = SqlSystemConfig.model_validate(
        {"kind": "sql", "url": f"postgresql+psycopg://u:hunter2@127.0.0.1:{port}/x", "retries": 3,
         "entities": {"stock": {"table": "stock_levels"}}}
    )
    conn = SqlConnector.open("erp", config, ConnectorContext(clock.sleep, clock.monotonic, tmp_path))
    with pytest.raises(ConnectorUnavailable) as info:
        conn.read(Q, ["S0001"])
    assert info.value.attempts == 3 and "after 3 attempts" in str(info.value)
    assert "hunter2" not in str(info.value)
    assert clock.now() > T0  # backed off on the injected clock, not the wall
    assert conn.usage().by_status == {"unavailable": 3}
    conn.close()


def test_config_errors_name_what_is_valid() -> None:
    with pytest.raises(ValueError, match="give exactly one of 'table' or 'query'"):
        SqlSystemConfig.model_validate({"kind": "sql", "url": "sqlite://", "entities": {"e": {}}})
    with pytest.raises(ValueError, match="unknown time zone .BST.; use an IANA name"):
        SqlSystemConfig.model_validate({"kind": "sql", "url": "sqlite://", "timezone": "BST", "entities": {"e": {"table": "t"}}})
