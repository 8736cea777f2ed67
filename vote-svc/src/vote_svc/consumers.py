"""Event handlers of vote-svc, each idempotent through the inbox of its ConsumerRunner.

They keep three read models: which targets accept votes (``proposal.opened/closed``,
``forum.opened/closed`` on the PROPOSAL stream) and which citizens are suspended
(``identity.citizen_suspended/citizen_reinstated`` on the IDENTITY stream), in
``service.read_models``; and which votes the ledger recorded (``ledger.batch_committed`` on the
LEDGER stream), in ``service.mine``. Events
are applied by the CloudEvents ``time`` at which their publisher staged them, not by arrival
order, so a redelivered or overtaken event never undoes a newer one.

One handler table per durable consumer: :data:`TARGET_HANDLERS`, :data:`SUSPENSION_HANDLERS` and
:data:`LEDGER_HANDLERS`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.consumer import ConsumerRunner, Handlers
from services.events import (
    CitizenReinstated,
    CitizenSuspended,
    CloudEvent,
    ForumClosed,
    ForumOpened,
    LedgerBatchCommitted,
    ProposalClosed,
    ProposalOpened,
)
from vote_svc.bootstrap import VoteContext
from vote_svc.service import mine, read_models

#: Durable consumer names (also the inbox's ``consumer`` column).
TARGETS_CONSUMER: Final = "vote-svc-targets"
SUSPENSIONS_CONSUMER: Final = "vote-svc-suspensions"
LEDGER_CONSUMER: Final = "vote-svc-ledger"

#: The handlers of ``vote-svc-targets`` (PROPOSAL stream).
TARGET_HANDLERS: Final[Handlers[VoteContext]] = Handlers()
#: The handlers of ``vote-svc-suspensions`` (IDENTITY stream).
SUSPENSION_HANDLERS: Final[Handlers[VoteContext]] = Handlers()
#: The handlers of ``vote-svc-ledger`` (LEDGER stream).
LEDGER_HANDLERS: Final[Handlers[VoteContext]] = Handlers()


@TARGET_HANDLERS.on(ProposalOpened)
async def on_proposal_opened(
    ctx: VoteContext, session: AsyncSession, event: ProposalOpened, envelope: CloudEvent
) -> None:
    """A proposal accepts agreements from ``opened_at`` until ``closes_at``."""
    await read_models.target_opened(
        session,
        "proposal",
        event.proposal_id,
        opens_at=event.opened_at,
        closes_at=event.closes_at,
        options=None,
        event_time=envelope.time,
        now=ctx.clock.now(),
    )


@TARGET_HANDLERS.on(ProposalClosed)
async def on_proposal_closed(
    ctx: VoteContext, session: AsyncSession, event: ProposalClosed, envelope: CloudEvent
) -> None:
    """A proposal stopped accepting agreements (period over, withdrawn, hidden, ...)."""
    await read_models.target_closed(
        session,
        "proposal",
        event.proposal_id,
        status=event.status,
        event_time=envelope.time,
        now=ctx.clock.now(),
    )


@TARGET_HANDLERS.on(ForumOpened)
async def on_forum_opened(
    ctx: VoteContext, session: AsyncSession, event: ForumOpened, envelope: CloudEvent
) -> None:
    """A forum takes ballots for its options from ``opens_at`` until ``closes_at``."""
    options = read_models.forum_options(event.options)
    await read_models.target_opened(
        session,
        "forum",
        event.forum_id,
        opens_at=event.opens_at,
        closes_at=event.closes_at,
        options=options,
        event_time=envelope.time,
        now=ctx.clock.now(),
    )


@TARGET_HANDLERS.on(ForumClosed)
async def on_forum_closed(
    ctx: VoteContext, session: AsyncSession, event: ForumClosed, envelope: CloudEvent
) -> None:
    """A forum closed."""
    await read_models.target_closed(
        session,
        "forum",
        event.forum_id,
        status="closed",
        event_time=envelope.time,
        now=ctx.clock.now(),
    )


@SUSPENSION_HANDLERS.on(CitizenSuspended)
async def on_citizen_suspended(
    ctx: VoteContext, session: AsyncSession, event: CitizenSuspended, envelope: CloudEvent
) -> None:
    """A suspended citizen cannot vote (their access token may still be valid for minutes)."""
    await read_models.set_suspension(
        session, event.citizen_id, suspended=True, reason=event.reason, event_time=envelope.time
    )


@SUSPENSION_HANDLERS.on(CitizenReinstated)
async def on_citizen_reinstated(
    ctx: VoteContext, session: AsyncSession, event: CitizenReinstated, envelope: CloudEvent
) -> None:
    """A reinstated citizen can vote again."""
    await read_models.set_suspension(
        session, event.citizen_id, suspended=False, reason=None, event_time=envelope.time
    )


@LEDGER_HANDLERS.on(LedgerBatchCommitted)
async def on_batch_committed(
    ctx: VoteContext, session: AsyncSession, event: LedgerBatchCommitted, envelope: CloudEvent
) -> None:
    """The ledger recorded a batch: its votes' receipts read ``recorded`` from now on."""
    await mine.batch_recorded(session, event.vote_ids, event.batch_seq, event.committed_at)


def build_consumers(
    ctx: VoteContext, sessions: async_sessionmaker[AsyncSession], js: JetStreamContext
) -> Sequence[ConsumerRunner]:
    """The consumers ``vote-svc consume`` runs."""
    return [
        ConsumerRunner(
            name=TARGETS_CONSUMER,
            stream="PROPOSAL",
            handlers=TARGET_HANDLERS.bind(ctx),
            sessions=sessions,
            js=js,
        ),
        ConsumerRunner(
            name=SUSPENSIONS_CONSUMER,
            stream="IDENTITY",
            handlers=SUSPENSION_HANDLERS.bind(ctx),
            sessions=sessions,
            js=js,
        ),
        ConsumerRunner(
            name=LEDGER_CONSUMER,
            stream="LEDGER",
            handlers=LEDGER_HANDLERS.bind(ctx),
            sessions=sessions,
            js=js,
        ),
    ]
