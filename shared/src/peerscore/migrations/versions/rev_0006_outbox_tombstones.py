"""scoring_outbox.value nullable: erasure queues tombstones (no value) for the compacted scores topic

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 17:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("scoring_outbox", schema=None) as batch_op:
        batch_op.alter_column("value", existing_type=sa.LargeBinary(), nullable=True)


def downgrade() -> None:
    # Tombstones not yet published cannot be kept by the older schema; erasures already deleted the data itself.
    op.execute("DELETE FROM scoring_outbox WHERE value IS NULL")
    with op.batch_alter_table("scoring_outbox", schema=None) as batch_op:
        batch_op.alter_column("value", existing_type=sa.LargeBinary(), nullable=False)
