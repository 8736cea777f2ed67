"""The milestones table."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base

__all__ = ["Milestone"]

MILESTONE_STATUSES = ("planned", "in_progress", "done", "dropped")


class Milestone(Base):
    """One step of carrying out a proposal, as staff published it (never edited: a change of
    status is a new milestone, so the history stays public)."""

    __tablename__ = "milestones"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    proposal_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12))
    #: Percent done, 0..100, when staff give it.
    progress: Mapped[int | None]
    budget_krw: Mapped[int | None] = mapped_column(BigInteger)
    note: Mapped[str] = mapped_column(Text)
    #: Why a budget-linked project was dropped (required then).
    reason: Mapped[str | None] = mapped_column(Text)
    #: Who published it (kept for audit, never shown) and in which role and department.
    published_by: Mapped[uuid.UUID]
    published_by_role: Mapped[str] = mapped_column(String(32))
    department: Mapped[str | None] = mapped_column(String(100))
    published_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint(f"status IN {MILESTONE_STATUSES}", name="status"),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress"),
        CheckConstraint("budget_krw >= 0", name="budget"),
        Index("ix_milestones_proposal", "proposal_id", "published_at", "id"),
    )
