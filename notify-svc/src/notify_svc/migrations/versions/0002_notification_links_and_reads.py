"""What a notification is about (proposal_id, forum_id, for its deep link) and when its citizen
read it (read_at), with the index of a citizen's unread messages.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("notifications", sa.Column("proposal_id", sa.Uuid(), nullable=True))
    op.add_column("notifications", sa.Column("forum_id", sa.Uuid(), nullable=True))
    op.add_column("notifications", sa.Column("read_at", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        ["citizen_id"],
        postgresql_where=sa.text("read_at IS NULL AND fallback_of IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_unread", table_name="notifications")
    op.drop_column("notifications", "read_at")
    op.drop_column("notifications", "forum_id")
    op.drop_column("notifications", "proposal_id")
