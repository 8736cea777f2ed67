"""Eligibility facts and real providers: the birth year-month and the residency category of a
citizen (the foreigner flag may be unknown), the provider's reference of a verification attempt,
and the provider transactions already used for a sign-in (a transaction signs in once).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # The first day of the birth month: enough for an age rule (docs/identity.md), not the date.
    op.add_column("citizens", sa.Column("birth_month", sa.Date(), nullable=True))
    op.add_column("citizens", sa.Column("residency", sa.String(16), nullable=True))
    op.create_check_constraint(
        "ck_citizens_residency",
        "citizens",
        "residency IN ('resident', 'worker', 'student')",
    )
    op.create_check_constraint(
        "ck_citizens_birth_month", "citizens", "EXTRACT(DAY FROM birth_month) = 1"
    )
    # Some providers do not say whether a person is a foreign national: NULL is "not said".
    op.alter_column("citizens", "is_foreigner", existing_type=sa.Boolean(), nullable=True)
    op.add_column("verifications", sa.Column("provider_ref", sa.String(64), nullable=True))
    op.create_table(
        "provider_transactions",
        sa.Column("provider", sa.String(32), nullable=False),
        # SHA-256 of the provider's transaction number: only equality is ever needed.
        sa.Column("tx_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("verification_id", sa.Uuid(), nullable=False),
        sa.Column(
            "used_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.PrimaryKeyConstraint("provider", "tx_hash", name="pk_provider_transactions"),
        sa.ForeignKeyConstraint(
            ["verification_id"],
            ["verifications.id"],
            ondelete="CASCADE",
            name="fk_provider_transactions_verification_id_verifications",
        ),
    )


def downgrade() -> None:
    op.drop_table("provider_transactions")
    op.drop_column("verifications", "provider_ref")
    op.execute("UPDATE citizens SET is_foreigner = false WHERE is_foreigner IS NULL")
    op.alter_column("citizens", "is_foreigner", existing_type=sa.Boolean(), nullable=False)
    op.drop_constraint("ck_citizens_birth_month", "citizens", type_="check")
    op.drop_constraint("ck_citizens_residency", "citizens", type_="check")
    op.drop_column("citizens", "residency")
    op.drop_column("citizens", "birth_month")
