"""The public routes of follows. Included before ``/v1/proposals/{id}`` so that
``/v1/proposals/follow-preferences`` is not read as a proposal id."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from proposal_svc.deps import CtxDep, CurrentCitizen, SessionDep
from proposal_svc.follows import following
from proposal_svc.follows.schemas import FollowPreferences, FollowPublic
from services.problems import problem_responses

follow_routes = APIRouter(prefix="/v1/proposals", tags=["follows"])


@follow_routes.get(
    "/follow-preferences",
    summary="My follow preferences",
    description="`follow_agreed`: agreeing with a proposal makes me its follower (default true).",
    responses=problem_responses(401, 403),
)
async def get_preferences(citizen: CurrentCitizen, session: SessionDep) -> FollowPreferences:
    return FollowPreferences(
        follow_agreed=await following.follows_agreed(session, citizen.citizen_id)
    )


@follow_routes.put(
    "/follow-preferences",
    summary="Set my follow preferences",
    description=(
        "With `follow_agreed: false` my next agreements no longer make me a follower; the "
        "proposals I follow already stay followed (unfollow them one by one)."
    ),
    responses=problem_responses(400, 401, 403, 413, 422),
)
async def put_preferences(
    body: FollowPreferences, citizen: CurrentCitizen, session: SessionDep, ctx: CtxDep
) -> FollowPreferences:
    await following.set_follows_agreed(session, ctx, citizen.citizen_id, body.follow_agreed)
    return body


@follow_routes.put(
    "/{proposal_id}/follow",
    summary="Follow a proposal (idempotent)",
    description=(
        "Followers are told when the proposal reaches a tier, is answered, adopted or "
        "budget-linked, and when its forum opens and closes (docs/notifications.md). Following "
        "twice is the same as once. An unknown proposal answers 404 `proposal-not-found`."
    ),
    responses=problem_responses(401, 403, 404, 422),
)
async def follow(
    proposal_id: uuid.UUID, citizen: CurrentCitizen, session: SessionDep, ctx: CtxDep
) -> FollowPublic:
    await following.follow(session, ctx, citizen.citizen_id, proposal_id)
    return FollowPublic(proposal_id=proposal_id, following=True)


@follow_routes.delete(
    "/{proposal_id}/follow",
    status_code=204,
    summary="Stop following a proposal (idempotent)",
    description=(
        "Also when I follow it by agreeing or by proposing it; remembered, so my agreement does "
        "not make me follow it again. An unknown proposal answers 404 `proposal-not-found`."
    ),
    responses=problem_responses(401, 403, 404, 422),
)
async def unfollow(
    proposal_id: uuid.UUID, citizen: CurrentCitizen, session: SessionDep, ctx: CtxDep
) -> Response:
    await following.unfollow(session, ctx, citizen.citizen_id, proposal_id)
    return Response(status_code=204)
