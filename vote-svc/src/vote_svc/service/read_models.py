"""The read models fed by other services' events: which targets accept votes (proposal and
forum events) and which citizens are suspended (identity events).

Each event is applied by the time its publisher stated it (``event_time``, the CloudEvents
``time``), not by arrival order, so a redelivered or overtaken event never undoes a newer one.
"""

from __future__ import annotations

import unicodedata
import uuid
from collections.abc import Iterable
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import or_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.canonical import TargetType
from vote_svc.models import CitizenSuspension, Target


def forum_options(options: Iterable[str]) -> list[str]:
    """A forum's options as the read model keeps them: NFC (ballots are compared in NFC), in
    order, without repeats."""
    return list(dict.fromkeys(unicodedata.normalize("NFC", o) for o in options))


async def target_opened(
    session: AsyncSession,
    target_type: TargetType,
    target_id: uuid.UUID,
    *,
    opens_at: datetime,
    closes_at: datetime | None,
    options: list[str] | None,
    event_time: datetime,
    now: datetime,
) -> None:
    """Apply an ``opened`` event stated at ``event_time``; an older one than already applied
    changes nothing, and one older than the latest ``closed`` leaves the target closed."""
    await _apply_target_event(
        session,
        target_type,
        target_id,
        "opened_event_at",
        {"opens_at": opens_at, "closes_at": closes_at, "options": options},
        event_time=event_time,
        now=now,
    )


async def target_closed(
    session: AsyncSession,
    target_type: TargetType,
    target_id: uuid.UUID,
    *,
    status: str,
    event_time: datetime,
    now: datetime,
) -> None:
    """Apply a ``closed`` event stated at ``event_time`` (a target first heard of this way is
    known, and closed)."""
    await _apply_target_event(
        session,
        target_type,
        target_id,
        "closed_event_at",
        {"closed_status": status},
        event_time=event_time,
        now=now,
    )


async def fill_target(
    session: AsyncSession,
    target_type: TargetType,
    target_id: uuid.UUID,
    *,
    opens_at: datetime,
    closes_at: datetime | None,
    options: list[str] | None,
    opened_at: datetime,
    closed_at: datetime | None,
    closed_status: str | None,
    now: datetime,
) -> None:
    """Fill a target from proposal-svc's answer (``vote_svc.targets``) as if its events had
    arrived, stated at ``opened_at`` and ``closed_at``: both are at or before the times of the
    events that announce them, so those events, arriving later, write the same values again,
    and any newer event still applies."""
    await target_opened(
        session,
        target_type,
        target_id,
        opens_at=opens_at,
        closes_at=closes_at,
        options=None if options is None else forum_options(options),
        event_time=opened_at,
        now=now,
    )
    if closed_at is not None:
        await target_closed(
            session,
            target_type,
            target_id,
            status=closed_status or "closed",
            event_time=closed_at,
            now=now,
        )


async def _apply_target_event(
    session: AsyncSession,
    target_type: TargetType,
    target_id: uuid.UUID,
    event_at: Literal["opened_event_at", "closed_event_at"],
    values: dict[str, Any],
    *,
    event_time: datetime,
    now: datetime,
) -> None:
    """Write ``values`` and ``event_at = event_time`` into the target's row, unless the row
    already holds an event of this kind (``event_at``) that is as new or newer."""
    stmt = insert(Target).values(
        target_type=target_type, target_id=target_id, **values, **{event_at: event_time}
    )
    applied_at = getattr(Target, event_at)
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[Target.target_type, Target.target_id],
            set_={
                **{column: stmt.excluded[column] for column in [*values, event_at]},
                "updated_at": now,
            },
            where=or_(applied_at.is_(None), applied_at < stmt.excluded[event_at]),
        )
    )


async def set_suspension(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    *,
    suspended: bool,
    reason: str | None,
    event_time: datetime,
) -> None:
    """Apply a suspension or reinstatement stated at ``event_time`` unless a newer one was."""
    stmt = insert(CitizenSuspension).values(
        citizen_id=citizen_id, suspended=suspended, reason=reason, changed_at=event_time
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[CitizenSuspension.citizen_id],
            set_={
                "suspended": stmt.excluded.suspended,
                "reason": stmt.excluded.reason,
                "changed_at": stmt.excluded.changed_at,
            },
            where=CitizenSuspension.changed_at < stmt.excluded.changed_at,
        )
    )
