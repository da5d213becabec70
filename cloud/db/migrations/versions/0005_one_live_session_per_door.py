"""one live session per door

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 18:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # True while the session holds its door, NULL afterwards: a unique index over
    # (cabinet, door, holds_door) then admits one holder per door and any number of past sessions,
    # the same way on SQLite and PostgreSQL (NULLs are distinct in both).
    with op.batch_alter_table("sessions") as batch:
        batch.add_column(sa.Column("holds_door", sa.Boolean(), nullable=True))
    op.create_index("uq_sessions_door_holder", "sessions", ["cabinet_id", "door", "holds_door"], unique=True)


def downgrade() -> None:
    op.drop_index("uq_sessions_door_holder", table_name="sessions")
    with op.batch_alter_table("sessions") as batch:
        batch.drop_column("holds_door")
