"""notify-svc's tables: the notification log (one row per event, recipient and channel),
citizens' preferences, the delivery reports providers posted, the recipient look-ups still to do,
the read model of proposals (who proposed what), and the dev provider's message store.

No table has a column for a phone number: it is fetched from identity-svc at send time and kept
in memory only. The dev provider stores the masked number (``010-****-5678``).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Final

from sqlalchemy import (
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
    func,
)
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.consumer import InboxMessage
from services.db import Base
from services.outbox import OutboxMessage

__all__ = [
    "FINAL_STATUSES",
    "STATUSES",
    "DeliveryReportRow",
    "DevMessage",
    "InboxMessage",
    "Notification",
    "OutboxMessage",
    "Preference",
    "ProposalRef",
    "RecipientJob",
]

#: pending → sending → sent (the provider accepted) → delivered | failed; deferred (quiet hours,
#: due again at ``next_attempt_at``); skipped (opted out, no phone, channel not allowed); dead
#: (retries exhausted, for an operator to requeue).
STATUSES: Final = (
    "pending",
    "sending",
    "sent",
    "delivered",
    "failed",
    "deferred",
    "skipped",
    "dead",
)
FINAL_STATUSES: Final = ("delivered", "failed", "skipped", "dead")
CHANNELS: Final = ("alimtalk", "sms", "lms")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Notification(Base):
    """One message to one citizen on one channel because of one event.

    ``UNIQUE(event_id, citizen_id, channel)`` is what makes it exactly once: a redelivered event,
    a second consumer or a replayed fan-out inserts nothing new. ``idempotency_key`` is derived
    from the same three values and is what the provider receives, so a re-send after a crash is
    recognised by the provider as the same message.
    """

    __tablename__ = "notifications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_id: Mapped[uuid.UUID]
    event_type: Mapped[str] = mapped_column(String(100))
    citizen_id: Mapped[uuid.UUID]
    channel: Mapped[str] = mapped_column(String(16))
    template_code: Mapped[str] = mapped_column(String(64))
    #: The template's variables (never a phone number): AlimTalk sends them with the code.
    variables: Mapped[dict[str, Any]] = mapped_column(JSONB, server_default=sql("'{}'::jsonb"))
    #: The text as sent on this channel (AlimTalk: the rendered template; SMS/LMS: the body).
    text: Mapped[str] = mapped_column(Text)
    #: LMS title; None otherwise.
    title: Mapped[str | None] = mapped_column(String(100))
    #: What an SMS/LMS fallback of this AlimTalk message says (None: no fallback possible).
    fallback_text: Mapped[str | None] = mapped_column(Text)
    fallback_title: Mapped[str | None] = mapped_column(String(100))
    #: Urgent messages ignore quiet hours.
    urgent: Mapped[bool] = mapped_column(Boolean, server_default=sql("false"))
    status: Mapped[str] = mapped_column(String(16), server_default=sql("'pending'"))
    #: Why a message was skipped (``opted_out``, ``no_phone``, ``citizen_inactive``, ...).
    skip_reason: Mapped[str | None] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, server_default=sql("0"))
    #: When the row is due (pending, deferred) — the dispatcher's queue order.
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    #: While ``sending``: until when the worker that claimed it owns it. Past this, another
    #: worker takes it over and sends again with the same idempotency key.
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    provider: Mapped[str | None] = mapped_column(String(32))
    provider_message_id: Mapped[str | None] = mapped_column(String(200))
    #: The provider's last result code and message (any phone number masked).
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    #: The AlimTalk message this SMS/LMS stands in for (at most one fallback per message).
    fallback_of: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("notifications.id"), unique=True
    )
    #: What the message is about (the deep link is built from them, ``api.py``).
    proposal_id: Mapped[uuid.UUID | None]
    forum_id: Mapped[uuid.UUID | None]
    #: When the citizen marked it read in the app (None: unread).
    read_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    failed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        UniqueConstraint("event_id", "citizen_id", "channel"),
        # One first-choice message per event and citizen, whatever channel it was planned on
        # (their preferences may change between two plans of the same event).
        Index(
            "uq_notifications_primary",
            "event_id",
            "citizen_id",
            unique=True,
            postgresql_where=sql("fallback_of IS NULL"),
        ),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
        # The dispatcher's queue: rows that are or will be due.
        Index(
            "ix_notifications_due",
            "next_attempt_at",
            postgresql_where=sql("status IN ('pending', 'deferred')"),
        ),
        Index(
            "ix_notifications_sending", "lease_until", postgresql_where=sql("status = 'sending'")
        ),
        # Accepted, not yet confirmed: polled for their delivery status at ``next_attempt_at``.
        Index(
            "ix_notifications_unconfirmed",
            "next_attempt_at",
            postgresql_where=sql("status = 'sent'"),
        ),
        Index("ix_notifications_citizen", "citizen_id", "created_at", "id"),
        # A citizen's unread messages (the count, read-all); a fallback is not a second one.
        Index(
            "ix_notifications_unread",
            "citizen_id",
            postgresql_where=sql("read_at IS NULL AND fallback_of IS NULL"),
        ),
        Index(
            "ix_notifications_provider_message",
            "provider",
            "provider_message_id",
            postgresql_where=sql("provider_message_id IS NOT NULL"),
        ),
        Index("ix_notifications_dead", "updated_at", "id", postgresql_where=sql("status = 'dead'")),
    )


class Preference(Base):
    """A citizen's choices: channels allowed, opt-out, consent to night-time messages."""

    __tablename__ = "notification_preferences"

    citizen_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    channels: Mapped[list[str]] = mapped_column(ARRAY(String(16)))
    opt_out: Mapped[bool] = mapped_column(Boolean, server_default=sql("false"))
    night_consent: Mapped[bool] = mapped_column(Boolean, server_default=sql("false"))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DeliveryReportRow(Base):
    """Every delivery report a provider posted or a poll returned, kept for operators. A report
    that arrives before its message's send result was recorded (the provider can be that fast)
    stays unapplied until the dispatcher records the provider's message id."""

    __tablename__ = "delivery_reports"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    provider: Mapped[str] = mapped_column(String(32))
    provider_message_id: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    code: Mapped[str | None] = mapped_column(String(64))
    reported_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    received_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    notification_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("notifications.id"))
    applied: Mapped[bool] = mapped_column(Boolean, server_default=sql("false"))

    __table_args__ = (
        Index("ix_delivery_reports_message", "provider", "provider_message_id"),
        Index(
            "ix_delivery_reports_unapplied",
            "provider",
            "provider_message_id",
            postgresql_where=sql("NOT applied"),
        ),
    )


class RecipientJob(Base):
    """A fan-out still to do: the recipients of an event that only another service knows
    (a forum's participants from vote-svc, the staff of a role from identity-svc).

    The consumer records the job in the transaction of its inbox row; the dispatcher then reads
    the recipients page by page (the cursor is saved with each page's rows), so a crash or an
    unreachable service only delays it. Rows are inserted idempotently, so a repeated page adds
    nothing.
    """

    __tablename__ = "recipient_jobs"

    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_type: Mapped[str] = mapped_column(String(100))
    #: What to look up (``forum_id``, ``role``, ``department``) and what to send.
    params: Mapped[dict[str, Any]] = mapped_column(JSONB)
    cursor: Mapped[str | None] = mapped_column(Text)
    done: Mapped[bool] = mapped_column(Boolean, server_default=sql("false"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=sql("0"))
    next_attempt_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    last_error: Mapped[str | None] = mapped_column(Text)
    recipients: Mapped[int] = mapped_column(Integer, server_default=sql("0"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        Index("ix_recipient_jobs_due", "next_attempt_at", postgresql_where=sql("NOT done")),
    )


class ProposalRef(Base):
    """Read model of proposals (``proposal.submitted`` and every event that names the author):
    who proposed it and its title, so that forum events reach the proposer."""

    __tablename__ = "proposal_authors"

    proposal_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    author_id: Mapped[uuid.UUID]
    title: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class DevMessage(Base):
    """What the ``dev`` provider "sent": a stand-in for the provider's own records, readable at
    ``GET /v1/notifications/dev/messages``. Keyed by the idempotency key, like NHN's, so a repeated
    send is answered "already accepted" and stored once."""

    __tablename__ = "dev_messages"

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    provider_message_id: Mapped[str] = mapped_column(String(64), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    #: ``010-****-5678``: never the full number.
    to_masked: Mapped[str] = mapped_column(String(32))
    template_code: Mapped[str | None] = mapped_column(String(64))
    title: Mapped[str | None] = mapped_column(String(100))
    text: Mapped[str] = mapped_column(Text)
    accepted_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now()
    )
    #: Set when a poll (or the dev webhook) reported the message delivered.
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
