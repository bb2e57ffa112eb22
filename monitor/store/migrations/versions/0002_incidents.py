"""Incidents (a breach followed from opened to resolved) and silences.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27

Written by hand and frozen, like 0001.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "incidents",
        sa.Column("id", _id(), nullable=False),
        sa.Column("contract", sa.String(200), nullable=False),
        sa.Column("target", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        _when("opened_at"),
        _when("last_breach_at"),
        _when("acknowledged_at", nullable=True),
        sa.Column("acknowledged_by", sa.String(200), nullable=True),
        _when("snoozed_until", nullable=True),
        _when("resolved_at", nullable=True),
        sa.Column("healthy_runs", sa.Integer(), nullable=False),
        sa.Column("reopened", sa.Integer(), nullable=False),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_incidents")),
    )
    op.create_index("ix_incidents_contract_target_kind", "incidents", ["contract", "target", "kind"])
    op.create_index("ix_incidents_state", "incidents", ["state"])
    op.create_table(
        "silences",
        sa.Column("id", _id(), nullable=False),
        sa.Column("contract", sa.String(200), nullable=True),
        sa.Column("target", sa.String(200), nullable=True),
        sa.Column("kind", sa.String(32), nullable=True),
        _when("starts_at"),
        _when("ends_at"),
        sa.Column("created_by", sa.String(200), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_silences")),
    )
    op.create_index("ix_silences_ends_at", "silences", ["ends_at"])


def downgrade() -> None:
    op.drop_index("ix_silences_ends_at", table_name="silences")
    op.drop_table("silences")
    op.drop_index("ix_incidents_state", table_name="incidents")
    op.drop_index("ix_incidents_contract_target_kind", table_name="incidents")
    op.drop_table("incidents")
