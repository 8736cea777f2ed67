"""proposal-svc's event handlers: agreement counts come from vote-svc's tally events (a read
model), never from vote-svc's database.

Every agreement produces one ``vote.tally_changed``, and the tally consumer takes them in
batches of up to 100, all in one transaction. Counts only grow and a later event of a target
carries a count at least as high, so applying each event one by one repeats work that the
highest count of the batch subsumes: the handler only *collects* the counts of its transaction
(:class:`PendingTallies`), and they are applied together just before that transaction commits
(the consumer runner's ``before_commit`` hook) -- one locked read and one update per batch,
tiers still crossed one by one between the stored count and the new one. The inbox rows, the
counts and whatever crossing a tier creates commit together, or not at all (a failure in the
batch falls back to one event per transaction, as before).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc import service
from proposal_svc.config import get_settings
from proposal_svc.service import ProposalContext
from services.clock import Clock, SystemClock
from services.consumer import ConsumerRunner, Handler
from services.events import CloudEvent, Event, VoteTallyChanged

_PENDING = "proposal_svc.pending_tallies"


@dataclass
class PendingTallies:
    """The tally counts one transaction has received, per target, waiting for its commit."""

    proposals: dict[uuid.UUID, list[int]] = field(default_factory=dict)
    forums: dict[uuid.UUID, int] = field(default_factory=dict)

    def add(self, event: VoteTallyChanged) -> None:
        if event.target_type == "proposal":
            self.proposals.setdefault(event.target_id, []).append(event.count)
        else:
            self.forums[event.target_id] = max(event.count, self.forums.get(event.target_id, 0))


def tally_handler(ctx: ProposalContext) -> Handler:
    """The handler of ``vote.tally_changed``: it collects the count in the transaction's
    :class:`PendingTallies`; :func:`apply_pending_tallies` applies them before the commit."""

    async def handle(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
        assert isinstance(event, VoteTallyChanged)
        pending: PendingTallies = session.info.setdefault(_PENDING, PendingTallies())
        pending.add(event)

    return handle


def apply_pending_tallies(ctx: ProposalContext) -> Callable[[AsyncSession], Awaitable[None]]:
    """The runner's ``before_commit`` hook: proposals cross tiers, forums count participants,
    once per transaction at the highest count of each target (nothing if none was collected)."""

    async def apply(session: AsyncSession) -> None:
        pending: PendingTallies | None = session.info.pop(_PENDING, None)
        if pending is not None:
            await service.apply_proposal_tallies(session, ctx, pending.proposals)
            await service.apply_forum_tallies(session, pending.forums)

    return apply


def tally_consumer(
    sessions: async_sessionmaker[AsyncSession],
    js: JetStreamContext,
    ctx: ProposalContext,
    *,
    one_transaction: bool = True,
    collect_ms: int = 100,
) -> ConsumerRunner:
    """The consumer of ``vote.tally_changed``. By default as ``proposal-svc consume`` runs it:
    one tally event per agreement, so a fetch (collected for 100 ms) is one transaction."""
    return ConsumerRunner(
        name="proposal-svc-tallies",
        stream="VOTE",
        handlers={VoteTallyChanged: tally_handler(ctx)},
        sessions=sessions,
        js=js,
        one_transaction=one_transaction,
        collect_ms=collect_ms,
        before_commit=apply_pending_tallies(ctx),
    )


def consumers(
    sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, clock: Clock | None = None
) -> Sequence[ConsumerRunner]:
    """The consumers ``proposal-svc consume`` runs."""
    ctx = ProposalContext(settings=get_settings(), clock=clock or SystemClock())
    return [tally_consumer(sessions, js, ctx)]
