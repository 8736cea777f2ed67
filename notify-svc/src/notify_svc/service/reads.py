"""What the API lists (a citizen's messages and how many are unread, dead letters, the dev
provider's messages), a citizen marking messages read, and the operator's requeue of a dead
message."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Row, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from notify_svc import repository
from notify_svc.models import DevMessage, Notification
from notify_svc.repository import Page
from services.paging import after_keyset, decode_keyset, encode_keyset
from services.problems import ProblemError

#: A dev provider's message with the id and citizen of the notification it carried (None when
#: the notification is gone).
DevMessageRow = Row[DevMessage, uuid.UUID | None, uuid.UUID | None]


async def list_for_citizen(
    session: AsyncSession, citizen_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page[Notification]:
    """The messages planned for a citizen, newest first (keyset pagination)."""
    query = select(Notification).where(Notification.citizen_id == citizen_id)
    return await repository.newest_first(
        session, query, Notification.created_at, cursor=cursor, limit=limit
    )


def _unread_of(citizen_id: uuid.UUID) -> list[ColumnElement[bool]]:
    return [
        Notification.citizen_id == citizen_id,
        Notification.read_at.is_(None),
        Notification.fallback_of.is_(None),
    ]


async def unread_count(session: AsyncSession, citizen_id: uuid.UUID) -> int:
    """How many of the citizen's messages are unread (a fallback is not a message of its own)."""
    count = await session.scalar(
        select(func.count()).select_from(Notification).where(*_unread_of(citizen_id))
    )
    return int(count or 0)


async def mark_read(
    session: AsyncSession, citizen_id: uuid.UUID, notification_id: uuid.UUID, now: datetime
) -> Notification:
    """Mark one of the citizen's messages read (with its SMS/LMS fallback, the same message);
    marking it again keeps the first time. Another citizen's message is not found (404)."""
    row = await session.get(Notification, notification_id)
    if row is None or row.citizen_id != citizen_id:
        raise ProblemError(
            404,
            "notification-not-found",
            "Notification not found",
            f"you have no message {notification_id}",
        )
    await session.execute(
        update(Notification)
        .where(
            Notification.event_id == row.event_id,
            Notification.citizen_id == citizen_id,
            Notification.read_at.is_(None),
        )
        .values(read_at=now)
    )
    await session.refresh(row)
    return row


async def mark_all_read(session: AsyncSession, citizen_id: uuid.UUID, now: datetime) -> int:
    """Mark every unread message of the citizen read; how many messages were (fallbacks are
    marked with their message, not counted)."""
    result = await session.execute(
        update(Notification)
        .where(Notification.citizen_id == citizen_id, Notification.read_at.is_(None))
        .values(read_at=now)
        .returning(Notification.fallback_of)
    )
    return sum(1 for (fallback_of,) in result if fallback_of is None)


async def list_dead(session: AsyncSession, *, cursor: str | None, limit: int) -> Page[Notification]:
    """Dead messages (retries exhausted), most recently given up first."""
    query = select(Notification).where(Notification.status == "dead")
    return await repository.newest_first(
        session, query, Notification.updated_at, cursor=cursor, limit=limit
    )


async def list_dev_messages(
    session: AsyncSession,
    *,
    citizen_id: uuid.UUID | None,
    template_code: str | None,
    cursor: str | None,
    limit: int,
) -> Page[DevMessageRow]:
    """What the dev provider would have sent, newest first, optionally of one citizen or one
    template, with the message (id, citizen) each one carried; the cursor is the ``(id,)`` of
    the page's last row."""
    query = select(DevMessage, Notification.id, Notification.citizen_id).outerjoin(
        Notification, Notification.idempotency_key == DevMessage.idempotency_key
    )
    if citizen_id is not None:
        query = query.where(Notification.citizen_id == citizen_id)
    if template_code is not None:
        query = query.where(Notification.template_code == template_code)
    key = decode_keyset(cursor, (int,))
    if key is not None:
        query = query.where(after_keyset([DevMessage.id.expression], key))
    rows: Sequence[DevMessageRow] = (
        await session.execute(query.order_by(DevMessage.id.desc()).limit(limit + 1))
    ).all()
    page = Page(list(rows[:limit]))
    if len(rows) > limit:
        page.next_cursor = encode_keyset([page.items[-1][0].id])
    return page


async def requeue(session: AsyncSession, notification_id: uuid.UUID, now: datetime) -> Notification:
    """Give a dead message a fresh set of attempts, due now (same idempotency key)."""
    row = await repository.locked_notification(session, notification_id)
    if row is None:
        raise ProblemError(
            404, "notification-not-found", "Notification not found", f"no message {notification_id}"
        )
    if row.status != "dead":
        raise ProblemError(
            409,
            "notification-not-dead",
            "Only dead messages can be requeued",
            f"the message is {row.status}",
            status_now=row.status,
        )
    stand_in = await repository.fallback_id(session, row.id)
    if stand_in is not None:
        raise ProblemError(
            409,
            "fallback-exists",
            "A fallback already carries this message",
            "an SMS/LMS was queued in place of this AlimTalk; requeueing would tell the citizen "
            "twice",
            fallback_id=stand_in,
        )
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = now
    row.updated_at = now
    row.error_code = None
    row.error_message = None
    return row
