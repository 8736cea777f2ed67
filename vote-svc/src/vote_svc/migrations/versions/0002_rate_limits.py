"""The rate-limit counters of casting (services.ratelimit; docs/abuse-limits.md), UNLOGGED: the
hot path counts in an autocommit statement of its own, which then commits without a WAL flush
(a crash forgets recent hits, nothing else).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from collections.abc import Sequence

from alembic import op

from services.ratelimit import create_rate_limit_table

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_rate_limit_table(unlogged=True)


def downgrade() -> None:
    op.drop_table("rate_limits")
