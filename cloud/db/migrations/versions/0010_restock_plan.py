"""a restock visit keeps the plan it was sent with

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-26 02:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("sessions", sa.Column("plan", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("sessions", "plan")
