"""scale recalibrations

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-26 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.types

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scale_recalibrations",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cabinet_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("drift_g_per_h", sa.Float(), nullable=True),
        sa.Column("opened_at", cloud.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("tared_by", sa.Integer(), nullable=True),
        sa.Column("tared_at", cloud.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("command_id", sa.String(length=64), nullable=True),
        sa.Column("done_at", cloud.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["cabinet_id"], ["cabinets.id"]),
        sa.ForeignKeyConstraint(["tared_by"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_scale_recalibrations_cabinet_id", "scale_recalibrations", ["cabinet_id"])
    op.create_index("ix_scale_recalibrations_state", "scale_recalibrations", ["state"])


def downgrade() -> None:
    op.drop_table("scale_recalibrations")
