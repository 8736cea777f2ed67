"""The deliberation tables, on proposal-svc's metadata (migration ``0002_deliberation``)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from proposal_svc.models import TimelineEntry
from services.db import Base

__all__ = [
    "TIMELINE_DAY_INDEX",
    "Comment",
    "CommentEdit",
    "CommentLike",
    "CommentReport",
    "ModerationDecision",
]

TZ = DateTime(timezone=True)
STATUSES = ("published", "held", "hidden", "deleted")
STANCES = ("pro", "con", "neutral")
REASONS = ("spam", "abuse", "privacy", "off_topic", "other")
HOLD_RULES = ("reports", "word_list", "privacy")
ACTIONS = ("hold", "hide", "restore")


class Comment(Base):
    """A comment on a proposal (``parent_id``: a reply to a top-level comment) or an opinion in a
    forum (with a ``stance``). ``body`` is None once the author deleted it."""

    __tablename__ = "comments"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    proposal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE")
    )
    forum_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("forums.id", ondelete="CASCADE"))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE")
    )
    author_id: Mapped[uuid.UUID] = mapped_column(index=True)
    #: Whether the author is the proposal's author (shown, so readers see the proposer answer).
    by_proposal_author: Mapped[bool] = mapped_column(server_default=text("false"))
    stance: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(12))
    body: Mapped[str | None] = mapped_column(Text)
    #: Why it is (or last was) held: ``reports``, ``word_list`` or ``privacy``.
    held_rule: Mapped[str | None] = mapped_column(String(20))
    #: The moderator's public reason while hidden.
    hidden_reason: Mapped[str | None] = mapped_column(Text)
    like_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    #: Every report ever made, and those made since the last moderator decision.
    report_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    open_reports: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    #: Since when it waits for a moderator (held, or reported since the last decision).
    queued_at: Mapped[datetime | None] = mapped_column(TZ)
    edit_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(TZ)
    edited_at: Mapped[datetime | None] = mapped_column(TZ)
    deleted_at: Mapped[datetime | None] = mapped_column(TZ)

    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        CheckConstraint(f"stance IN {STANCES}", name="stance"),
        CheckConstraint(f"held_rule IN {HOLD_RULES}", name="held_rule"),
        CheckConstraint("(proposal_id IS NULL) <> (forum_id IS NULL)", name="one_target"),
        CheckConstraint("(forum_id IS NULL) = (stance IS NULL)", name="opinion_stance"),
        CheckConstraint(
            "parent_id IS NULL OR proposal_id IS NOT NULL", name="replies_on_proposals"
        ),
        CheckConstraint("(status = 'deleted') = (body IS NULL)", name="body_until_deleted"),
        Index(
            "ix_comments_proposal_recent",
            "proposal_id",
            "created_at",
            "id",
            postgresql_where=text("parent_id IS NULL"),
        ),
        Index(
            "ix_comments_proposal_liked",
            "proposal_id",
            "like_count",
            "created_at",
            "id",
            postgresql_where=text("parent_id IS NULL"),
        ),
        Index("ix_comments_parent", "parent_id", "created_at", "id"),
        Index("ix_comments_forum_recent", "forum_id", "created_at", "id"),
        Index("ix_comments_forum_liked", "forum_id", "like_count", "created_at", "id"),
        # The stance counts read each author's latest published opinion of a forum.
        Index(
            "ix_comments_forum_author",
            "forum_id",
            "author_id",
            "created_at",
            postgresql_where=text("status = 'published'"),
        ),
        Index(
            "ix_comments_queue", "queued_at", "id", postgresql_where=text("queued_at IS NOT NULL")
        ),
    )


class CommentEdit(Base):
    """A comment's text before one of its edits (for moderators); emptied when it is deleted."""

    __tablename__ = "comment_edits"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    comment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    previous_body: Mapped[str | None] = mapped_column(Text)
    edited_at: Mapped[datetime] = mapped_column(TZ)


class CommentLike(Base):
    """One citizen likes one comment (the primary key makes it one)."""

    __tablename__ = "comment_likes"

    comment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True
    )
    citizen_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(TZ)


class ModerationDecision(Base):
    """A hold, hide or restore: by a rule (``automatic``) or by a moderator, with the reason."""

    __tablename__ = "moderation_decisions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    comment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), index=True
    )
    action: Mapped[str] = mapped_column(String(10))
    automatic: Mapped[bool]
    #: The rule that decided an automatic hold.
    rule: Mapped[str | None] = mapped_column(String(20))
    reason: Mapped[str | None] = mapped_column(Text)
    from_status: Mapped[str] = mapped_column(String(12))
    to_status: Mapped[str] = mapped_column(String(12))
    #: Reports open when the decision was made (they are closed by it).
    open_reports: Mapped[int] = mapped_column(Integer)
    decided_by: Mapped[uuid.UUID | None]
    decided_by_role: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime] = mapped_column(TZ)

    __table_args__ = (
        CheckConstraint(f"action IN {ACTIONS}", name="action"),
        CheckConstraint(f"rule IN {HOLD_RULES}", name="rule"),
        CheckConstraint("automatic = (decided_by IS NULL)", name="who"),
        Index("ix_moderation_decisions_recent", "decided_at", "id"),
    )


class CommentReport(Base):
    """A citizen's report of a comment: one per citizen per comment."""

    __tablename__ = "comment_reports"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    comment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    reporter_id: Mapped[uuid.UUID]
    reason: Mapped[str] = mapped_column(String(20))
    detail: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(TZ)
    #: The moderator decision that closed it (None while open).
    decision_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("moderation_decisions.id", ondelete="SET NULL")
    )

    __table_args__ = (
        UniqueConstraint("comment_id", "reporter_id"),
        CheckConstraint(f"reason IN {REASONS}", name="reason"),
        Index(
            "ix_comment_reports_open", "comment_id", postgresql_where=text("decision_id IS NULL")
        ),
    )


#: One ``comments`` entry per proposal and day on the public timeline, which each comment's
#: upsert counts on (``repository.count_on_timeline``); declared here, on the shared table,
#: because only deliberation writes such entries.
TIMELINE_DAY_INDEX = Index(
    "ix_timeline_entries_comment_days",
    TimelineEntry.proposal_id,
    TimelineEntry.data["date"].astext,
    unique=True,
    postgresql_where=text("kind = 'comments'"),
)
