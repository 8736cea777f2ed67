"""Routes of comments, opinions, likes and reports: parse, call the use case, shape the answer."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from proposal_svc.deliberation import comments, opinions, reactions, views
from proposal_svc.deliberation.deps import AnyCaller, Deliberator, Poster
from proposal_svc.deliberation.repository import SortKey
from proposal_svc.deliberation.schemas import (
    CommentCounts,
    CommentCreate,
    CommentPage,
    CommentPublic,
    CommentUpdate,
    LikePublic,
    OpinionCreate,
    OpinionPage,
    ReportCreate,
    ReportPublic,
    Stance,
    StanceCounts,
)
from proposal_svc.deps import CtxDep, SessionDep
from services.problems import problem_responses

comment_routes = APIRouter(tags=["comments"])
opinion_routes = APIRouter(tags=["opinions"])

Cursor = Annotated[str | None, Query(max_length=500, description="`next_cursor` of a page")]
Limit = Annotated[int, Query(ge=1, le=100)]
Sort = Annotated[
    SortKey,
    Query(description="`recent` (newest first), `liked` (most liked first), `oldest`"),
]


def _created(location: str) -> dict[int | str, dict[str, Any]]:
    return {
        201: {
            "description": "Created",
            "headers": {
                "Location": {
                    "description": f"Where the new resource is read: `{location}`",
                    "schema": {"type": "string"},
                }
            },
        }
    }


@comment_routes.post(
    "/v1/proposals/{proposal_id}/comments",
    status_code=201,
    summary="Comment on a proposal, or reply to a comment (verified citizens)",
    description=(
        "One level of replies: a `parent_id` naming a reply attaches to its top-level comment. "
        "A text with a phone number, a resident registration number or a listed word is "
        "held for review (`status: held`, no body shown). Rate-limited per citizen (429). "
        "The platform's eligibility rules for `comment` apply (403 `ineligible-*`)."
    ),
    responses={
        **_created("/v1/comments/{id}"),
        **problem_responses(400, 401, 403, 404, 409, 413, 422, 429),
    },
)
async def post_comment(
    proposal_id: uuid.UUID,
    body: CommentCreate,
    citizen: Poster,
    session: SessionDep,
    ctx: CtxDep,
    response: Response,
) -> CommentPublic:
    comment = await comments.post_comment(session, ctx, citizen, proposal_id, body)
    response.headers["Location"] = f"/v1/comments/{comment.id}"
    return views.public(comment)


@comment_routes.get(
    "/v1/proposals/{proposal_id}/comments",
    summary="A proposal's comments, with their first replies (or the replies of `parent_id`)",
    description=(
        "Every comment keeps its place: held, hidden and deleted ones are listed without "
        "their text. `counts` covers the whole proposal."
    ),
    responses=problem_responses(400, 404, 422),
)
async def list_comments(
    proposal_id: uuid.UUID,
    session: SessionDep,
    ctx: CtxDep,
    sort: Sort = "recent",
    parent_id: Annotated[uuid.UUID | None, Query(description="List this comment's replies")] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> CommentPage:
    listing = await comments.list_comments(
        session, ctx, proposal_id, parent_id=parent_id, sort=sort, cursor=cursor, limit=limit
    )
    return CommentPage(
        proposal_id=proposal_id,
        parent_id=parent_id,
        counts=CommentCounts(total=listing.total, published=listing.published),
        items=[views.thread(t) for t in listing.threads],
        next_cursor=listing.next_cursor,
    )


@comment_routes.get(
    "/v1/comments/{comment_id}",
    summary="A comment or opinion",
    responses=problem_responses(404, 422),
)
async def get_comment(comment_id: uuid.UUID, session: SessionDep) -> CommentPublic:
    found = await comments.comment_detail(session, comment_id)
    return views.public(found.comment, found.reply_count)


@comment_routes.patch(
    "/v1/comments/{comment_id}",
    summary="Edit your comment or opinion, within the edit window",
    description="The earlier text is kept for moderators. A published text is screened again.",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
)
async def edit_comment(
    comment_id: uuid.UUID,
    body: CommentUpdate,
    citizen: Deliberator,
    session: SessionDep,
    ctx: CtxDep,
) -> CommentPublic:
    comment = await comments.edit_comment(session, ctx, citizen, comment_id, body.body)
    return views.public(comment)


@comment_routes.delete(
    "/v1/comments/{comment_id}",
    summary="Delete your comment or opinion (a tombstone keeps its place)",
    responses=problem_responses(401, 403, 404, 422),
)
async def delete_comment(
    comment_id: uuid.UUID, citizen: Deliberator, session: SessionDep, ctx: CtxDep
) -> CommentPublic:
    comment = await comments.delete_comment(session, ctx, citizen, comment_id)
    return views.public(comment)


@comment_routes.put(
    "/v1/comments/{comment_id}/like",
    summary="Like a comment or opinion (once per citizen; again changes nothing)",
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def like(
    comment_id: uuid.UUID, citizen: Deliberator, session: SessionDep, ctx: CtxDep
) -> LikePublic:
    state = await reactions.like(session, ctx, citizen, comment_id)
    return LikePublic(comment_id=state.comment_id, liked=state.liked, like_count=state.like_count)


@comment_routes.delete(
    "/v1/comments/{comment_id}/like",
    summary="Take your like back",
    responses=problem_responses(401, 403, 404, 422),
)
async def unlike(comment_id: uuid.UUID, citizen: Deliberator, session: SessionDep) -> LikePublic:
    state = await reactions.unlike(session, citizen, comment_id)
    return LikePublic(comment_id=state.comment_id, liked=state.liked, like_count=state.like_count)


@comment_routes.post(
    "/v1/comments/{comment_id}/reports",
    status_code=201,
    summary="Report a comment or opinion to the moderators (once per citizen)",
    description=(
        "A second report by the same citizen is 409 `already-reported` with the first "
        "`report_id`. Enough open reports hold the comment for review."
    ),
    responses={
        **_created("/v1/comments/{comment_id}/reports/{id}"),
        **problem_responses(400, 401, 403, 404, 409, 413, 422, 429),
    },
)
async def report(
    comment_id: uuid.UUID,
    body: ReportCreate,
    citizen: Deliberator,
    session: SessionDep,
    ctx: CtxDep,
    response: Response,
) -> ReportPublic:
    made = await reactions.report(session, ctx, citizen, comment_id, body)
    response.headers["Location"] = f"/v1/comments/{comment_id}/reports/{made.id}"
    return views.report(made)


@comment_routes.get(
    "/v1/comments/{comment_id}/reports/{report_id}",
    summary="A report (the citizen who made it, or moderators)",
    responses=problem_responses(401, 404, 422),
)
async def get_report(
    comment_id: uuid.UUID, report_id: uuid.UUID, caller: AnyCaller, session: SessionDep
) -> ReportPublic:
    return views.report(await reactions.get_report(session, caller, comment_id, report_id))


@opinion_routes.post(
    "/v1/forums/{forum_id}/opinions",
    status_code=201,
    summary="Post an opinion with a stance in an open forum (verified citizens)",
    description=(
        "A citizen may post several; the stance counts take each person's latest published "
        "one. Held like comments; rate-limited together with them; the eligibility rules for "
        "`comment` apply."
    ),
    responses={
        **_created("/v1/comments/{id}"),
        **problem_responses(400, 401, 403, 404, 409, 413, 422, 429),
    },
)
async def post_opinion(
    forum_id: uuid.UUID,
    body: OpinionCreate,
    citizen: Poster,
    session: SessionDep,
    ctx: CtxDep,
    response: Response,
) -> CommentPublic:
    opinion = await opinions.post_opinion(session, ctx, citizen, forum_id, body)
    response.headers["Location"] = f"/v1/comments/{opinion.id}"
    return views.public(opinion)


@opinion_routes.get(
    "/v1/forums/{forum_id}/opinions",
    summary="A forum's opinions (of one stance, if asked) and its stance counts",
    responses=problem_responses(400, 404, 422),
)
async def list_opinions(
    forum_id: uuid.UUID,
    session: SessionDep,
    stance: Annotated[Stance | None, Query()] = None,
    sort: Sort = "recent",
    cursor: Cursor = None,
    limit: Limit = 20,
) -> OpinionPage:
    listing = await opinions.list_opinions(
        session, forum_id, stance=stance, sort=sort, cursor=cursor, limit=limit
    )
    counts = listing.counts
    return OpinionPage(
        forum_id=forum_id,
        stance=stance,
        counts=StanceCounts(
            pro=counts["pro"],
            con=counts["con"],
            neutral=counts["neutral"],
            participants=sum(counts.values()),
        ),
        items=[views.public(o) for o in listing.opinions],
        next_cursor=listing.next_cursor,
    )
