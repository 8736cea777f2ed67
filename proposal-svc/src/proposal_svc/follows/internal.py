"""proposal-svc's internal endpoint: a proposal's followers, for notify-svc.

Served under ``/internal/v1`` on the service's own port only (the public entry point does not
route ``/internal``) and only to requests signed by notify-svc (``services.internal_auth``,
docs/internal-api.md). It returns citizen ids and changes nothing. Pages are keyset-paginated on
the ``(proposal_id, citizen_id)`` index of current follows.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from proposal_svc.deps import SessionDep
from proposal_svc.follows import following
from proposal_svc.follows.schemas import FollowerInternal, FollowerPageInternal
from services.internal_auth import require_service
from services.problems import problem_responses

internal_routes = APIRouter(prefix="/internal/v1", tags=["internal"])

NotifyService = Annotated[str, Depends(require_service("notify-svc"))]


@internal_routes.get(
    "/proposals/{proposal_id}/followers",
    summary="Every citizen who follows a proposal (notify-svc)",
    description=(
        "The proposal's followers (by asking, by agreeing, by proposing; not those who left) "
        "ordered by citizen id, `limit` per page, continued with `cursor` = the previous page's "
        "`next_cursor`. An unknown proposal answers 404 `proposal-not-found`. Only for "
        "services: the request must carry the `X-Service-*` signature headers of "
        "docs/internal-api.md (401 `service-auth-required` / `service-auth-invalid`, 403 "
        "`service-not-allowed`). Not routed by the public entry point."
    ),
    responses=problem_responses(400, 401, 403, 404, 422),
)
async def proposal_followers(
    proposal_id: uuid.UUID,
    _: NotifyService,
    session: SessionDep,
    cursor: Annotated[
        str | None, Query(max_length=64, description="`next_cursor` of the previous page")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500, description="Followers per page")] = 100,
) -> FollowerPageInternal:
    page, next_cursor = await following.followers(session, proposal_id, cursor=cursor, limit=limit)
    return FollowerPageInternal(
        items=[FollowerInternal(citizen_id=c) for c in page], next_cursor=next_cursor
    )
