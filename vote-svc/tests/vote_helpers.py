"""Helpers for vote-svc tests: read-model events applied through the real handlers, and row
counts to prove that a refused request wrote nothing."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.db import transaction
from services.events import (
    CitizenReinstated,
    CitizenSuspended,
    Event,
    ForumClosed,
    ForumOpened,
    ProposalClosed,
    ProposalOpened,
    to_envelope,
)
from vote_svc.bootstrap import VoteContext, bootstrap
from vote_svc.config import VoteSettings
from vote_svc.consumers import LEDGER_HANDLERS, SUSPENSION_HANDLERS, TARGET_HANDLERS
from vote_svc.models import OutboxMessage, Tally, Vote

Sessions = async_sessionmaker[AsyncSession]

FORUM_OPTIONS = ["찬성", "반대", "유보"]

#: The context the handlers get in :func:`apply` (they read only its clock).
HANDLER_CTX = bootstrap(VoteSettings())


def now() -> datetime:
    return datetime.now(UTC)


async def apply(
    sessions: Sessions, event: Event, *, at: datetime | None = None, ctx: VoteContext = HANDLER_CTX
) -> None:
    """Run the handler of ``event`` as the consumer would (without the inbox), stated at ``at``."""
    envelope = to_envelope(event, time=at)
    handler = {
        **TARGET_HANDLERS.bind(ctx),
        **SUSPENSION_HANDLERS.bind(ctx),
        **LEDGER_HANDLERS.bind(ctx),
    }[type(event)]
    async with transaction(sessions) as session:
        await handler(session, event, envelope)


def proposal_opened(
    proposal_id: uuid.UUID,
    *,
    opened_at: datetime | None = None,
    closes_in: timedelta = timedelta(days=30),
) -> ProposalOpened:
    opened = opened_at or now() - timedelta(seconds=1)
    return ProposalOpened(proposal_id=proposal_id, opened_at=opened, closes_at=opened + closes_in)


def proposal_closed(proposal_id: uuid.UUID, status: str = "closed") -> ProposalClosed:
    return ProposalClosed.model_validate(
        {"proposal_id": proposal_id, "status": status, "closed_at": now()}
    )


def forum_opened(
    forum_id: uuid.UUID,
    *,
    options: list[str] | None = None,
    opens_at: datetime | None = None,
    closes_at: datetime | None = None,
) -> ForumOpened:
    return ForumOpened(
        forum_id=forum_id,
        proposal_id=None,
        title="따릉이 대여소 확대 공론장",
        mode="online",
        options=options or FORUM_OPTIONS,
        opens_at=opens_at or now() - timedelta(seconds=1),
        closes_at=closes_at or now() + timedelta(days=14),
    )


def forum_closed(forum_id: uuid.UUID) -> ForumClosed:
    return ForumClosed(
        forum_id=forum_id, title="따릉이 대여소 확대 공론장", participant_count=0, closed_at=now()
    )


def citizen_suspended(citizen_id: uuid.UUID) -> CitizenSuspended:
    return CitizenSuspended(
        citizen_id=citizen_id,
        reason="명의 도용 신고 조사 중",
        suspended_at=now(),
        suspended_by=uuid.uuid4(),
    )


def citizen_reinstated(citizen_id: uuid.UUID) -> CitizenReinstated:
    return CitizenReinstated(citizen_id=citizen_id, reinstated_at=now(), reinstated_by=uuid.uuid4())


async def open_proposal(sessions: Sessions, **kwargs: Any) -> uuid.UUID:
    proposal_id = uuid.uuid4()
    await apply(sessions, proposal_opened(proposal_id, **kwargs))
    return proposal_id


async def open_forum(sessions: Sessions, **kwargs: Any) -> uuid.UUID:
    forum_id = uuid.uuid4()
    await apply(sessions, forum_opened(forum_id, **kwargs))
    return forum_id


@dataclass(frozen=True)
class Written:
    """What vote-svc has written: votes, the sum of all tallies, outbox rows."""

    votes: int
    tallied: int
    outbox: int


async def written(sessions: Sessions) -> Written:
    async with sessions() as session:
        return Written(
            votes=await session.scalar(select(func.count()).select_from(Vote)) or 0,
            tallied=await session.scalar(select(func.coalesce(func.sum(Tally.vote_count), 0))) or 0,
            outbox=await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0,
        )


NOTHING = Written(votes=0, tallied=0, outbox=0)
