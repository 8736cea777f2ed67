"""The integrity tables, on vote-svc's metadata (migration ``0003_vote_signals``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, DateTime, Index, Integer, String, UniqueConstraint
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base


class VoteSignal(Base):
    """A vote's pseudonymous signals (``integrity.signals``), written by the cast statement in
    the vote's own transaction and deleted after ``VOTE_SIGNAL_RETENTION_DAYS``."""

    __tablename__ = "vote_signals"
    __table_args__ = (
        Index("ix_vote_signals_target_cast_at", "target_type", "target_id", "cast_at"),
        # The retention purge deletes by age.
        Index("ix_vote_signals_cast_at", "cast_at"),
    )

    vote_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[uuid.UUID]
    cast_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    network_hash: Mapped[str] = mapped_column(String(32))
    agent_hash: Mapped[str] = mapped_column(String(32))
    account_age_hours: Mapped[int | None] = mapped_column(Integer)
    age_band: Mapped[str] = mapped_column(String(16))


class IntegritySignal(Base):
    """A signal computed on one target's window, with its evidence (aggregates only)."""

    __tablename__ = "integrity_signals"
    __table_args__ = (
        UniqueConstraint(
            "target_type", "target_id", "kind", "window_start", name="uq_integrity_signals_window"
        ),
        CheckConstraint(
            "kind IN ('arrival_spike', 'new_accounts', 'network_concentration', "
            "'agent_concentration', 'night_burst', 'age_band_skew')",
            name="ck_integrity_signals_kind",
        ),
        CheckConstraint("level IN ('notice', 'warning')", name="ck_integrity_signals_level"),
        Index("ix_integrity_signals_target", "target_type", "target_id"),
        Index("ix_integrity_signals_detected", "detected_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[uuid.UUID]
    kind: Mapped[str] = mapped_column(String(32))
    level: Mapped[str] = mapped_column(String(16))
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    evidence: Mapped[dict[str, Any]] = mapped_column(JSONB)
    detected_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
