"""the unscored-signal report: unscored events per day and kind, their senders, all events per day

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05 08:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scored_event_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "unscored_signal",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("signal_key", sa.String(length=32), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=256), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=False),
        sa.Column("page", sa.String(length=32), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("examples", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("day", "signal_key"),
    )
    op.create_table(
        "unscored_signal_person",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("signal_key", sa.String(length=32), nullable=False),
        sa.Column("person_key", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("day", "signal_key", "person_key"),
    )
    with op.batch_alter_table("unscored_signal_person", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_unscored_signal_person_person_key"), ["person_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("unscored_signal_person", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_unscored_signal_person_person_key"))

    op.drop_table("unscored_signal_person")
    op.drop_table("unscored_signal")
    op.drop_table("scored_event_day")
