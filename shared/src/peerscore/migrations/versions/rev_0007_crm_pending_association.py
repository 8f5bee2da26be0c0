"""crm pending company associations (retried on their own, never by re-sending the contact)

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 18:10:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import peerscore.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_pending_association",
        sa.Column("crm", sa.String(length=64), nullable=False),
        sa.Column("person_key", sa.String(length=64), nullable=False),
        sa.Column("contact_id", sa.String(length=128), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=False),
        sa.Column("since", peerscore.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("crm", "person_key"),
    )


def downgrade() -> None:
    op.drop_table("crm_pending_association")
