"""Forums (공론장): created by staff or opened by a proposal's forum tier, counted from vote-svc's
forum tallies, closed by time or by staff (which may make the proposal budget-linked)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from proposal_svc import repository
from proposal_svc.bootstrap import ProposalContext
from proposal_svc.models import Forum, Proposal
from proposal_svc.schemas import ForumCreate
from proposal_svc.service.proposals import ACTIVE, change_status, get_proposal, not_found
from services import outbox
from services.auth import Principal
from services.events import ForumClosed, ForumOpened
from services.paging import decode_keyset, encode_keyset
from services.problems import ProblemError


async def announce_forum_opened(session: AsyncSession, ctx: ProposalContext, forum: Forum) -> None:
    """``forum.opened`` (vote-svc takes ballots from then on), and the proposal's timeline entry."""
    if forum.proposal_id is not None:
        repository.add_timeline_entry(
            session,
            forum.proposal_id,
            "forum_opened",
            ctx.clock.now(),
            None,
            forum_id=forum.id,
            opens_at=forum.opens_at,
            closes_at=forum.closes_at,
        )
    outbox.add(
        session,
        ForumOpened(
            forum_id=forum.id,
            proposal_id=forum.proposal_id,
            title=forum.title,
            mode=forum.mode,
            options=list(forum.options),
            opens_at=forum.opens_at,
            closes_at=forum.closes_at,
        ),
    )


async def open_proposal_forum(
    session: AsyncSession, ctx: ProposalContext, proposal: Proposal
) -> Forum:
    """The forum a proposal's forum tier opens, at once, with the configured period and
    options; the proposal's existing forum when it has one."""
    existing = await repository.first_forum_of(session, proposal.id)
    if existing is not None:
        return existing
    now = ctx.clock.now()
    forum = Forum(
        id=uuid.uuid4(),
        proposal_id=proposal.id,
        title=f"공론장: {proposal.title}",
        description="",
        mode="online",
        options=list(ctx.settings.forum_options),
        status="open",
        opens_at=now,
        closes_at=now + timedelta(days=ctx.settings.forum_days),
        participant_count=0,
        created_by=None,
        created_at=now,
    )
    session.add(forum)
    await session.flush()
    await announce_forum_opened(session, ctx, forum)
    return forum


async def apply_forum_tally(session: AsyncSession, forum_id: uuid.UUID, count: int) -> None:
    """Record a forum's participant count (counts only grow)."""
    await apply_forum_tallies(session, {forum_id: count})


async def apply_forum_tallies(session: AsyncSession, counts: Mapping[uuid.UUID, int]) -> None:
    """Record the participant counts of a batch (the highest per forum; counts only grow)."""
    if counts:
        await repository.raise_participant_counts(session, counts)


async def create_forum(
    session: AsyncSession, ctx: ProposalContext, principal: Principal, data: ForumCreate
) -> Forum:
    """Staff create a forum (the monthly city forum, or one on a proposal)."""
    if data.closes_at <= data.opens_at:
        raise ProblemError(422, "invalid-forum-period", "closes_at must be after opens_at")
    now = ctx.clock.now()
    if data.closes_at <= now:
        raise ProblemError(422, "invalid-forum-period", "closes_at must be in the future")
    if data.proposal_id is not None:
        proposal = await get_proposal(session, data.proposal_id)
        if proposal.status not in ACTIVE:
            raise ProblemError(
                409, "proposal-not-active", "Proposal is not active", f"status is {proposal.status}"
            )
    forum = Forum(
        id=uuid.uuid4(),
        proposal_id=data.proposal_id,
        title=data.title,
        description=data.description,
        mode=data.mode,
        options=data.options,
        status="open" if data.opens_at <= now else "scheduled",
        opens_at=data.opens_at,
        closes_at=data.closes_at,
        participant_count=0,
        created_by=principal.citizen_id,
        created_at=now,
    )
    session.add(forum)
    await session.flush()
    if forum.status == "open":
        await announce_forum_opened(session, ctx, forum)
    return forum


async def get_forum(session: AsyncSession, forum_id: uuid.UUID) -> Forum:
    """The forum, or 404."""
    forum = await repository.get_forum(session, forum_id)
    if forum is None:
        raise not_found("Forum")
    return forum


async def list_forums(
    session: AsyncSession,
    *,
    status: str | None,
    kind: str | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Forum], str | None, int]:
    """A page of forums (latest opening first), the next page's cursor and the total; 400
    ``invalid-cursor``."""
    after = decode_keyset(cursor, (datetime, uuid.UUID))
    rows = await repository.forums_page(
        session, status=status, kind=kind, after=after, limit=limit + 1
    )
    page = rows[:limit]
    next_cursor = (
        encode_keyset([page[-1].opens_at, page[-1].id]) if len(rows) > limit and page else None
    )
    return page, next_cursor, await repository.count_forums(session, status=status, kind=kind)


async def close_forum(
    session: AsyncSession, ctx: ProposalContext, forum: Forum, *, reason: str
) -> None:
    """Close a forum: its proposal's forum obligation is fulfilled, and with enough participants
    the proposal becomes a budget-linked project with a budget_review obligation."""
    if forum.status == "closed":
        return
    now = ctx.clock.now()
    forum.status = "closed"
    forum.closed_at = now
    outbox.add(
        session,
        ForumClosed(
            forum_id=forum.id,
            proposal_id=forum.proposal_id,
            title=forum.title,
            participant_count=forum.participant_count,
            closed_at=now,
        ),
    )
    if forum.proposal_id is None:
        return
    proposal_id = forum.proposal_id
    await repository.fulfil_obligation(session, proposal_id, "forum", now)
    repository.add_timeline_entry(
        session,
        proposal_id,
        "forum_closed",
        now,
        None,
        forum_id=forum.id,
        participant_count=forum.participant_count,
        reason=reason,
    )
    if forum.participant_count >= ctx.settings.budget_participants:
        proposal = await get_proposal(session, proposal_id, lock=True)
        if proposal.status in ("open", "closed", "adopted"):
            await change_status(
                session,
                ctx,
                proposal,
                "budget_linked",
                reason=f"forum had {forum.participant_count} participants",
                actor_role=None,
            )
            await repository.create_obligation(
                session,
                proposal_id,
                "budget_review",
                now,
                now + timedelta(days=ctx.settings.budget_review_days),
            )


async def close_forum_now(
    session: AsyncSession, ctx: ProposalContext, forum_id: uuid.UUID
) -> Forum:
    """Staff close a forum early (e.g. the offline session concluded)."""
    forum = await repository.get_forum(session, forum_id, lock=True)
    if forum is None:
        raise not_found("Forum")
    if forum.status != "open":
        raise ProblemError(409, "forum-not-open", "Forum is not open", f"status is {forum.status}")
    await close_forum(session, ctx, forum, reason="closed by staff")
    return forum
