"""An accepted vote as its voter is told about it (the receipt), and reading one's own vote."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy.ext.asyncio import AsyncSession

from services.canonical import TargetType
from services.problems import ProblemError
from vote_svc import repository
from vote_svc.models import Vote


@dataclass(frozen=True, slots=True)
class CastVote:
    """An accepted vote as the voter is told about it (a plain value: the hot path builds no
    ORM objects)."""

    id: uuid.UUID
    target_type: TargetType
    target_id: uuid.UUID
    choice: str
    cast_at: datetime
    voter_tag: str
    record_hash: str

    @classmethod
    def of(cls, vote: Vote) -> CastVote:
        """The value of a stored vote."""
        return cls(
            id=vote.id,
            target_type=cast(TargetType, vote.target_type),  # a CHECK constraint holds it
            target_id=vote.target_id,
            choice=vote.choice,
            cast_at=vote.cast_at,
            voter_tag=vote.voter_tag,
            record_hash=vote.record_hash,
        )


class VoteNotFound(ProblemError):
    """404: no such vote of this citizen (others' votes are not found either)."""

    def __init__(self) -> None:
        super().__init__(404, "vote-not-found", "Vote not found")


async def own_vote(session: AsyncSession, citizen_id: uuid.UUID, vote_id: uuid.UUID) -> Vote:
    """The vote ``vote_id`` if ``citizen_id`` cast it; 404 otherwise (ids cannot be probed)."""
    vote = await repository.citizens_vote(session, citizen_id, vote_id)
    if vote is None:
        raise VoteNotFound
    return vote
