"""proposal-svc's tables: proposals and their public history, tiers, obligations, answers,
committee decisions, forums."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Identity,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
    func,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.consumer import InboxMessage
from services.db import Base
from services.outbox import OutboxMessage

__all__ = [
    "Answer",
    "CommitteeDecision",
    "Forum",
    "InboxMessage",
    "Obligation",
    "OutboxMessage",
    "Proposal",
    "ProposalListVersion",
    "TierCrossing",
    "TimelineEntry",
]

TZ = DateTime(timezone=True)
STATUSES = ("open", "closed", "adopted", "budget_linked", "withdrawn", "hidden")


class Proposal(Base):
    __tablename__ = "proposals"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    author_id: Mapped[uuid.UUID] = mapped_column(index=True)
    title: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    category: Mapped[str] = mapped_column(String(40))
    district: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20))
    agreement_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_at: Mapped[datetime] = mapped_column(TZ)
    opened_at: Mapped[datetime] = mapped_column(TZ)
    closes_at: Mapped[datetime] = mapped_column(TZ)
    closed_at: Mapped[datetime | None] = mapped_column(TZ)
    hidden_reason: Mapped[str | None] = mapped_column(Text)
    #: Korean lemmas of title and body, for similar-proposal search (GIN-indexed).
    lemmas: Mapped[list[str]] = mapped_column(ARRAY(Text), server_default=text("'{}'"))
    #: Normalised title and body for pg_trgm (GIN trigram index).
    search_text: Mapped[str] = mapped_column(Text, server_default=text("''"))

    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status"),
        Index("ix_proposals_recent", "created_at", "id"),
        Index("ix_proposals_agreements", "agreement_count", "created_at", "id"),
        Index("ix_proposals_status_closes_at", "status", "closes_at"),
        Index("ix_proposals_lemmas", "lemmas", postgresql_using="gin"),
        Index(
            "ix_proposals_search_text_trgm",
            "search_text",
            postgresql_using="gin",
            postgresql_ops={"search_text": "gin_trgm_ops"},
        ),
    )


class TimelineEntry(Base):
    """One public event in a proposal's history, in order."""

    __tablename__ = "timeline_entries"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    proposal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(TZ)
    actor_role: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'"))


class TierCrossing(Base):
    __tablename__ = "tier_crossings"

    proposal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True
    )
    tier: Mapped[str] = mapped_column(String(40), primary_key=True)
    threshold: Mapped[int]
    reached_at: Mapped[datetime] = mapped_column(TZ)


class Obligation(Base):
    """What the city owes a proposal, by when."""

    __tablename__ = "obligations"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    proposal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(TZ)
    due_at: Mapped[datetime] = mapped_column(TZ)
    fulfilled_at: Mapped[datetime | None] = mapped_column(TZ)
    overdue_at: Mapped[datetime | None] = mapped_column(TZ)

    __table_args__ = (
        UniqueConstraint("proposal_id", "kind"),
        Index(
            "ix_obligations_open_due",
            "due_at",
            postgresql_where=text("fulfilled_at IS NULL AND overdue_at IS NULL"),
        ),
    )


class Answer(Base):
    __tablename__ = "answers"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    proposal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    author_id: Mapped[uuid.UUID]
    author_role: Mapped[str] = mapped_column(String(32))
    department: Mapped[str | None] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(TZ)


class CommitteeDecision(Base):
    __tablename__ = "committee_decisions"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    proposal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), index=True
    )
    decision: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(String(20))
    rationale: Mapped[str] = mapped_column(Text)
    grouped_proposal_ids: Mapped[list[uuid.UUID]] = mapped_column(ARRAY(Uuid()))
    decided_by: Mapped[uuid.UUID]
    decided_at: Mapped[datetime] = mapped_column(TZ)


class Forum(Base):
    """A deliberation forum (공론장): opened by a proposal's tier, or the city's monthly forum."""

    __tablename__ = "forums"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    proposal_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("proposals.id", ondelete="SET NULL"), index=True
    )
    title: Mapped[str] = mapped_column(Text)
    description: Mapped[str] = mapped_column(Text, server_default=text("''"))
    mode: Mapped[str] = mapped_column(String(10))
    options: Mapped[list[str]] = mapped_column(ARRAY(Text))
    status: Mapped[str] = mapped_column(String(12))
    opens_at: Mapped[datetime] = mapped_column(TZ)
    closes_at: Mapped[datetime] = mapped_column(TZ)
    closed_at: Mapped[datetime | None] = mapped_column(TZ)
    participant_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    created_by: Mapped[uuid.UUID | None]
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())

    __table_args__ = (
        CheckConstraint("status IN ('scheduled', 'open', 'closed')", name="status"),
        CheckConstraint("mode IN ('online', 'offline', 'hybrid')", name="mode"),
        Index("ix_forums_status_times", "status", "opens_at", "closes_at"),
    )


class ProposalListVersion(Base):
    """One row: the version of the proposal list, bumped at the commit of every transaction that
    changes a proposal (a trigger of migration 0003_read_versions; proposal_svc/caching.py)."""

    __tablename__ = "proposal_list_version"

    one: Mapped[bool] = mapped_column(Boolean, primary_key=True, server_default=true())
    version: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))

    __table_args__ = (CheckConstraint("one", name="one_row"),)
