"""cabinets by store (the ops fleet listing filters and counts by store)

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-26 01:40:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_cabinets_store_id", "cabinets", ["store_id"])


def downgrade() -> None:
    op.drop_index("ix_cabinets_store_id", table_name="cabinets")
