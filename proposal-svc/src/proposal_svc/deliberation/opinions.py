"""Forum opinions: a stance (pro, con, neutral) and a text. A citizen may post several; the
forum's stance counts take each person once, by their latest published opinion, so changing
one's mind is posting again, and a deleted, held or hidden opinion no longer counts (the one
before it does, if any)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from proposal_svc.bootstrap import ProposalContext
from proposal_svc.deliberation import repository
from proposal_svc.deliberation.comments import (
    announce_post,
    clean_body,
    count_post,
    insert_post,
    screen_body,
)
from proposal_svc.deliberation.common import comment_key, decode_cursor, paginate
from proposal_svc.deliberation.models import STANCES, Comment
from proposal_svc.deliberation.repository import SortKey
from proposal_svc.deliberation.schemas import OpinionCreate
from proposal_svc.service.forums import get_forum
from services.auth import Principal
from services.events import OpinionPosted
from services.problems import ProblemError


async def post_opinion(
    session: AsyncSession,
    ctx: ProposalContext,
    citizen: Principal,
    forum_id: uuid.UUID,
    data: OpinionCreate,
) -> Comment:
    """A citizen takes a stance in an open forum, with a text (held like a comment's)."""
    forum = await get_forum(session, forum_id)
    if forum.status != "open":
        raise ProblemError(
            409,
            "forum-not-open",
            "Forum is not open",
            f"The forum is {forum.status}.",
            forum_status=forum.status,
        )
    body = clean_body(ctx, data.body)
    await count_post(session, ctx, citizen)
    rule = screen_body(ctx, body)
    opinion = await insert_post(
        session, ctx, citizen, body, rule, forum_id=forum_id, stance=data.stance
    )
    posted = OpinionPosted(
        comment_id=opinion.id,
        target_type="forum",
        target_id=forum_id,
        stance=data.stance,
        status="held" if rule else "published",
        posted_at=opinion.created_at,
    )
    await announce_post(session, ctx, opinion, rule, posted)
    return opinion


@dataclass
class OpinionListing:
    opinions: list[Comment]
    next_cursor: str | None
    #: Citizens by their latest published stance, every stance present.
    counts: dict[str, int]


async def list_opinions(
    session: AsyncSession,
    forum_id: uuid.UUID,
    *,
    stance: str | None,
    sort: SortKey,
    cursor: str | None,
    limit: int,
) -> OpinionListing:
    """A page of a forum's opinions (of one stance, if given) and the forum's stance counts."""
    await get_forum(session, forum_id)
    rows = await repository.opinions_page(
        session,
        forum_id=forum_id,
        stance=stance,
        sort=sort,
        after=decode_cursor(cursor, sort),
        limit=limit + 1,
    )
    page, next_cursor = paginate(rows, limit, sort, comment_key(sort))
    found = await repository.stance_counts(session, forum_id)
    return OpinionListing(page, next_cursor, {s: found.get(s, 0) for s in STANCES})
