"""transactional outbox; the config version each gateway reports applied

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.types

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("created_at", cloud.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", cloud.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("next_attempt_at", cloud.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=False),
        sa.Column("sent_at", cloud.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("done_at", cloud.db.types.UtcDateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_outbox_due", "outbox", ["done_at", "next_attempt_at"])
    op.create_index("ix_outbox_key", "outbox", ["key"])
    op.add_column("cabinets", sa.Column("config_applied", sa.Integer(), nullable=True))


def downgrade() -> None:
    op.drop_column("cabinets", "config_applied")
    op.drop_table("outbox")
