"""The outbox of notifications, what each incident's thread has been told, and who snoozed an incident.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27

Written by hand and frozen, like 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("snoozed_by", sa.String(200), nullable=True))
    op.create_table(
        "notices",
        sa.Column("id", _id(), nullable=False),
        sa.Column("uid", sa.String(32), nullable=False),
        sa.Column("incident_id", _id(), nullable=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("method", sa.String(32), nullable=False),
        sa.Column("channel", sa.String(200), nullable=False),
        sa.Column("parent_id", _id(), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("blocks", sa.JSON(), nullable=False),
        _when("created_at"),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("next_attempt_at"),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("uncertain", sa.Boolean(), nullable=False),
        _when("sent_at", nullable=True),
        sa.Column("sent_channel", sa.String(200), nullable=True),
        sa.Column("ts", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notices")),
        sa.UniqueConstraint("uid", name=op.f("uq_notices_uid")),
    )
    op.create_index("ix_notices_state_next", "notices", ["state", "next_attempt_at"])
    op.create_index("ix_notices_incident", "notices", ["incident_id"])
    op.create_table(
        "incident_threads",
        sa.Column("incident_id", _id(), nullable=False),
        sa.Column("closed", sa.Boolean(), nullable=False),
        sa.Column("told", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("incident_id", name=op.f("pk_incident_threads")),
    )
    op.create_index("ix_incident_threads_closed", "incident_threads", ["closed"])


def downgrade() -> None:
    op.drop_index("ix_incident_threads_closed", table_name="incident_threads")
    op.drop_table("incident_threads")
    op.drop_index("ix_notices_incident", table_name="notices")
    op.drop_index("ix_notices_state_next", table_name="notices")
    op.drop_table("notices")
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("snoozed_by")
