"""vote-svc's internal endpoints: who voted on a target, for notify-svc (e.g. to tell a forum's
participants that it closed).

Served under ``/internal/v1`` on the service's own port only (the public entry point does not
route ``/internal``) and only to requests signed by an allowed service (``services.internal_auth``,
docs/internal-api.md). Unlike the public API they return citizen ids; they never change anything.
Pages are keyset-paginated on the ``UNIQUE (target_type, target_id, citizen_id)`` index.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.canonical import TargetType
from services.paging import decode_cursor, encode_cursor
from services.problems import ProblemError, problem_responses
from vote_svc.deps import NotifyService, SessionDep
from vote_svc.models import Target, Vote

router = APIRouter(prefix="/internal/v1", tags=["internal"])

Cursor = Annotated[
    str | None, Query(max_length=64, description="`next_cursor` of the previous page")
]
Limit = Annotated[int, Query(ge=1, le=500, description="Votes per page")]

SIGNED = (
    "Only for services: the request must carry the `X-Service-*` signature headers of "
    "docs/internal-api.md (401 `service-auth-required` / `service-auth-invalid`, 403 "
    "`service-not-allowed`). Not routed by the public entry point."
)
RESPONSES: dict[int | str, dict[str, Any]] = problem_responses(400, 401, 403, 404, 422)


class VoterInternal(BaseModel):
    """One citizen's vote on the target."""

    citizen_id: uuid.UUID
    choice: str = Field(description="The forum option chosen, or `agree` for an agreement")
    cast_at: datetime


class VoterPageInternal(BaseModel):
    """One page of a target's voters, ordered by citizen id."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "citizen_id": "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f",
                            "choice": "찬성",
                            "cast_at": "2026-11-24T12:00:00.123456Z",
                        }
                    ],
                    "next_cursor": "ag8rHpPET36PSno9LBsOnw",
                }
            ]
        }
    )

    items: list[VoterInternal]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )


async def voters(
    session: AsyncSession,
    target_type: TargetType,
    target_id: uuid.UUID,
    *,
    after: uuid.UUID | None,
    limit: int,
) -> VoterPageInternal:
    """One page of the target's votes after citizen ``after``; 404 when the target is unknown."""
    known = await session.scalar(
        select(Target.target_id).where(
            Target.target_type == target_type, Target.target_id == target_id
        )
    )
    if known is None:
        label = "Proposal" if target_type == "proposal" else "Forum"
        raise ProblemError(
            404,
            f"{target_type}-not-found",
            f"{label} not found",
            f"vote-svc has never heard of {target_type} {target_id}",
        )
    query = (
        select(Vote.citizen_id, Vote.choice, Vote.cast_at)
        .where(Vote.target_type == target_type, Vote.target_id == target_id)
        .order_by(Vote.citizen_id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(Vote.citizen_id > after)
    rows = (await session.execute(query)).all()
    page = rows[:limit]
    return VoterPageInternal(
        items=[
            VoterInternal(citizen_id=r.citizen_id, choice=r.choice, cast_at=r.cast_at) for r in page
        ],
        next_cursor=encode_cursor(page[-1].citizen_id) if len(rows) > limit else None,
    )


@router.get(
    "/forums/{forum_id}/participants",
    summary="Every citizen who voted in a forum, with their choice (notify-svc)",
    description=(
        "The forum's ballots ordered by citizen id, `limit` per page, continued with `cursor` = "
        "the previous page's `next_cursor`. An unknown forum answers 404 `forum-not-found`. "
        + SIGNED
    ),
    responses=RESPONSES,
)
async def forum_participants(
    forum_id: uuid.UUID,
    _: NotifyService,
    session: SessionDep,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> VoterPageInternal:
    return await voters(session, "forum", forum_id, after=decode_cursor(cursor), limit=limit)


@router.get(
    "/proposals/{proposal_id}/agreements",
    summary="Every citizen who agreed with a proposal (notify-svc)",
    description=(
        "The proposal's agreements (`choice` is always `agree`) ordered by citizen id, `limit` "
        "per page, continued with `cursor` = the previous page's `next_cursor`. An unknown "
        "proposal answers 404 `proposal-not-found`. " + SIGNED
    ),
    responses=RESPONSES,
)
async def proposal_agreements(
    proposal_id: uuid.UUID,
    _: NotifyService,
    session: SessionDep,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> VoterPageInternal:
    return await voters(session, "proposal", proposal_id, after=decode_cursor(cursor), limit=limit)
