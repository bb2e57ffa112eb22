"""The measurement store: probe runs, observations, divergences and health, in SQLite or PostgreSQL.

``Store.open(url)`` connects and migrates the schema to head (Alembic, run in code);
the store is then passed to the engine, the CLI and the reports.
"""

from __future__ import annotations

from monitor.store.mapping import HealthRecord, RunRecord
from monitor.store.store import Store

__all__ = ["Store", "RunRecord", "HealthRecord"]
