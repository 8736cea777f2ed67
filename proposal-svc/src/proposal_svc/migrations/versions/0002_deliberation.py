"""Deliberation: comments and opinions, their edits, likes, reports and moderation decisions;
one timeline entry per proposal and day of comments; the rate-limit counters.

Revision ID: 0002_deliberation
Revises: 0001
Create Date: 2026-12-01 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.ratelimit import create_rate_limit_table

revision: str = "0002_deliberation"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TZ = sa.DateTime(timezone=True)


def _comments() -> None:
    op.create_table(
        "comments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("proposal_id", sa.Uuid(), nullable=True),
        sa.Column("forum_id", sa.Uuid(), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("author_id", sa.Uuid(), nullable=False),
        sa.Column(
            "by_proposal_author", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("stance", sa.String(length=10), nullable=True),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("held_rule", sa.String(length=20), nullable=True),
        sa.Column("hidden_reason", sa.Text(), nullable=True),
        sa.Column("like_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("report_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("open_reports", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("queued_at", TZ, nullable=True),
        sa.Column("edit_count", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("edited_at", TZ, nullable=True),
        sa.Column("deleted_at", TZ, nullable=True),
        sa.CheckConstraint(
            "status IN ('published', 'held', 'hidden', 'deleted')", name=op.f("ck_comments_status")
        ),
        sa.CheckConstraint("stance IN ('pro', 'con', 'neutral')", name=op.f("ck_comments_stance")),
        sa.CheckConstraint(
            "held_rule IN ('reports', 'word_list', 'privacy')", name=op.f("ck_comments_held_rule")
        ),
        sa.CheckConstraint(
            "(proposal_id IS NULL) <> (forum_id IS NULL)", name=op.f("ck_comments_one_target")
        ),
        sa.CheckConstraint(
            "(forum_id IS NULL) = (stance IS NULL)", name=op.f("ck_comments_opinion_stance")
        ),
        sa.CheckConstraint(
            "parent_id IS NULL OR proposal_id IS NOT NULL",
            name=op.f("ck_comments_replies_on_proposals"),
        ),
        sa.CheckConstraint(
            "(status = 'deleted') = (body IS NULL)", name=op.f("ck_comments_body_until_deleted")
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_comments_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["forum_id"],
            ["forums.id"],
            name=op.f("fk_comments_forum_id_forums"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["comments.id"],
            name=op.f("fk_comments_parent_id_comments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index(op.f("ix_comments_author_id"), "comments", ["author_id"])
    top_level = sa.text("parent_id IS NULL")
    op.create_index(
        "ix_comments_proposal_recent",
        "comments",
        ["proposal_id", "created_at", "id"],
        postgresql_where=top_level,
    )
    op.create_index(
        "ix_comments_proposal_liked",
        "comments",
        ["proposal_id", "like_count", "created_at", "id"],
        postgresql_where=top_level,
    )
    op.create_index("ix_comments_parent", "comments", ["parent_id", "created_at", "id"])
    op.create_index("ix_comments_forum_recent", "comments", ["forum_id", "created_at", "id"])
    op.create_index(
        "ix_comments_forum_liked", "comments", ["forum_id", "like_count", "created_at", "id"]
    )
    op.create_index(
        "ix_comments_forum_author",
        "comments",
        ["forum_id", "author_id", "created_at"],
        postgresql_where=sa.text("status = 'published'"),
    )
    op.create_index(
        "ix_comments_queue",
        "comments",
        ["queued_at", "id"],
        postgresql_where=sa.text("queued_at IS NOT NULL"),
    )


def _around_comments() -> None:
    op.create_table(
        "comment_edits",
        sa.Column("seq", sa.BigInteger(), sa.Identity(), nullable=False),
        sa.Column("comment_id", sa.Uuid(), nullable=False),
        sa.Column("previous_body", sa.Text(), nullable=True),
        sa.Column("edited_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_comment_edits_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_comment_edits")),
    )
    op.create_index(op.f("ix_comment_edits_comment_id"), "comment_edits", ["comment_id"])
    op.create_table(
        "comment_likes",
        sa.Column("comment_id", sa.Uuid(), nullable=False),
        sa.Column("citizen_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_comment_likes_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("comment_id", "citizen_id", name=op.f("pk_comment_likes")),
    )
    op.create_table(
        "moderation_decisions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("comment_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("automatic", sa.Boolean(), nullable=False),
        sa.Column("rule", sa.String(length=20), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("from_status", sa.String(length=12), nullable=False),
        sa.Column("to_status", sa.String(length=12), nullable=False),
        sa.Column("open_reports", sa.Integer(), nullable=False),
        sa.Column("decided_by", sa.Uuid(), nullable=True),
        sa.Column("decided_by_role", sa.String(length=32), nullable=True),
        sa.Column("decided_at", TZ, nullable=False),
        sa.CheckConstraint(
            "action IN ('hold', 'hide', 'restore')", name=op.f("ck_moderation_decisions_action")
        ),
        sa.CheckConstraint(
            "rule IN ('reports', 'word_list', 'privacy')", name=op.f("ck_moderation_decisions_rule")
        ),
        sa.CheckConstraint(
            "automatic = (decided_by IS NULL)", name=op.f("ck_moderation_decisions_who")
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_moderation_decisions_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_moderation_decisions")),
    )
    op.create_index(
        op.f("ix_moderation_decisions_comment_id"), "moderation_decisions", ["comment_id"]
    )
    op.create_index("ix_moderation_decisions_recent", "moderation_decisions", ["decided_at", "id"])
    op.create_table(
        "comment_reports",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("comment_id", sa.Uuid(), nullable=False),
        sa.Column("reporter_id", sa.Uuid(), nullable=False),
        sa.Column("reason", sa.String(length=20), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", TZ, nullable=False),
        sa.Column("decision_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint(
            "reason IN ('spam', 'abuse', 'privacy', 'off_topic', 'other')",
            name=op.f("ck_comment_reports_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_comment_reports_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["moderation_decisions.id"],
            name=op.f("fk_comment_reports_decision_id_moderation_decisions"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comment_reports")),
        sa.UniqueConstraint(
            "comment_id", "reporter_id", name=op.f("uq_comment_reports_comment_id_reporter_id")
        ),
    )
    op.create_index(
        "ix_comment_reports_open",
        "comment_reports",
        ["comment_id"],
        postgresql_where=sa.text("decision_id IS NULL"),
    )


def upgrade() -> None:
    _comments()
    _around_comments()
    op.create_index(
        "ix_timeline_entries_comment_days",
        "timeline_entries",
        ["proposal_id", sa.text("(data ->> 'date')")],
        unique=True,
        postgresql_where=sa.text("kind = 'comments'"),
    )
    create_rate_limit_table()


def downgrade() -> None:
    op.drop_table("rate_limits")
    op.drop_index("ix_timeline_entries_comment_days", table_name="timeline_entries")
    op.drop_table("comment_reports")
    op.drop_table("moderation_decisions")
    op.drop_table("comment_likes")
    op.drop_table("comment_edits")
    op.drop_table("comments")
