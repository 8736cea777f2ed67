"""Follows: who follows which proposal (or left it), and each citizen's preference for following
what they agree with.

Revision ID: 0003_follows
Revises: 0002_deliberation
Create Date: 2026-12-02 13:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_follows"
down_revision: str | None = "0002_deliberation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "proposal_follows",
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("proposal_id", sa.Uuid(), nullable=False),
        sa.Column("following", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("via", sa.String(length=10), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.CheckConstraint(
            "via IN ('explicit', 'agreement', 'author')", name=op.f("ck_proposal_follows_via")
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_proposal_follows_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("citizen_id", "proposal_id", name=op.f("pk_proposal_follows")),
    )
    op.create_index(
        "ix_proposal_follows_followers",
        "proposal_follows",
        ["proposal_id", "citizen_id"],
        postgresql_where=sa.text("following"),
    )
    op.create_table(
        "follow_preferences",
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("follow_agreed", sa.Boolean(), nullable=False),
        sa.Column("updated_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("citizen_id", name=op.f("pk_follow_preferences")),
    )


def downgrade() -> None:
    op.drop_table("follow_preferences")
    op.drop_index("ix_proposal_follows_followers", table_name="proposal_follows")
    op.drop_table("proposal_follows")
