"""The public counts: how many citizens agreed with a proposal, and a forum's participants and
count per option."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from services.canonical import TargetType
from vote_svc import repository
from vote_svc.models import Tally, Target
from vote_svc.service.refusals import TargetNotFound


async def known_tally(
    session: AsyncSession, target_type: TargetType, target_id: uuid.UUID
) -> tuple[Target, Tally | None]:
    """The target and its tally (None before its first vote); 404 when vote-svc does not know
    the target."""
    found = await repository.target_and_tally(session, target_type, target_id)
    if found is None:
        raise TargetNotFound(target_type, target_id)
    return found


async def proposal_agreements(session: AsyncSession, proposal_id: uuid.UUID) -> int:
    """How many citizens agreed with a proposal (404 when vote-svc does not know it)."""
    _, tally = await known_tally(session, "proposal", proposal_id)
    return tally.vote_count if tally else 0


async def forum_tally(session: AsyncSession, forum_id: uuid.UUID) -> tuple[int, dict[str, int]]:
    """A forum's participants and the count per option (every option listed, 0 included)."""
    target, tally = await known_tally(session, "forum", forum_id)
    counted = {k: int(v) for k, v in (tally.by_choice if tally else {}).items()}
    by_choice = {option: counted.pop(option, 0) for option in target.options or []}
    by_choice.update(counted)  # options a later forum.opened dropped keep their votes
    return (tally.vote_count if tally else 0), by_choice
