"""the content and channel influence report: per-person touches, first MQL times, the report snapshot

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 12:45:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import peerscore.db

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "influence_person",
        sa.Column("person_key", sa.String(length=64), nullable=False),
        sa.Column("touches", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("person_key"),
    )
    op.create_table(
        "mql_milestone",
        sa.Column("person_key", sa.String(length=64), nullable=False),
        sa.Column("qualified_at", peerscore.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("person_key"),
    )
    op.create_table(
        "influence_snapshot",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("watermark", sa.Integer(), nullable=False),
        sa.Column("vocabulary", sa.JSON(), nullable=False),
        sa.Column("built_at", peerscore.db.UtcDateTime(), nullable=False),
        sa.Column("report", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("influence_snapshot")
    op.drop_table("mql_milestone")
    op.drop_table("influence_person")
