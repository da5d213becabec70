"""cabinet settings: fleet defaults, store and cabinet overrides

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 01:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.types

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Overrides are partial: only the fields set at that level (protocols CabinetSettings names).
    op.add_column("stores", sa.Column("settings", sa.JSON(), nullable=False, server_default="{}"))
    op.add_column("cabinets", sa.Column("settings", sa.JSON(), nullable=False, server_default="{}"))
    op.create_table(
        "fleet_settings",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("values", sa.JSON(), nullable=False),
        sa.Column("updated_at", cloud.db.types.UtcDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("fleet_settings")
    op.drop_column("cabinets", "settings")
    op.drop_column("stores", "settings")
