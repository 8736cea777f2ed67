"""The committee's decisions: adopt (or decline) a proposal as an excellent proposal, possibly
grouping similar proposals with it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from proposal_svc import repository
from proposal_svc.bootstrap import ProposalContext
from proposal_svc.models import CommitteeDecision, Proposal
from proposal_svc.schemas import AdoptionCreate
from proposal_svc.service.proposals import change_status, get_proposal
from services.auth import Principal
from services.problems import ProblemError


async def decide_adoption(
    session: AsyncSession,
    ctx: ProposalContext,
    principal: Principal,
    proposal_id: uuid.UUID,
    data: AdoptionCreate,
) -> CommitteeDecision:
    """The committee adopts (or declines) a proposal as an excellent proposal, possibly grouping
    similar proposals with it."""
    proposal = await get_proposal(session, proposal_id, lock=True)
    if proposal.status not in ("open", "closed"):
        raise ProblemError(
            409,
            "proposal-not-decidable",
            "Proposal cannot be decided",
            f"status is {proposal.status}",
        )
    grouped_ids = [gid for gid in dict.fromkeys(data.grouped_proposal_ids) if gid != proposal_id]
    grouped = await _grouped(session, grouped_ids)
    if data.reason == "many_similar" and not grouped_ids and data.decision == "adopt":
        raise ProblemError(
            422, "grouped-proposals-required", "Name the similar proposals adopted together"
        )
    now = ctx.clock.now()
    decision = CommitteeDecision(
        id=uuid.uuid4(),
        proposal_id=proposal_id,
        decision=data.decision,
        reason=data.reason,
        rationale=data.rationale,
        grouped_proposal_ids=grouped_ids,
        decided_by=principal.citizen_id,
        decided_at=now,
    )
    session.add(decision)
    repository.add_timeline_entry(
        session,
        proposal_id,
        f"committee_{data.decision}",
        now,
        "committee",
        reason=data.reason,
        rationale=data.rationale,
        grouped_proposal_ids=[str(g) for g in grouped_ids],
    )
    if data.decision == "adopt":
        await _adopt(session, ctx, proposal, grouped, data, now)
    return decision


async def _grouped(session: AsyncSession, grouped_ids: list[uuid.UUID]) -> Sequence[Proposal]:
    # Locked like the decided proposal: their status may change with it.
    grouped = await repository.lock_proposals(session, grouped_ids)
    missing = set(grouped_ids) - {p.id for p in grouped}
    if missing:
        raise ProblemError(
            422,
            "unknown-grouped-proposals",
            "Unknown grouped proposals",
            missing=sorted(map(str, missing)),
        )
    return grouped


async def _adopt(
    session: AsyncSession,
    ctx: ProposalContext,
    proposal: Proposal,
    grouped: Sequence[Proposal],
    data: AdoptionCreate,
    now: datetime,
) -> None:
    """The proposal is adopted; each grouped one gets a timeline entry and, while still open or
    closed, is adopted with it."""
    await change_status(
        session,
        ctx,
        proposal,
        "adopted",
        reason=f"committee: {data.reason}",
        actor_role="committee",
    )
    for other in grouped:
        repository.add_timeline_entry(
            session,
            other.id,
            "committee_adopt",
            now,
            "committee",
            reason=data.reason,
            grouped_with=str(proposal.id),
        )
        if other.status in ("open", "closed"):
            await change_status(
                session,
                ctx,
                other,
                "adopted",
                reason=f"grouped with {proposal.id}",
                actor_role="committee",
            )
