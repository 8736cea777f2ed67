"""The queries of follows. They run in the caller's transaction and know nothing of HTTP."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from proposal_svc.follows.models import Follow, FollowPreference
from proposal_svc.models import Proposal


async def set_following(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    proposal_id: uuid.UUID,
    following: bool,
    via: str,
    now: datetime,
) -> None:
    """Follow (or leave) a proposal, whatever was there before (an upsert on the pair)."""
    statement = insert(Follow).values(
        citizen_id=citizen_id,
        proposal_id=proposal_id,
        following=following,
        via=via,
        created_at=now,
        updated_at=now,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[Follow.citizen_id, Follow.proposal_id],
            set_={"following": following, "via": via, "updated_at": now},
            where=Follow.following.is_distinct_from(following),
        )
    )


async def follow_agreed(
    session: AsyncSession, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]], now: datetime
) -> None:
    """Make each ``(citizen, proposal)`` of agreements a follow, except for citizens who opted
    out, and never over a row already there (a follow, or one the citizen left). Proposals
    unknown here are skipped."""
    if not pairs:
        return
    citizens = [c for c, _ in pairs]
    opted_out = set(
        (
            await session.scalars(
                select(FollowPreference.citizen_id).where(
                    FollowPreference.citizen_id.in_(citizens),
                    FollowPreference.follow_agreed.is_(False),
                )
            )
        ).all()
    )
    rows = [
        {
            "citizen_id": c,
            "proposal_id": p,
            "following": True,
            "via": "agreement",
            "created_at": now,
            "updated_at": now,
        }
        for c, p in sorted(set(pairs))
        if c not in opted_out
    ]
    if not rows:
        return
    known = set(
        (
            await session.scalars(
                select(Proposal.id).where(Proposal.id.in_({r["proposal_id"] for r in rows}))
            )
        ).all()
    )
    rows = [r for r in rows if r["proposal_id"] in known]
    if rows:
        await session.execute(insert(Follow).values(rows).on_conflict_do_nothing())


async def is_following(
    session: AsyncSession, citizen_id: uuid.UUID, proposal_id: uuid.UUID
) -> bool:
    """Whether the citizen follows the proposal now."""
    found = await session.scalar(
        select(Follow.following).where(
            Follow.citizen_id == citizen_id, Follow.proposal_id == proposal_id
        )
    )
    return bool(found)


async def followers_page(
    session: AsyncSession, proposal_id: uuid.UUID, *, after: uuid.UUID | None, limit: int
) -> Sequence[uuid.UUID]:
    """Up to ``limit`` followers of the proposal after citizen ``after``, by citizen id."""
    query = (
        select(Follow.citizen_id)
        .where(Follow.proposal_id == proposal_id, Follow.following)
        .order_by(Follow.citizen_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(Follow.citizen_id > after)
    return (await session.scalars(query)).all()


async def preference(session: AsyncSession, citizen_id: uuid.UUID) -> FollowPreference | None:
    """The citizen's stored preference, or None (the default)."""
    return await session.get(FollowPreference, citizen_id)


async def set_preference(
    session: AsyncSession, citizen_id: uuid.UUID, follow_agreed: bool, now: datetime
) -> None:
    """Store the citizen's preference."""
    statement = insert(FollowPreference).values(
        citizen_id=citizen_id, follow_agreed=follow_agreed, updated_at=now
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[FollowPreference.citizen_id],
            set_={"follow_agreed": follow_agreed, "updated_at": now},
        )
    )
