"""Role grants accept ``auditor``: the staff who review vote-svc's integrity signals
(docs/integrity.md) without any other power.

Revision ID: 0006_auditor_role
Revises: 0005_rate_limits
Create Date: 2026-12-02 14:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006_auditor_role"
down_revision: str | None = "0005_rate_limits"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The name 0001 gave it (its explicit name went through the naming convention once more).
NAME = "ck_role_grants_ck_role_grants_role"
ROLES = "'department', 'mayor_office', 'committee', 'admin', 'moderator', 'forum_staff'"


def upgrade() -> None:
    op.drop_constraint(op.f(NAME), "role_grants", type_="check")
    op.create_check_constraint(op.f(NAME), "role_grants", f"role IN ({ROLES}, 'auditor')")


def downgrade() -> None:
    op.execute("DELETE FROM role_grants WHERE role = 'auditor'")
    op.drop_constraint(op.f(NAME), "role_grants", type_="check")
    op.create_check_constraint(op.f(NAME), "role_grants", f"role IN ({ROLES})")
