"""console sessions revoked by signing out

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04 17:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import peerscore.db

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "console_revoked_session",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("expires_at", peerscore.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("nonce"),
    )
    with op.batch_alter_table("console_revoked_session", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_console_revoked_session_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("console_revoked_session", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_console_revoked_session_expires_at"))
    op.drop_table("console_revoked_session")
