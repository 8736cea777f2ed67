"""proposal-svc's internal endpoints for vote-svc: the state of a proposal or forum as a vote
target, so that vote-svc can accept a vote on a target it has not heard of yet (read-your-writes,
docs/votes.md "A target vote-svc has not heard of yet").

vote-svc learns of targets from ``proposal.opened/closed`` and ``forum.opened/closed``; until the
event arrives it asks here on a miss and fills its read model with the same fields the events
carry. ``opened_at`` and ``closed_at`` are the versions it fills them with: each is at or before
the CloudEvents ``time`` of the event that announced it (the event is staged after the state is
set), so the event, arriving later, writes the same values again and an older one never
overrides a newer state.

Served under ``/internal/v1`` on the service's own port only (the public entry point does not
route ``/internal``) and only to requests signed by vote-svc (``services.internal_auth``,
docs/internal-api.md). They read; they never change anything.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from proposal_svc import repository
from proposal_svc.deps import SessionDep, VoteService
from proposal_svc.models import Forum, Proposal
from proposal_svc.service.proposals import not_found
from services.problems import problem_responses

router = APIRouter(prefix="/internal/v1/targets", tags=["internal"])

SIGNED = (
    "Only for services: the request must carry the `X-Service-*` signature headers of "
    "docs/internal-api.md (401 `service-auth-required` / `service-auth-invalid`, 403 "
    "`service-not-allowed`). Not routed by the public entry point."
)
RESPONSES: dict[int | str, dict[str, Any]] = problem_responses(401, 403, 404, 422)


class VoteTargetInternal(BaseModel):
    """A proposal or forum as vote-svc's read model of targets holds it."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "target_type": "forum",
                    "target_id": "3c9e4b8a-2f1d-4e6a-9b7c-5d0e1f2a3b4c",
                    "status": "open",
                    "opens_at": "2026-11-24T12:00:00Z",
                    "closes_at": "2026-12-08T12:00:00Z",
                    "options": ["찬성", "반대", "유보"],
                    "opened_at": "2026-11-24T12:00:00Z",
                    "closed_at": None,
                    "closed_status": None,
                }
            ]
        }
    )

    target_type: Literal["proposal", "forum"]
    target_id: uuid.UUID
    status: str = Field(description="The proposal's or forum's status in proposal-svc")
    opens_at: datetime = Field(description="Votes are accepted from then ...")
    closes_at: datetime = Field(description="... until before then, while it is open")
    options: list[str] | None = Field(
        description="The forum's options; null for a proposal (its only choice is `agree`)"
    )
    opened_at: datetime | None = Field(
        description=(
            "When it opened for votes (at or before the `time` of its `*.opened` event); null "
            "when it never did (a scheduled forum)"
        )
    )
    closed_at: datetime | None = Field(
        description=(
            "When it stopped accepting votes (at or before the `time` of its `*.closed` event); "
            "null while open"
        )
    )
    closed_status: str | None = Field(
        description="Why it closed (`closed`, `withdrawn`, `hidden`, ...); null while open"
    )


def proposal_target(proposal: Proposal) -> VoteTargetInternal:
    """What ``proposal.opened`` (and ``proposal.closed``, once it left ``open``) told."""
    closed = proposal.status != "open"
    return VoteTargetInternal(
        target_type="proposal",
        target_id=proposal.id,
        status=proposal.status,
        opens_at=proposal.opened_at,
        closes_at=proposal.closes_at,
        options=None,
        opened_at=proposal.opened_at,
        closed_at=(proposal.closed_at or proposal.opened_at) if closed else None,
        closed_status=proposal.status if closed else None,
    )


def forum_target(forum: Forum) -> VoteTargetInternal:
    """What ``forum.opened`` (unless it is still scheduled, or was closed before it opened) and
    ``forum.closed`` told."""
    closed_at = forum.closed_at if forum.status == "closed" else None
    opened = forum.status == "open" or (closed_at is not None and closed_at >= forum.opens_at)
    return VoteTargetInternal(
        target_type="forum",
        target_id=forum.id,
        status=forum.status,
        opens_at=forum.opens_at,
        closes_at=forum.closes_at,
        options=list(forum.options),
        opened_at=forum.opens_at if opened else None,
        closed_at=closed_at,
        closed_status="closed" if closed_at is not None else None,
    )


@router.get(
    "/proposals/{proposal_id}",
    summary="A proposal as a vote target (vote-svc)",
    description=(
        "What `proposal.opened` and `proposal.closed` told about the proposal, as of now. An "
        "unknown proposal answers 404 `proposal-not-found`. " + SIGNED
    ),
    responses=RESPONSES,
)
async def proposal_vote_target(
    proposal_id: uuid.UUID, _: VoteService, session: SessionDep
) -> VoteTargetInternal:
    proposal = await repository.get_proposal(session, proposal_id)
    if proposal is None:
        raise not_found()
    return proposal_target(proposal)


@router.get(
    "/forums/{forum_id}",
    summary="A forum as a vote target (vote-svc)",
    description=(
        "What `forum.opened` and `forum.closed` told about the forum, as of now (`opened_at` "
        "null: it has not opened). An unknown forum answers 404 `forum-not-found`. " + SIGNED
    ),
    responses=RESPONSES,
)
async def forum_vote_target(
    forum_id: uuid.UUID, _: VoteService, session: SessionDep
) -> VoteTargetInternal:
    forum = await repository.get_forum(session, forum_id)
    if forum is None:
        raise not_found("Forum")
    return forum_target(forum)
