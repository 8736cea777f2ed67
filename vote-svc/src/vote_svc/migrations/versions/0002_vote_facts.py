"""vote-svc: each vote keeps the voter's age band and residency category (token claims, for the
k-anonymous breakdowns of docs/statistics.md). No index is added: the statistics
read a target's votes through the unique (target_type, target_id, citizen_id) index, and every
index more would be one more write on each agreement.

Revision ID: 0002_vote_facts
Revises: 0002_mine
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_vote_facts"
down_revision: str | None = "0002_mine"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable without a default: adding them rewrites nothing (a catalog change only).
    op.add_column("votes", sa.Column("age_band", sa.String(16), nullable=True))
    op.add_column("votes", sa.Column("residency", sa.String(16), nullable=True))


def downgrade() -> None:
    op.drop_column("votes", "residency")
    op.drop_column("votes", "age_band")
