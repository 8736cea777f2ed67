"""Why a cast was refused: the problems a voter can be answered with, and the query that finds
out which one applies once the hot statement inserted nothing."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from services.canonical import TargetType, format_time
from services.problems import ProblemError
from vote_svc import repository
from vote_svc.models import Target
from vote_svc.service.receipts import CastVote


def _label(target_type: str) -> str:
    return "Proposal" if target_type == "proposal" else "Forum"


class TargetNotFound(ProblemError):
    """404: vote-svc has never heard of this proposal or forum."""

    def __init__(self, target_type: str, target_id: uuid.UUID) -> None:
        super().__init__(
            404,
            f"{target_type}-not-found",
            f"{_label(target_type)} not found",
            f"no {target_type} {target_id} is open for votes",
        )


class TargetLookupFailed(ProblemError):
    """503: the target is not in the read model yet and proposal-svc could not be asked."""

    def __init__(self, target_type: str) -> None:
        super().__init__(
            503,
            f"{target_type}-lookup-failed",
            "Try again",
            f"vote-svc has not heard of this {target_type} yet and could not ask proposal-svc; "
            "nothing was recorded",
            headers={"Retry-After": "1"},
        )


class AlreadyVoted(ProblemError):
    """409 carrying the first vote and its receipt: one vote per citizen per target."""

    def __init__(self, vote: CastVote) -> None:
        first: dict[str, Any] = {
            "vote_id": str(vote.id),
            f"{vote.target_type}_id": str(vote.target_id),
            "choice": vote.choice,
            "cast_at": format_time(vote.cast_at),
            "receipt": {"record_hash": vote.record_hash, "voter_tag": vote.voter_tag},
        }
        super().__init__(
            409,
            "already-voted",
            "Already voted",
            f"this citizen already voted on this {vote.target_type}; the first vote stands",
            **first,
        )


class TargetClosed(ProblemError):
    """409: the target exists but does not accept votes now."""

    def __init__(self, target: Target, cast_at: datetime) -> None:
        kind = target.target_type
        if target.status == "open" and target.opens_at is not None and cast_at < target.opens_at:
            super().__init__(
                409,
                f"{kind}-not-open",
                f"{_label(kind)} is not open yet",
                f"votes are accepted from {format_time(target.opens_at)}",
                opens_at=format_time(target.opens_at),
            )
            return
        status = target.closed_status if target.status == "closed" else None
        super().__init__(
            409,
            f"{kind}-closed",
            f"{_label(kind)} is closed",
            f"this {kind} no longer accepts votes"
            + (f" (it is {status})" if status and status != "closed" else ""),
            target_status=status or "closed",
            closes_at=format_time(target.closes_at) if target.closes_at else None,
        )


class VoterSuspended(ProblemError):
    """403: the citizen is suspended (``identity.citizen_suspended``)."""

    def __init__(self) -> None:
        super().__init__(
            403, "citizen-suspended", "Citizen suspended", "a suspended citizen cannot vote"
        )


class InvalidChoice(ProblemError):
    """422: the ballot's choice is not one of the forum's options."""

    def __init__(self, choice: str, options: list[str]) -> None:
        super().__init__(
            422,
            "invalid-choice",
            "Not one of the forum's options",
            f"{choice!r} is not an option of this forum",
            options=options,
        )


class CastRace(ProblemError):
    """503: the target or the citizen changed between the two queries of a cast, twice."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "vote-retry",
            "Try again",
            "the target changed while the vote was cast; nothing was recorded",
            headers={"Retry-After": "1"},
        )


async def explain_refusal(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    target_type: TargetType,
    target_id: uuid.UUID,
    choice: str,
    now: datetime,
) -> None:
    """Raise the problem that explains why the hot path inserted nothing (in the order a voter
    would want to hear it), judged at ``now``; return when nothing explains it."""
    found = await repository.target_vote_and_suspension(session, citizen_id, target_type, target_id)
    if found is None:
        raise TargetNotFound(target_type, target_id)
    target, existing, suspended = found
    if existing is not None:
        raise AlreadyVoted(CastVote.of(existing))
    if suspended:
        raise VoterSuspended
    if (
        target.status != "open"
        or target.opens_at is None
        or now < target.opens_at
        or (target.closes_at is not None and now >= target.closes_at)
    ):
        raise TargetClosed(target, now)
    if target.options is not None and choice not in target.options:
        raise InvalidChoice(choice, target.options)
