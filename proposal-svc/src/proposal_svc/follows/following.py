"""The use cases of follows: follow, unfollow, the preference, agreements that follow, and the
followers notify-svc pages through. They never commit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession

from proposal_svc.bootstrap import ProposalContext
from proposal_svc.follows import repository
from proposal_svc.service.proposals import get_proposal
from services.paging import decode_cursor, encode_cursor


async def follow(
    session: AsyncSession, ctx: ProposalContext, citizen_id: uuid.UUID, proposal_id: uuid.UUID
) -> None:
    """The citizen follows the proposal (again); idempotent. 404 for an unknown proposal."""
    await get_proposal(session, proposal_id)
    await repository.set_following(
        session, citizen_id, proposal_id, True, "explicit", ctx.clock.now()
    )


async def unfollow(
    session: AsyncSession, ctx: ProposalContext, citizen_id: uuid.UUID, proposal_id: uuid.UUID
) -> None:
    """The citizen stops following the proposal; idempotent, and remembered, so that their
    agreement applied later does not follow it again. 404 for an unknown proposal."""
    await get_proposal(session, proposal_id)
    await repository.set_following(
        session, citizen_id, proposal_id, False, "explicit", ctx.clock.now()
    )


async def author_follows(
    session: AsyncSession, ctx: ProposalContext, author_id: uuid.UUID, proposal_id: uuid.UUID
) -> None:
    """The proposer follows their own proposal (when it is submitted)."""
    await repository.set_following(session, author_id, proposal_id, True, "author", ctx.clock.now())


async def agreements_follow(
    session: AsyncSession, ctx: ProposalContext, pairs: Sequence[tuple[uuid.UUID, uuid.UUID]]
) -> None:
    """Citizens who agreed (``(citizen, proposal)`` pairs) follow, unless they opted out or
    had left the proposal."""
    await repository.follow_agreed(session, pairs, ctx.clock.now())


async def follows_agreed(session: AsyncSession, citizen_id: uuid.UUID) -> bool:
    """The citizen's preference: whether agreeing follows (default: yes)."""
    stored = await repository.preference(session, citizen_id)
    return True if stored is None else stored.follow_agreed


async def set_follows_agreed(
    session: AsyncSession, ctx: ProposalContext, citizen_id: uuid.UUID, value: bool
) -> None:
    """Store the citizen's preference (it applies to agreements from now on)."""
    await repository.set_preference(session, citizen_id, value, ctx.clock.now())


async def followers(
    session: AsyncSession, proposal_id: uuid.UUID, *, cursor: str | None, limit: int
) -> tuple[Sequence[uuid.UUID], str | None]:
    """A page of the proposal's followers by citizen id and the next page's cursor (None on the
    last page); 404 for an unknown proposal, 400 ``invalid-cursor``."""
    after = decode_cursor(cursor)
    await get_proposal(session, proposal_id)
    rows = await repository.followers_page(session, proposal_id, after=after, limit=limit + 1)
    page = rows[:limit]
    return page, encode_cursor(page[-1]) if len(rows) > limit else None
