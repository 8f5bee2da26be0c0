"""crm alert ledger (MQL alerts sent once per destination and transition)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05 12:22:28.802080
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import peerscore.db

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_alert_ledger",
        sa.Column("destination", sa.String(length=48), nullable=False),
        sa.Column("person_key", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", peerscore.db.UtcDateTime(), nullable=True),
        sa.Column("next_attempt_at", peerscore.db.UtcDateTime(), nullable=False),
        sa.Column("last_error", sa.String(length=2000), nullable=True),
        sa.Column("transitioned_at", peerscore.db.UtcDateTime(), nullable=False),
        sa.Column("created_at", peerscore.db.UtcDateTime(), nullable=False),
        sa.Column("settled_at", peerscore.db.UtcDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("destination", "person_key", "version"),
    )
    op.create_index("ix_crm_alert_ledger_due", "crm_alert_ledger", ["status", "next_attempt_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_crm_alert_ledger_due", table_name="crm_alert_ledger")
    op.drop_table("crm_alert_ledger")
