"""notify-svc's queries: the reads that the use cases (``service/``), the dispatcher and the
routes share. Each takes the caller's session; none writes or commits."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from notify_svc.models import (
    DeliveryReportRow,
    Notification,
    Preference,
    ProposalRef,
    RecipientJob,
)
from services.paging import after_keyset, decode_keyset, encode_keyset

T = TypeVar("T")


@dataclass
class Page(Generic[T]):
    """One page of a listing, newest first, and the cursor of the next (None: the last)."""

    items: list[T] = field(default_factory=list)
    next_cursor: str | None = None


# --- preferences and read models ----------------------------------------------------------------


async def preferences_of(
    session: AsyncSession, citizen_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Preference]:
    """The stored preferences of those citizens who have any."""
    ids = list(set(citizen_ids))
    if not ids:
        return {}
    rows = await session.scalars(select(Preference).where(Preference.citizen_id.in_(ids)))
    return {p.citizen_id: p for p in rows}


async def preference(session: AsyncSession, citizen_id: uuid.UUID) -> Preference | None:
    """One citizen's stored preferences, if any."""
    return await session.get(Preference, citizen_id)


async def proposal_ref(session: AsyncSession, proposal_id: uuid.UUID | None) -> ProposalRef | None:
    """The proposer and title of a proposal, if notify-svc has heard of it."""
    if proposal_id is None:
        return None
    return await session.get(ProposalRef, proposal_id)


# --- messages --------------------------------------------------------------------------------------


async def locked_notification(
    session: AsyncSession, notification_id: uuid.UUID
) -> Notification | None:
    """A message, locked for update until the transaction ends."""
    return await session.get(Notification, notification_id, with_for_update=True)


async def fallback_id(session: AsyncSession, notification_id: uuid.UUID) -> uuid.UUID | None:
    """The SMS/LMS queued in place of a message, if there is one."""
    found: uuid.UUID | None = await session.scalar(
        select(Notification.id).where(Notification.fallback_of == notification_id)
    )
    return found


async def by_provider_message_id(
    session: AsyncSession, provider: str, provider_message_id: str
) -> Notification | None:
    """The (first) message a provider knows as ``provider_message_id``, locked."""
    return await session.scalar(
        select(Notification)
        .where(
            Notification.provider == provider,
            Notification.provider_message_id == provider_message_id,
        )
        .order_by(Notification.created_at)
        .limit(1)
        .with_for_update()
    )


async def unapplied_reports(
    session: AsyncSession, provider: str, provider_message_id: str
) -> list[DeliveryReportRow]:
    """Delivery reports that arrived before their message's id was known, oldest first."""
    rows = await session.scalars(
        select(DeliveryReportRow)
        .where(
            DeliveryReportRow.provider == provider,
            DeliveryReportRow.provider_message_id == provider_message_id,
            DeliveryReportRow.applied.is_(False),
        )
        .order_by(DeliveryReportRow.id)
    )
    return list(rows)


# --- what the dispatcher takes (locked, skipping rows another worker holds) ----------------------


async def due_for_sending(session: AsyncSession, now: datetime, limit: int) -> list[Notification]:
    """Messages due now: ``pending``/``deferred`` whose time has come, and ``sending`` ones whose
    lease ran out (their worker died), locked with SKIP LOCKED."""
    rows = await session.scalars(
        select(Notification)
        .where(
            or_(
                and_(
                    Notification.status.in_(("pending", "deferred")),
                    Notification.next_attempt_at <= now,
                ),
                and_(Notification.status == "sending", Notification.lease_until <= now),
            )
        )
        .order_by(Notification.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def due_for_confirmation(
    session: AsyncSession, now: datetime, limit: int
) -> list[Notification]:
    """``sent`` messages whose delivery is due to be asked about, locked with SKIP LOCKED."""
    rows = await session.scalars(
        select(Notification)
        .where(
            Notification.status == "sent",
            Notification.next_attempt_at <= now,
            Notification.provider_message_id.is_not(None),
        )
        .order_by(Notification.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list(rows)


async def next_due_job(session: AsyncSession, now: datetime) -> RecipientJob | None:
    """The recipient job most overdue for its next page, locked with SKIP LOCKED."""
    return await session.scalar(
        select(RecipientJob)
        .where(RecipientJob.done.is_(False), RecipientJob.next_attempt_at <= now)
        .order_by(RecipientJob.next_attempt_at)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


# --- listings (keyset pagination, one cursor codec: services.paging) ----------------------------


async def newest_first(
    session: AsyncSession,
    query: Select[Notification],
    at_column: InstrumentedAttribute[datetime],
    *,
    cursor: str | None,
    limit: int,
) -> Page[Notification]:
    """One page of ``query``'s messages, newest ``at_column`` first, the cursor being the
    ``(at, id)`` of the page's last row."""
    key = decode_keyset(cursor, (datetime, uuid.UUID))
    if key is not None:
        query = query.where(after_keyset([at_column.expression, Notification.id.expression], key))
    rows = list(
        await session.scalars(
            query.order_by(at_column.desc(), Notification.id.desc()).limit(limit + 1)
        )
    )
    page = Page(rows[:limit])
    if len(rows) > limit:
        last = page.items[-1]
        page.next_cursor = encode_keyset([getattr(last, at_column.key), last.id])
    return page
