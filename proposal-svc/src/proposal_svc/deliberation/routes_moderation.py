"""Routes of moderation: the queue, hiding and restoring, the record of decisions, edit history."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query

from proposal_svc.deliberation import moderation, views
from proposal_svc.deliberation.deps import CurrentModerator
from proposal_svc.deliberation.routes import Cursor, Limit
from proposal_svc.deliberation.schemas_moderation import (
    CommentModerated,
    DecisionPage,
    EditHistory,
    HideCreate,
    QueuePage,
    RestoreCreate,
)
from proposal_svc.deps import CtxDep, SessionDep
from services.problems import problem_responses

moderation_routes = APIRouter(tags=["moderation"])


@moderation_routes.get(
    "/v1/moderation/queue",
    summary="Held and reported comments, longest waiting first (moderators)",
    description="With the open reports' reasons, counts and details, and each comment's text.",
    responses=problem_responses(400, 401, 403, 422),
)
async def queue(
    moderator: CurrentModerator, session: SessionDep, cursor: Cursor = None, limit: Limit = 20
) -> QueuePage:
    entries, next_cursor = await moderation.queue(session, cursor=cursor, limit=limit)
    return QueuePage(items=[views.queue_item(e) for e in entries], next_cursor=next_cursor)


@moderation_routes.post(
    "/v1/comments/{comment_id}/hide",
    summary="Hide a comment or opinion (moderators); readers see the reason in its place",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
)
async def hide(
    comment_id: uuid.UUID,
    body: HideCreate,
    moderator: CurrentModerator,
    session: SessionDep,
    ctx: CtxDep,
) -> CommentModerated:
    return views.moderated(await moderation.hide(session, ctx, moderator, comment_id, body.reason))


@moderation_routes.post(
    "/v1/comments/{comment_id}/restore",
    summary="Publish a held or hidden comment again, or dismiss its reports (moderators)",
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
)
async def restore(
    comment_id: uuid.UUID,
    moderator: CurrentModerator,
    session: SessionDep,
    ctx: CtxDep,
    body: Annotated[
        RestoreCreate | None,
        Body(examples=[{"reason": "신고 내용 확인 결과 운영 원칙 위반 아님"}, {}]),
    ] = None,
) -> CommentModerated:
    reason = body.reason if body is not None else None
    return views.moderated(await moderation.restore(session, ctx, moderator, comment_id, reason))


@moderation_routes.get(
    "/v1/moderation/decisions",
    summary="Every moderation decision, newest first: who or which rule, when, why (admins)",
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def decisions(
    moderator: CurrentModerator,
    session: SessionDep,
    comment_id: Annotated[uuid.UUID | None, Query(description="Only this comment's")] = None,
    cursor: Cursor = None,
    limit: Limit = 20,
) -> DecisionPage:
    rows, next_cursor = await moderation.decisions(
        session, comment_id=comment_id, cursor=cursor, limit=limit
    )
    return DecisionPage(items=[views.decision(d) for d in rows], next_cursor=next_cursor)


@moderation_routes.get(
    "/v1/comments/{comment_id}/edits",
    summary="A comment's earlier versions (moderators and admins)",
    responses=problem_responses(401, 403, 404, 422),
)
async def edits(
    comment_id: uuid.UUID, moderator: CurrentModerator, session: SessionDep
) -> EditHistory:
    comment, found = await moderation.edit_history(session, comment_id)
    return views.history(comment, list(found))
