"""proposal-svc's event handlers: agreement counts come from vote-svc's tally events (a read
model), never from vote-svc's database.

Every agreement produces one ``vote.tally_changed``, and the tally consumer takes them in
batches of up to 100, all in one transaction. Counts only grow and a later event of a target
carries a count at least as high, so applying each event one by one repeats work that the
highest count of the batch subsumes: the handler only *collects* the counts of its transaction
(:class:`PendingTallies`), and they are applied together just before that transaction commits
(SQLAlchemy's ``before_commit`` session event) -- one locked read and one update per batch,
tiers still crossed one by one between the stored count and the new one. The inbox rows, the
counts and whatever crossing a tier creates commit together, or not at all (a failure in the
batch falls back to one event per transaction, as before).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field

from nats.js import JetStreamContext
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session
from sqlalchemy.util import await_

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

    async def apply(self, session: AsyncSession, ctx: ProposalContext) -> None:
        await service.apply_proposal_tallies(session, ctx, self.proposals)
        await service.apply_forum_tallies(session, self.forums)


def pending_tallies(session: AsyncSession, ctx: ProposalContext) -> PendingTallies:
    """The counts collected in ``session``'s transaction; the first call arranges for them to be
    applied when it commits (a rolled-back transaction drops them with everything else)."""
    pending: PendingTallies | None = session.info.get(_PENDING)
    if pending is None:
        pending = session.info[_PENDING] = PendingTallies()

        def apply_before_commit(sync_session: Session) -> None:
            collected = sync_session.info.pop(_PENDING, None)
            if collected is not None:
                # The commit runs in SQLAlchemy's greenlet: await_ runs the async use case on
                # the same connection and transaction, before the commit itself.
                await_(collected.apply(session, ctx))

        def drop_after_rollback(sync_session: Session, _previous: object) -> None:
            sync_session.info.pop(_PENDING, None)

        event.listen(session.sync_session, "before_commit", apply_before_commit, once=True)
        event.listen(session.sync_session, "after_soft_rollback", drop_after_rollback, once=True)
    return pending


def tally_handler(ctx: ProposalContext) -> Handler:
    """The handler of ``vote.tally_changed``: proposals cross tiers, forums count participants
    (applied per batch when its transaction commits, see the module doc)."""

    async def handle(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
        assert isinstance(event, VoteTallyChanged)
        pending_tallies(session, ctx).add(event)

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
