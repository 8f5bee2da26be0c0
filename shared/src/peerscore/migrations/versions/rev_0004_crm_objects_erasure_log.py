"""crm_object (the CRM record of each person per CRM), crm_merge_link, and the CRM records in crm_erasure_log

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 17:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import peerscore.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "crm_object",
        sa.Column("crm", sa.String(length=64), nullable=False),
        sa.Column("person_key", sa.String(length=64), nullable=False),
        sa.Column("object_id", sa.String(length=128), nullable=False),
        sa.Column("object_type", sa.String(length=64), nullable=False),
        sa.Column("company_id", sa.String(length=128), nullable=True),
        sa.Column("score", sa.Float(), nullable=True),
        sa.Column("grade", sa.String(length=1), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("updated_at", peerscore.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("crm", "person_key"),
    )
    with op.batch_alter_table("crm_object", schema=None) as batch_op:
        batch_op.create_index("ix_crm_object_crm_object_id", ["crm", "object_id"], unique=False)
    op.create_table(
        "crm_merge_link",
        sa.Column("source_key", sa.String(length=64), nullable=False),
        sa.Column("target_key", sa.String(length=64), nullable=False),
        sa.Column("merge_id", sa.String(length=64), nullable=False),
        sa.Column("merged_at", peerscore.db.UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("source_key"),
    )
    with op.batch_alter_table("crm_merge_link", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_crm_merge_link_target_key"), ["target_key"], unique=False)
    with op.batch_alter_table("crm_erasure_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("crm_objects", sa.JSON(), nullable=False, server_default="[]"))


def downgrade() -> None:
    with op.batch_alter_table("crm_erasure_log", schema=None) as batch_op:
        batch_op.drop_column("crm_objects")
    with op.batch_alter_table("crm_merge_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_crm_merge_link_target_key"))
    op.drop_table("crm_merge_link")
    with op.batch_alter_table("crm_object", schema=None) as batch_op:
        batch_op.drop_index("ix_crm_object_crm_object_id")
    op.drop_table("crm_object")
