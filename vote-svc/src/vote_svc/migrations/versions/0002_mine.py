"""A citizen's own votes: the index they are listed by, and the votes the ledger recorded.

Revision ID: 0002_mine
Revises: 0002
Create Date: 2026-12-02 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_mine"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_votes_citizen_recent", "votes", ["citizen_id", "cast_at", "id"])
    op.create_table(
        "ledger_recordings",
        sa.Column("vote_id", sa.Uuid(), nullable=False),
        sa.Column("batch_seq", sa.BigInteger(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("vote_id", name=op.f("pk_ledger_recordings")),
    )


def downgrade() -> None:
    op.drop_table("ledger_recordings")
    op.drop_index("ix_votes_citizen_recent", table_name="votes")
