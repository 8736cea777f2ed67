"""vote-svc initial schema: votes, tallies, the targets and suspensions read models, outbox and
inbox.

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

# Kept literally here (not imported from models) so that this migration never changes.
TARGET_STATUS_SQL = (
    "CASE WHEN opened_event_at IS NOT NULL "
    "AND (closed_event_at IS NULL OR opened_event_at > closed_event_at) "
    "THEN 'open' ELSE 'closed' END"
)


def upgrade() -> None:
    op.create_table(
        "votes",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("choice", sa.String(100), nullable=False),
        sa.Column("cast_at", TZ, nullable=False),
        sa.Column("voter_tag", sa.String(64), nullable=False),
        sa.Column("record_hash", sa.String(64), nullable=False),
        sa.Column("record", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_votes"),
        sa.UniqueConstraint(
            "target_type",
            "target_id",
            "citizen_id",
            name="uq_votes_target_type_target_id_citizen_id",
        ),
        sa.CheckConstraint("target_type IN ('proposal', 'forum')", name="ck_votes_target_type"),
    )
    op.create_table(
        "tallies",
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("vote_count", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "by_choice",
            postgresql.JSONB(),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("target_type", "target_id", name="pk_tallies"),
    )
    op.create_table(
        "targets",
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("opens_at", TZ, nullable=True),
        sa.Column("closes_at", TZ, nullable=True),
        sa.Column("options", postgresql.ARRAY(sa.String(100)), nullable=True),
        sa.Column("opened_event_at", TZ, nullable=True),
        sa.Column("closed_event_at", TZ, nullable=True),
        sa.Column("closed_status", sa.String(32), nullable=True),
        sa.Column(
            "status",
            sa.String(8),
            sa.Computed(TARGET_STATUS_SQL, persisted=True),
            nullable=False,
        ),
        sa.Column("updated_at", TZ, server_default=sa.func.now(), nullable=False),
        sa.PrimaryKeyConstraint("target_type", "target_id", name="pk_targets"),
        sa.CheckConstraint("target_type IN ('proposal', 'forum')", name="ck_targets_target_type"),
    )
    op.create_table(
        "citizen_suspensions",
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("suspended", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("changed_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("citizen_id", name="pk_citizen_suspensions"),
    )
    create_outbox_and_inbox()


def downgrade() -> None:
    for table in ("inbox", "outbox", "citizen_suspensions", "targets", "tallies", "votes"):
        op.drop_table(table)
