"""Integrity signals: the pseudonymous signals of each vote (written by the cast statement) and
the signals computed per target (docs/integrity.md).

Revision ID: 0003
Revises: 0002_vote_facts
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002_vote_facts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "vote_signals",
        # The vote's id (no foreign key: a vote's signals are deleted after the retention
        # period while the vote stays, and the insert skips a lookup of votes' key).
        sa.Column("vote_id", sa.Uuid(), nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("cast_at", TZ, nullable=False),
        sa.Column("network_hash", sa.String(32), nullable=False),
        sa.Column("agent_hash", sa.String(32), nullable=False),
        sa.Column("account_age_hours", sa.Integer(), nullable=True),
        sa.Column("age_band", sa.String(16), nullable=False),
        sa.PrimaryKeyConstraint("vote_id", name="pk_vote_signals"),
    )
    op.create_index(
        "ix_vote_signals_target_cast_at", "vote_signals", ["target_type", "target_id", "cast_at"]
    )
    # The retention purge deletes by age.
    op.create_index("ix_vote_signals_cast_at", "vote_signals", ["cast_at"])
    op.create_table(
        "integrity_signals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("target_type", sa.String(16), nullable=False),
        sa.Column("target_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("level", sa.String(16), nullable=False),
        sa.Column("window_start", TZ, nullable=False),
        sa.Column("window_end", TZ, nullable=False),
        sa.Column("evidence", postgresql.JSONB(), nullable=False),
        sa.Column("detected_at", TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_integrity_signals"),
        # One signal of a kind per target and window, however often (and on however many
        # replicas) the worker looks at it.
        sa.UniqueConstraint(
            "target_type", "target_id", "kind", "window_start", name="uq_integrity_signals_window"
        ),
        sa.CheckConstraint(
            "kind IN ('arrival_spike', 'new_accounts', 'network_concentration', "
            "'agent_concentration', 'night_burst', 'age_band_skew')",
            name="ck_integrity_signals_kind",
        ),
        sa.CheckConstraint("level IN ('notice', 'warning')", name="ck_integrity_signals_level"),
    )
    op.create_index(
        "ix_integrity_signals_target", "integrity_signals", ["target_type", "target_id"]
    )
    op.create_index("ix_integrity_signals_detected", "integrity_signals", ["detected_at", "id"])


def downgrade() -> None:
    op.drop_table("integrity_signals")
    op.drop_table("vote_signals")
