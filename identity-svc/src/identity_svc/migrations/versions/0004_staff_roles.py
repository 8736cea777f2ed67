"""Role grants accept the staff roles moderator and forum_staff (the schemas and the sandbox
already offered them; the check constraint still refused them).

Revision ID: 0004_staff_roles
Revises: 0003
Create Date: 2026-12-02 09:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004_staff_roles"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The name 0001 gave it (its explicit name went through the naming convention once more).
NAME = "ck_role_grants_ck_role_grants_role"
STAFF = "'department', 'mayor_office', 'committee', 'admin'"


def upgrade() -> None:
    op.drop_constraint(op.f(NAME), "role_grants", type_="check")
    op.create_check_constraint(
        op.f(NAME), "role_grants", f"role IN ({STAFF}, 'moderator', 'forum_staff')"
    )


def downgrade() -> None:
    op.execute("DELETE FROM role_grants WHERE role IN ('moderator', 'forum_staff')")
    op.drop_constraint(op.f(NAME), "role_grants", type_="check")
    op.create_check_constraint(op.f(NAME), "role_grants", f"role IN ({STAFF})")
