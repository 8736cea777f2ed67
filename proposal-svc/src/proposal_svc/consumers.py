"""proposal-svc's event handlers: agreement counts come from vote-svc's tally events (a read
model), never from vote-svc's database.

Every agreement produces one ``vote.tally_changed``, and the tally consumer takes them in
batches of up to 100 as one batch (``services.consumer.BatchHandler``): counts only grow and a
later event of a target carries a count at least as high, so applying each event one by one
repeats work that the highest count of the batch subsumes. :func:`apply_tallies` applies the
batch's counts together -- one locked read and one update per target, tiers still crossed one by
one between the stored count and the new one. The inbox rows, the counts and whatever crossing a
tier creates commit together, or not at all (a failure in the batch falls back to one event per
transaction, with the runner's retries and dead letters).
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc.bootstrap import ProposalContext
from proposal_svc.follows import following
from proposal_svc.service import forums, tallies
from services.consumer import BatchHandler, ConsumerRunner, Delivered
from services.events import VoteTallyChanged


async def apply_tallies(
    ctx: ProposalContext, session: AsyncSession, batch: Sequence[Delivered[VoteTallyChanged]]
) -> None:
    """Proposals cross tiers and forums count participants, once per batch at the highest
    count of each target; the citizens who agreed follow (unless they opted out)."""
    proposal_counts: dict[uuid.UUID, list[int]] = {}
    forum_counts: dict[uuid.UUID, int] = {}
    agreed: list[tuple[uuid.UUID, uuid.UUID]] = []
    for delivered in batch:
        event = delivered.event
        if event.target_type == "proposal":
            proposal_counts.setdefault(event.target_id, []).append(event.count)
            if event.citizen_id is not None:
                agreed.append((event.citizen_id, event.target_id))
        else:
            forum_counts[event.target_id] = max(event.count, forum_counts.get(event.target_id, 0))
    await tallies.apply_proposal_tallies(session, ctx, proposal_counts)
    await forums.apply_forum_tallies(session, forum_counts)
    await following.agreements_follow(session, ctx, agreed)


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
        batch=BatchHandler(VoteTallyChanged, functools.partial(apply_tallies, ctx)),
        sessions=sessions,
        js=js,
        one_transaction=one_transaction,
        collect_ms=collect_ms,
    )


def build_consumers(
    ctx: ProposalContext, sessions: async_sessionmaker[AsyncSession], js: JetStreamContext
) -> Sequence[ConsumerRunner]:
    """The consumers ``proposal-svc consume`` runs."""
    return [tally_consumer(sessions, js, ctx)]
