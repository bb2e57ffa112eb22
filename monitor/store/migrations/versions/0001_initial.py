"""Initial schema: probe runs, observations, divergences, health snapshots, meta.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

Written by hand and frozen: it must not import ``monitor.store.models``, which will
move on; ``tests/test_store.py`` checks that head and the models agree.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _when(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _name(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.String(200), nullable=False)


def _key(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.String(512), nullable=False)


def _token(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.String(32), nullable=False)


def _json(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.JSON(), nullable=False)


def _float(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Double(), nullable=True)


def _flag(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Boolean(), nullable=False)


def _count(name: str) -> sa.Column[object]:
    return sa.Column(name, sa.Integer(), nullable=False)


def _run_id(table: str) -> list[sa.schema.SchemaItem]:
    return [
        sa.Column("run_id", _id(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["probe_runs.id"], name=f"fk_{table}_run_id_probe_runs", ondelete="CASCADE"
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "probe_runs",
        sa.Column("id", _id(), nullable=False),
        _name("contract"),
        _when("started_at"),
        _when("finished_at"),
        _token("outcome"),
        sa.Column("error_reason", sa.String(64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _json("sampled_by_stream"),
        _json("usage"),
        sa.PrimaryKeyConstraint("id", name="pk_probe_runs"),
    )
    op.create_index("ix_probe_runs_contract_started_at", "probe_runs", ["contract", "started_at"])

    op.create_table(
        "observations",
        sa.Column("id", _id(), nullable=False),
        *_run_id("observations"),
        _name("contract"),
        _name("target"),
        _key("key"),
        _key("key_display"),
        _token("stream"),
        _token("kind"),
        _when("observed_at"),
        _json("fields"),
        _json("diffs"),
        _when("source_updated_at", nullable=True),
        _when("target_updated_at", nullable=True),
        _float("age_seconds"),
        _flag("age_is_lower_bound"),
        _flag("out_of_budget"),
        _float("lag_seconds"),
        _json("problems"),
        sa.PrimaryKeyConstraint("id", name="pk_observations"),
    )
    op.create_index(
        "ix_observations_contract_target_observed_at",
        "observations",
        ["contract", "target", "observed_at"],
    )
    op.create_index("ix_observations_observed_at", "observations", ["observed_at"])

    op.create_table(
        "divergences",
        sa.Column("id", _id(), nullable=False),
        _name("contract"),
        _name("target"),
        _key("key"),
        _key("key_display"),
        _token("kind"),
        _when("first_seen"),
        _when("last_seen"),
        _when("source_updated_at", nullable=True),
        _json("fields"),
        _when("resolved_at", nullable=True),
        _float("lag_seconds"),
        _float("resolution_seconds"),
        _flag("lag_is_lower_bound"),
        sa.PrimaryKeyConstraint("id", name="pk_divergences"),
    )
    op.create_index(
        "uq_divergences_open_key",
        "divergences",
        ["contract", "target", "key"],
        unique=True,
        sqlite_where=sa.text("resolved_at IS NULL"),
        postgresql_where=sa.text("resolved_at IS NULL"),
    )
    op.create_index(
        "ix_divergences_contract_resolved_at", "divergences", ["contract", "resolved_at"]
    )

    op.create_table(
        "health_snapshots",
        sa.Column("id", _id(), nullable=False),
        *_run_id("health_snapshots"),
        _name("contract"),
        _name("target"),
        _when("at"),
        _token("outcome"),
        *(
            _count(name)
            for name in (
                "sampled",
                "divergent",
                "out_of_budget",
                "conflicts",
                "critical_conflicts",
                "unreadable",
            )
        ),
        _json("by_kind"),
        *(
            _float(name)
            for name in (
                "drift_ratio",
                "drift_low",
                "drift_high",
                "oob_ratio",
                "oob_low",
                "oob_high",
                "lag_p50",
                "lag_p95",
            )
        ),
        _flag("lag_p50_lower_bound"),
        _flag("lag_p95_lower_bound"),
        _count("lag_samples"),
        _count("censored"),
        _json("at_risk"),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_reason", sa.String(64), nullable=True),
        _json("conditions"),
        _json("streaks"),
        _json("breaching"),
        _count("hold"),
        sa.PrimaryKeyConstraint("id", name="pk_health_snapshots"),
    )
    op.create_index(
        "ix_health_snapshots_contract_target_at", "health_snapshots", ["contract", "target", "at"]
    )

    op.create_table(
        "meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_meta"),
    )


def downgrade() -> None:
    op.drop_table("meta")
    op.drop_table("health_snapshots")
    op.drop_table("divergences")
    op.drop_table("observations")
    op.drop_table("probe_runs")
