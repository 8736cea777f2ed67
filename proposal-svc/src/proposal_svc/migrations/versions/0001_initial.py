"""proposal-svc initial schema: proposals, timeline, tiers, obligations, answers, committee
decisions, forums, outbox and inbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 21:34:16.353607
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


def upgrade() -> None:
    # Trigram search needs the extension (and a UTF-8 ctype database, or Hangul has no trigrams).
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "proposals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("category", sa.String(length=40), nullable=False),
        sa.Column("district", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("agreement_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("hidden_reason", sa.Text(), nullable=True),
        sa.Column("lemmas", sa.ARRAY(sa.Text()), server_default=sa.text("'{}'"), nullable=False),
        sa.Column("search_text", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'closed', 'adopted', 'budget_linked', 'withdrawn', 'hidden')",
            name=op.f("ck_proposals_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposals")),
    )
    op.create_index(
        "ix_proposals_agreements",
        "proposals",
        ["agreement_count", "created_at", "id"],
        unique=False,
    )
    op.create_index(op.f("ix_proposals_author_id"), "proposals", ["author_id"], unique=False)
    op.create_index(
        "ix_proposals_lemmas", "proposals", ["lemmas"], unique=False, postgresql_using="gin"
    )
    op.create_index("ix_proposals_recent", "proposals", ["created_at", "id"], unique=False)
    op.create_index(
        "ix_proposals_search_text_trgm",
        "proposals",
        ["search_text"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.create_index(
        "ix_proposals_status_closes_at", "proposals", ["status", "closes_at"], unique=False
    )
    op.create_table(
        "answers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("proposal_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column("author_role", sa.String(length=32), nullable=False),
        sa.Column("department", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_answers_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_answers")),
    )
    op.create_index(op.f("ix_answers_proposal_id"), "answers", ["proposal_id"], unique=False)
    op.create_table(
        "committee_decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("proposal_id", sa.Uuid(), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("grouped_proposal_ids", sa.ARRAY(sa.Uuid()), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_committee_decisions_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_committee_decisions")),
    )
    op.create_index(
        op.f("ix_committee_decisions_proposal_id"),
        "committee_decisions",
        ["proposal_id"],
        unique=False,
    )
    op.create_table(
        "forums",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("proposal_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("description", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("options", sa.ARRAY(sa.Text()), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("opens_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closes_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("participant_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("mode IN ('online', 'offline', 'hybrid')", name=op.f("ck_forums_mode")),
        sa.CheckConstraint(
            "status IN ('scheduled', 'open', 'closed')", name=op.f("ck_forums_status")
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_forums_proposal_id_proposals"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_forums")),
    )
    op.create_index(op.f("ix_forums_proposal_id"), "forums", ["proposal_id"], unique=False)
    op.create_index(
        "ix_forums_status_times", "forums", ["status", "opens_at", "closes_at"], unique=False
    )
    op.create_table(
        "obligations",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("proposal_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("fulfilled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("overdue_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_obligations_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_obligations")),
        sa.UniqueConstraint("proposal_id", "kind", name=op.f("uq_obligations_proposal_id_kind")),
    )
    op.create_index(
        "ix_obligations_open_due",
        "obligations",
        ["due_at"],
        unique=False,
        postgresql_where=sa.text("fulfilled_at IS NULL AND overdue_at IS NULL"),
    )
    op.create_table(
        "tier_crossings",
        sa.Column("proposal_id", sa.Uuid(), nullable=False),
        sa.Column("tier", sa.String(length=40), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("reached_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_tier_crossings_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("proposal_id", "tier", name=op.f("pk_tier_crossings")),
    )
    op.create_table(
        "timeline_entries",
        sa.Column("seq", sa.BigInteger(), sa.Identity(always=False), nullable=False),
        sa.Column("proposal_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_role", sa.String(length=32), nullable=True),
        sa.Column(
            "data",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_timeline_entries_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_timeline_entries")),
    )
    op.create_index(
        op.f("ix_timeline_entries_proposal_id"), "timeline_entries", ["proposal_id"], unique=False
    )

    create_outbox_and_inbox()


def downgrade() -> None:
    op.drop_index(op.f("ix_timeline_entries_proposal_id"), table_name="timeline_entries")
    op.drop_table("timeline_entries")
    op.drop_table("tier_crossings")
    op.drop_index(
        "ix_obligations_open_due",
        table_name="obligations",
        postgresql_where=sa.text("fulfilled_at IS NULL AND overdue_at IS NULL"),
    )
    op.drop_table("obligations")
    op.drop_index("ix_forums_status_times", table_name="forums")
    op.drop_index(op.f("ix_forums_proposal_id"), table_name="forums")
    op.drop_table("forums")
    op.drop_index(op.f("ix_committee_decisions_proposal_id"), table_name="committee_decisions")
    op.drop_table("committee_decisions")
    op.drop_index(op.f("ix_answers_proposal_id"), table_name="answers")
    op.drop_table("answers")
    op.drop_index("ix_proposals_status_closes_at", table_name="proposals")
    op.drop_index(
        "ix_proposals_search_text_trgm",
        table_name="proposals",
        postgresql_using="gin",
        postgresql_ops={"search_text": "gin_trgm_ops"},
    )
    op.drop_index("ix_proposals_recent", table_name="proposals")
    op.drop_index("ix_proposals_lemmas", table_name="proposals", postgresql_using="gin")
    op.drop_index(op.f("ix_proposals_author_id"), table_name="proposals")
    op.drop_index("ix_proposals_agreements", table_name="proposals")
    op.drop_table("proposals")
    op.drop_index(
        "ix_outbox_unsent", table_name="outbox", postgresql_where=sa.text("sent_at IS NULL")
    )
    op.drop_table("outbox")
    op.drop_table("inbox")
