"""identity-svc initial schema: citizens, providers, verifications, roles, keys, refresh tokens,
outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from services.migrations import create_outbox_and_inbox

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "citizens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ci_hmac", sa.LargeBinary(32), nullable=False),
        sa.Column("age_band", sa.String(16), nullable=False),
        sa.Column("is_foreigner", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), server_default=sa.text("'active'"), nullable=False),
        sa.Column("suspended_reason", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("verified_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_citizens"),
        sa.UniqueConstraint("ci_hmac", name="uq_citizens_ci_hmac"),
        sa.CheckConstraint("status IN ('active', 'suspended')", name="ck_citizens_status"),
    )
    op.create_table(
        "citizen_providers",
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("di_hmac", sa.LargeBinary(32), nullable=True),
        sa.Column("first_verified_at", TZ, nullable=False),
        sa.Column("last_verified_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("citizen_id", "provider", name="pk_citizen_providers"),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizens.id"],
            ondelete="CASCADE",
            name="fk_citizen_providers_citizen_id_citizens",
        ),
    )
    op.create_table(
        "verifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("provider", sa.String(32), nullable=False),
        sa.Column("nonce", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("completed_at", TZ, nullable=True),
        sa.Column("citizen_id", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_verifications"),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizens.id"],
            ondelete="SET NULL",
            name="fk_verifications_citizen_id_citizens",
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'completed', 'failed')", name="ck_verifications_status"
        ),
    )
    op.create_table(
        "role_grants",
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("department", sa.String(100), nullable=True),
        sa.Column("granted_by", sa.Uuid(), nullable=True),
        sa.Column("granted_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("citizen_id", "role", name="pk_role_grants"),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizens.id"],
            ondelete="CASCADE",
            name="fk_role_grants_citizen_id_citizens",
        ),
        sa.CheckConstraint(
            "role IN ('department', 'mayor_office', 'committee', 'admin')",
            name="ck_role_grants_role",
        ),
    )
    op.create_table(
        "signing_keys",
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("algorithm", sa.String(16), nullable=False),
        sa.Column("public_jwk", postgresql.JSONB(), nullable=False),
        sa.Column("private_key_enc", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.Column("retired_at", TZ, nullable=True),
        sa.PrimaryKeyConstraint("kid", name="pk_signing_keys"),
    )
    op.create_index(
        "uq_signing_keys_active",
        "signing_keys",
        [sa.text("(retired_at IS NULL)")],
        unique=True,
        postgresql_where=sa.text("retired_at IS NULL"),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("family_id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("issued_at", TZ, nullable=False),
        sa.Column("expires_at", TZ, nullable=False),
        sa.Column("used_at", TZ, nullable=True),
        sa.Column("revoked_at", TZ, nullable=True),
        sa.Column("revoked_reason", sa.String(32), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_refresh_tokens"),
        sa.UniqueConstraint("token_hash", name="uq_refresh_tokens_token_hash"),
        sa.ForeignKeyConstraint(
            ["citizen_id"],
            ["citizens.id"],
            ondelete="CASCADE",
            name="fk_refresh_tokens_citizen_id_citizens",
        ),
    )
    op.create_index("ix_refresh_tokens_family_id", "refresh_tokens", ["family_id"])
    op.create_index("ix_refresh_tokens_citizen_id", "refresh_tokens", ["citizen_id"])
    create_outbox_and_inbox()


def downgrade() -> None:
    for table in (
        "inbox",
        "outbox",
        "refresh_tokens",
        "signing_keys",
        "role_grants",
        "verifications",
        "citizen_providers",
        "citizens",
    ):
        op.drop_table(table)
