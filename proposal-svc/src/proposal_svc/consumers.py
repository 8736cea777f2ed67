"""proposal-svc's event handlers: agreement counts come from vote-svc's tally events (a read
model), never from vote-svc's database."""

from __future__ import annotations

from collections.abc import Sequence

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc import service
from proposal_svc.clock import Clock, SystemClock
from proposal_svc.config import get_settings
from proposal_svc.service import ProposalContext
from services.consumer import ConsumerRunner, Handler
from services.events import CloudEvent, Event, VoteTallyChanged


def tally_handler(ctx: ProposalContext) -> Handler:
    """The handler of ``vote.tally_changed``: proposals cross tiers, forums count participants."""

    async def handle(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
        assert isinstance(event, VoteTallyChanged)
        if event.target_type == "proposal":
            await service.apply_proposal_tally(session, ctx, event.target_id, event.count)
        else:
            await service.apply_forum_tally(session, event.target_id, event.count)

    return handle


def consumers(
    sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, clock: Clock | None = None
) -> Sequence[ConsumerRunner]:
    """The consumers ``proposal-svc consume`` runs."""
    ctx = ProposalContext(settings=get_settings(), clock=clock or SystemClock())
    return [
        ConsumerRunner(
            name="proposal-svc-tallies",
            stream="VOTE",
            handlers={VoteTallyChanged: tally_handler(ctx)},
            sessions=sessions,
            js=js,
            # One tally event per agreement: a fetch is handled in one transaction.
            one_transaction=True,
            collect_ms=100,
        )
    ]
