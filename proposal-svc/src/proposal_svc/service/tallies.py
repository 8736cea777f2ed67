"""Agreement tallies (from vote-svc's ``vote.tally_changed``), the tiers they cross, the
obligations a tier creates, and the answers that fulfil them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Literal

from sqlalchemy.ext.asyncio import AsyncSession

from proposal_svc import repository
from proposal_svc.bootstrap import ProposalContext
from proposal_svc.config import TierRule
from proposal_svc.models import Answer
from proposal_svc.service.forums import open_proposal_forum
from proposal_svc.service.proposals import ACTIVE, get_proposal
from services import outbox
from services.auth import Principal
from services.events import ProposalAnswered, ProposalThresholdReached
from services.problems import ProblemError

#: The role an answer of each kind needs, and the obligation it fulfils.
ANSWER_ROLE = {"department": "department", "mayor": "mayor_office"}
ANSWER_OBLIGATION = {"department": "department_answer", "mayor": "mayor_answer"}


async def apply_proposal_tally(
    session: AsyncSession, ctx: ProposalContext, proposal_id: uuid.UUID, count: int
) -> None:
    """Record the agreement count (counts only grow) and cross the tiers between the old count
    and the new one. A late or repeated tally changes nothing and costs one locked read."""
    await apply_proposal_tallies(session, ctx, {proposal_id: [count]})


async def apply_proposal_tallies(
    session: AsyncSession, ctx: ProposalContext, counts: Mapping[uuid.UUID, Sequence[int]]
) -> None:
    """Apply a batch of tally events: per proposal, the highest of its ``counts`` (counts only
    grow, so it subsumes the others) with one locked read and one update for the whole batch.

    Every tier between the stored count and that highest one is crossed, none skipped (40 then
    120 crosses 50 and 100), and each crossing records the lowest count of the batch that
    reached its threshold: the count at which it was reached, whatever order the events came
    in. Late or repeated counts change nothing.
    """
    if not counts:
        return
    rows = await repository.lock_counts(session, list(counts))
    grown = [
        (row, max(counts[row.id])) for row in rows if max(counts[row.id]) > row.agreement_count
    ]
    if not grown:
        return
    await repository.set_counts(session, [(row.id, count) for row, count in grown])
    for row, count in grown:
        if row.status in ("withdrawn", "hidden"):
            continue
        for tier in ctx.settings.tiers:
            if row.agreement_count < tier.threshold <= count:
                reached = min(c for c in counts[row.id] if c >= tier.threshold)
                await _cross_tier(session, ctx, row.id, tier, reached)


async def _cross_tier(
    session: AsyncSession, ctx: ProposalContext, proposal_id: uuid.UUID, tier: TierRule, count: int
) -> None:
    now = ctx.clock.now()
    if not await repository.insert_tier_crossing(
        session, proposal_id, tier.name, tier.threshold, now
    ):
        return  # already crossed (a later or redelivered tally)
    proposal = await get_proposal(session, proposal_id)
    due_at = now + timedelta(days=tier.due_days)
    await repository.create_obligation(session, proposal_id, tier.obligation, now, due_at)
    repository.add_timeline_entry(
        session,
        proposal_id,
        "tier_reached",
        now,
        None,
        tier=tier.name,
        threshold=tier.threshold,
        agreement_count=count,
        obligation=tier.obligation,
        due_at=due_at,
    )
    outbox.add(
        session,
        ProposalThresholdReached(
            proposal_id=proposal_id,
            author_id=proposal.author_id,
            title=proposal.title,
            tier=tier.name,
            threshold=tier.threshold,
            agreement_count=count,
            obligation=tier.obligation,
            due_at=due_at,
            reached_at=now,
        ),
    )
    if tier.obligation == "forum":
        await open_proposal_forum(session, ctx, proposal)


async def answer(
    session: AsyncSession,
    ctx: ProposalContext,
    principal: Principal,
    proposal_id: uuid.UUID,
    kind: Literal["department", "mayor"],
    body: str,
) -> Answer:
    """The responsible department or the mayor's office answers; the obligation is fulfilled."""
    role = ANSWER_ROLE[kind]
    if not principal.has_any(role):
        raise ProblemError(
            403,
            "forbidden",
            "Forbidden",
            f"a {kind} answer needs the role {role}",
            required_roles=[role],
        )
    proposal = await get_proposal(session, proposal_id, lock=True)
    if proposal.status not in ACTIVE:
        raise ProblemError(
            409,
            "proposal-not-answerable",
            "Proposal cannot be answered",
            f"status is {proposal.status}",
        )
    now = ctx.clock.now()
    obligation_kind = ANSWER_OBLIGATION[kind]
    record = Answer(
        id=uuid.uuid4(),
        proposal_id=proposal_id,
        kind=kind,
        body=body,
        author_id=principal.citizen_id,
        author_role=role,
        department=principal.department if kind == "department" else None,
        created_at=now,
    )
    session.add(record)
    await repository.fulfil_obligation(session, proposal_id, obligation_kind, now)
    repository.add_timeline_entry(
        session,
        proposal_id,
        "answered",
        now,
        role,
        kind=kind,
        answer_id=record.id,
        department=record.department,
    )
    outbox.add(
        session,
        ProposalAnswered(
            proposal_id=proposal_id,
            author_id=proposal.author_id,
            title=proposal.title,
            obligation=obligation_kind,
            answer_id=record.id,
            answered_by_role=role,
            answered_at=now,
        ),
    )
    return record
