"""Health snapshots by time alone: reports read a week across all contracts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27

Snapshots are kept forever; without this index a week's report scanned every snapshot ever
taken (2.2 s for last week's totals in a year-old store of 20 contracts).
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_health_snapshots_at", "health_snapshots", ["at"])


def downgrade() -> None:
    op.drop_index("ix_health_snapshots_at", table_name="health_snapshots")
