"""vote-svc's tables: votes and tallies (its own facts), and the read models it keeps from other
services' events (which targets are open, which citizens are suspended)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Computed,
    DateTime,
    Index,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.consumer import InboxMessage
from services.db import Base
from services.outbox import OutboxMessage

__all__ = [
    "TARGET_STATUS_SQL",
    "CitizenSuspension",
    "InboxMessage",
    "LedgerRecording",
    "OutboxMessage",
    "Tally",
    "Target",
    "Vote",
]

#: A target is open when the newest statement about it is an ``opened`` event. Comparing the
#: events' times (instead of applying them in arrival order) makes the read model indifferent to
#: delivery order: a ``closed`` that overtook its ``opened`` is not undone by the late ``opened``.
TARGET_STATUS_SQL = (
    "CASE WHEN opened_event_at IS NOT NULL "
    "AND (closed_event_at IS NULL OR opened_event_at > closed_event_at) "
    "THEN 'open' ELSE 'closed' END"
)


class Vote(Base):
    """One agreement (``choice = 'agree'``) or forum ballot, with its canonical record.

    ``UNIQUE(target_type, target_id, citizen_id)`` is what makes it one vote per person per
    target, under any concurrency. ``record`` holds the exact bytes whose SHA-256 is
    ``record_hash`` (docs/canonical-record.md); they never contain the citizen id.
    """

    __tablename__ = "votes"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    target_type: Mapped[str] = mapped_column(String(16))
    target_id: Mapped[uuid.UUID]
    citizen_id: Mapped[uuid.UUID]
    choice: Mapped[str] = mapped_column(String(100))
    cast_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    voter_tag: Mapped[str] = mapped_column(String(64))
    record_hash: Mapped[str] = mapped_column(String(64))
    record: Mapped[bytes] = mapped_column(LargeBinary)
    #: The voter's age band and residency category as the access token said when they voted
    #: (for the k-anonymous breakdowns of docs/statistics.md); ``None`` when it did not say.
    #: Unindexed: one index more would be one more write on every agreement.
    age_band: Mapped[str | None] = mapped_column(String(16))
    residency: Mapped[str | None] = mapped_column(String(16))

    __table_args__ = (
        UniqueConstraint("target_type", "target_id", "citizen_id"),
        CheckConstraint("target_type IN ('proposal', 'forum')", name="target_type"),
        # A citizen's own votes, newest first (GET /v1/votes/mine).
        Index("ix_votes_citizen_recent", "citizen_id", "cast_at", "id"),
    )


class Tally(Base):
    """The count of a target's votes: the total and the count per choice.

    One row per target, so that one row lock makes both numbers exact in the statement that
    casts a vote (the ``vote.tally_changed`` event carries them as they are after that vote).
    """

    __tablename__ = "tallies"

    target_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    vote_count: Mapped[int] = mapped_column(BigInteger, server_default=text("0"))
    by_choice: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=text("'{}'::jsonb"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Target(Base):
    """Read model of a proposal or forum, fed by ``proposal.opened/closed`` and
    ``forum.opened/closed``. ``status`` is derived from the times of the latest events."""

    __tablename__ = "targets"

    target_type: Mapped[str] = mapped_column(String(16), primary_key=True)
    target_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    #: Votes are accepted from ``opens_at`` until before ``closes_at`` while the status is open.
    opens_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closes_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: The choices of a forum (NFC); ``NULL`` for proposals (their only choice is ``agree``).
    options: Mapped[list[str] | None] = mapped_column(ARRAY(String(100)))
    #: CloudEvents ``time`` of the latest opened/closed event applied.
    opened_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_event_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: Why it closed, as the publisher said: ``closed``, ``withdrawn``, ``hidden``, ...
    closed_status: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(8), Computed(TARGET_STATUS_SQL, persisted=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (CheckConstraint("target_type IN ('proposal', 'forum')", name="target_type"),)


class CitizenSuspension(Base):
    """Read model of suspensions, fed by ``identity.citizen_suspended/citizen_reinstated``."""

    __tablename__ = "citizen_suspensions"

    citizen_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    suspended: Mapped[bool] = mapped_column(Boolean)
    reason: Mapped[str | None] = mapped_column(Text)
    #: CloudEvents ``time`` of the latest event applied (older ones arriving late are ignored).
    changed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class LedgerRecording(Base):
    """Read model of ``ledger.batch_committed``: the votes the ledger recorded, in which batch.

    A table of its own rather than a column of ``votes``: the hot table is never updated."""

    __tablename__ = "ledger_recordings"

    vote_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    batch_seq: Mapped[int] = mapped_column(BigInteger)
    recorded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
