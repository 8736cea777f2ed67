"""The rate-limit counters of verification starts (services.ratelimit; docs/abuse-limits.md).

Revision ID: 0005_rate_limits
Revises: 0004_staff_roles
Create Date: 2026-12-02 14:00:00
"""

from collections.abc import Sequence

from alembic import op

from services.ratelimit import create_rate_limit_table

revision: str = "0005_rate_limits"
down_revision: str | None = "0004_staff_roles"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    create_rate_limit_table()


def downgrade() -> None:
    op.drop_table("rate_limits")
