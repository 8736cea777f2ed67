"""citizen_contacts: the verified mobile number, encrypted, for notifications; an index for the
staff lookup of the internal API.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "citizen_contacts",
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        # nonce || AES-256-GCM ciphertext+tag of the digits, associated data = the citizen id.
        sa.Column("phone_sealed", sa.LargeBinary(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("citizen_id", name="pk_citizen_contacts"),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizens.id"],
            ondelete="CASCADE",
            name="fk_citizen_contacts_citizen_id_citizens",
        ),
    )
    op.create_index("ix_role_grants_role_citizen_id", "role_grants", ["role", "citizen_id"])


def downgrade() -> None:
    op.drop_index("ix_role_grants_role_citizen_id", table_name="role_grants")
    op.drop_table("citizen_contacts")
