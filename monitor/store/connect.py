"""Open a database for the store: an engine set up for its backend, its schema migrated to head.

Also the one place that turns SQLAlchemy, driver and Alembic errors into one-line
messages that never show the URL's password.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.util import CommandError
from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import URL, Engine
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

__all__ = [
    "MIGRATIONS",
    "alembic_config",
    "create_store_engine",
    "upgrade_to_head",
    "describe_error",
    "dumps_json",
]

MIGRATIONS = Path(__file__).parent / "migrations"

SQLITE_BUSY_TIMEOUT_MS = 5000  # writers wait this long for a lock instead of failing at once
POSTGRES_CONNECT_TIMEOUT_S = 10  # libpq waits for the OS (minutes) without one
MIGRATION_LOCK_ID = 0x73796E6377617463  # "syncwatc": the advisory lock held while migrating
ORJSON_AS_STDLIB = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_PASSTHROUGH_DATACLASS


def create_store_engine(url: URL) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with foreign keys; PostgreSQL with a timeout."""
    connect_args: dict[str, Any] = {}
    if url.get_backend_name() == "sqlite":
        _ensure_sqlite_directory(url)
    elif url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    engine = create_engine(
        url, pool_pre_ping=True, connect_args=connect_args, json_serializer=dumps_json
    )
    if url.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def dumps_json(value: Any) -> str:
    """JSON column values as text: orjson, or the standard library where orjson would differ.

    orjson refuses dict keys that are not exactly ``str`` and integers beyond 64 bits,
    writes NaN and infinities as ``null`` and would write datetimes and dataclasses,
    which ``json.dumps`` refuses. Such values (refused here, or ``null`` in the output)
    go through ``json.dumps`` as before, so every value reads back the same.
    """
    if not value and type(value) is list:  # most observations: no diffs, no problems
        return "[]"
    try:
        text = orjson.dumps(value, option=ORJSON_AS_STDLIB)
    except TypeError:
        return json.dumps(value)
    if b"null" in text:
        return json.dumps(value)
    return text.decode()


def _ensure_sqlite_directory(url: URL) -> None:
    database = url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        # WAL: readers (reports, /metrics) and the prober's writes do not block each other.
        cursor.execute("PRAGMA journal_mode=WAL")
        # In WAL mode NORMAL is crash-safe (no corruption); a power cut may lose the last few
        # runs, which the next probes measure again. FULL would fsync on every run.
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def alembic_config(url: URL | None = None) -> Config:
    """An Alembic config built in code, pointing at the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("path_separator", "os")
    if url is not None:  # offline (SQL-rendering) runs only; configparser needs '%' escaped
        config.set_main_option(
            "sqlalchemy.url", url.render_as_string(hide_password=False).replace("%", "%%")
        )
    return config


def upgrade_to_head(engine: Engine) -> None:
    """Apply every migration not yet applied, in one transaction where the backend allows.

    On PostgreSQL an advisory lock makes replicas starting together migrate in
    turn. Alembic keeps its migration context in module globals, so within one
    process open stores one at a time (the service and CLI open one store).
    """
    config = alembic_config()
    with engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            # Replicas starting together take turns; the lock ends with the transaction.
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": MIGRATION_LOCK_ID})
        config.attributes["connection"] = connection
        command.upgrade(config, "head")


def describe_error(exc: BaseException, url: URL | None = None) -> str:
    """One line about ``exc`` for humans: the driver's first line; no SQL, parameters or password.

    Only the first line is kept because PostgreSQL's DETAIL lines quote row values.
    """
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        message = str(exc.orig)
    elif isinstance(exc, SQLAlchemyError):
        message = str(exc).split("\n(Background on this error", 1)[0]
    elif isinstance(exc, CommandError):
        message = f"schema migration failed: {exc}"
        if "Can't locate revision" in message:
            message += " (was this store last opened by a newer syncwatch?)"
    else:
        message = str(exc) or type(exc).__name__
    line = next((part.strip() for part in message.splitlines() if part.strip()), type(exc).__name__)
    if url is not None and url.password:
        line = line.replace(str(url.password), "***")
    return line
