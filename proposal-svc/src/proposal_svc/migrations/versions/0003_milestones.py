"""Implementation tracking: the milestones of adopted and budget-linked proposals.

Revision ID: 0003_milestones
Revises: 0003_read_versions
Create Date: 2026-12-02 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_milestones"
down_revision: str | None = "0003_read_versions"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "milestones",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("proposal_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=True),
        sa.Column("budget_krw", sa.BigInteger(), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("published_by", sa.Uuid(), nullable=False),
        sa.Column("published_by_role", sa.String(32), nullable=False),
        sa.Column("department", sa.String(100), nullable=True),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('planned', 'in_progress', 'done', 'dropped')",
            name=op.f("ck_milestones_status"),
        ),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name=op.f("ck_milestones_progress")),
        sa.CheckConstraint("budget_krw >= 0", name=op.f("ck_milestones_budget")),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_milestones_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_milestones")),
    )
    op.create_index("ix_milestones_proposal", "milestones", ["proposal_id", "published_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_milestones_proposal", table_name="milestones")
    op.drop_table("milestones")
