"""cold chain: products' storage class, lane exposures, incidents and their refunds

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-26 02:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import cloud.db.types

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

T = cloud.db.types.UtcDateTime


def upgrade() -> None:
    op.add_column("products", sa.Column("storage", sa.String(16), nullable=False, server_default="ambient"))
    op.execute("UPDATE products SET storage = 'chilled' WHERE chilled")
    op.create_table(
        "cold_chain_incidents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("cabinet_id", sa.Integer(), sa.ForeignKey("cabinets.id"), nullable=False),
        sa.Column("started_at", T(timezone=True), nullable=False),
        sa.Column("withheld_at", T(timezone=True), nullable=False),
        sa.Column("closed_at", T(timezone=True), nullable=True),
        sa.Column("refunded_at", T(timezone=True), nullable=True),
        sa.Column("refunded_by", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
    )
    op.create_index("ix_cold_chain_incidents_cabinet_id", "cold_chain_incidents", ["cabinet_id"])
    op.create_table(
        "lane_exposures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("cabinet_id", sa.Integer(), sa.ForeignKey("cabinets.id"), nullable=False),
        sa.Column("channel", sa.Integer(), nullable=False),
        sa.Column("lane", sa.Integer(), nullable=False),
        sa.Column("sku", sa.String(64), nullable=False),
        sa.Column("storage", sa.String(16), nullable=False),
        sa.Column("limit_c", sa.Float(), nullable=False),
        sa.Column("allowed_s", sa.Float(), nullable=False),
        sa.Column("allowed_degree_s", sa.Float(), nullable=False),
        sa.Column("exposed_s", sa.Float(), nullable=False),
        sa.Column("degree_s", sa.Float(), nullable=False),
        sa.Column("started_at", T(timezone=True), nullable=False),
        sa.Column("last_ts", T(timezone=True), nullable=False),
        sa.Column("withheld_at", T(timezone=True), nullable=True),
        sa.Column("pieces", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("cold_chain_incidents.id"), nullable=True),
        sa.Column("released_at", T(timezone=True), nullable=True),
        sa.Column("released_by", sa.String(64), nullable=True),
    )
    op.create_index("ix_lane_exposures_cabinet_id", "lane_exposures", ["cabinet_id"])
    op.create_index("ix_lane_exposures_released_at", "lane_exposures", ["released_at"])
    op.create_table(
        "cold_chain_refunds",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("incident_id", sa.Integer(), sa.ForeignKey("cold_chain_incidents.id"), nullable=False),
        sa.Column("session_id", sa.String(64), sa.ForeignKey("sessions.id"), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("amount_fen", sa.Integer(), nullable=False),
        sa.Column("items", sa.JSON(), nullable=False),
        sa.Column("created_at", T(timezone=True), nullable=False),
        sa.Column("notified_at", T(timezone=True), nullable=True),
    )
    op.create_index("ix_cold_chain_refunds_incident_id", "cold_chain_refunds", ["incident_id"])
    op.create_index("ix_cold_chain_refunds_user_id", "cold_chain_refunds", ["user_id"])


def downgrade() -> None:
    op.drop_table("cold_chain_refunds")
    op.drop_table("lane_exposures")
    op.drop_table("cold_chain_incidents")
    op.drop_column("products", "storage")
