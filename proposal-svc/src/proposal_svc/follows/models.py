"""The follows of proposals and each citizen's preference for following what they agree with."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, DateTime, ForeignKey, Index, String, text
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base

__all__ = ["Follow", "FollowPreference"]

TZ = DateTime(timezone=True)
#: How a follow came about.
VIA = ("explicit", "agreement", "author")


class Follow(Base):
    """A citizen follows (or, ``following = false``, left) a proposal: one row per pair, the
    primary key makes it unique under any concurrency."""

    __tablename__ = "proposal_follows"

    citizen_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    proposal_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("proposals.id", ondelete="CASCADE"), primary_key=True
    )
    following: Mapped[bool] = mapped_column(Boolean, server_default=text("true"))
    via: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(TZ)
    updated_at: Mapped[datetime] = mapped_column(TZ)

    __table_args__ = (
        CheckConstraint(f"via IN {VIA}", name="via"),
        # The followers of a proposal, by citizen id (notify-svc's keyset pages).
        Index(
            "ix_proposal_follows_followers",
            "proposal_id",
            "citizen_id",
            postgresql_where=text("following"),
        ),
    )


class FollowPreference(Base):
    """A citizen's choice about following what they agree with (no row: the default, on)."""

    __tablename__ = "follow_preferences"

    citizen_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    follow_agreed: Mapped[bool] = mapped_column(Boolean)
    updated_at: Mapped[datetime] = mapped_column(TZ)
