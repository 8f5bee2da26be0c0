"""the local CRM: each product line's score, grade and status (crm_lead.lines)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 12:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("crm_lead", schema=None) as batch_op:
        batch_op.add_column(sa.Column("lines", sa.JSON(), server_default=sa.text("'{}'"), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table("crm_lead", schema=None) as batch_op:
        batch_op.drop_column("lines")
