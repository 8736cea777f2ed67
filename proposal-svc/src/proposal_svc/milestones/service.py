"""Publishing and listing milestones (use cases; the boundary commits)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from proposal_svc import repository
from proposal_svc.bootstrap import ProposalContext
from proposal_svc.milestones.deps import PUBLISHER_ROLES
from proposal_svc.milestones.models import Milestone
from proposal_svc.milestones.schemas import MilestoneCreate
from proposal_svc.service.proposals import get_proposal
from services import outbox
from services.auth import Principal
from services.events import ProposalMilestonePublished
from services.problems import ProblemError

#: The statuses of a proposal the city carries out.
IMPLEMENTABLE = ("adopted", "budget_linked")


class NotImplementable(ProblemError):
    """409: only adopted or budget-linked proposals have milestones."""

    def __init__(self, status: str) -> None:
        super().__init__(
            409,
            "proposal-not-implementable",
            "Proposal is not being carried out",
            f"milestones are published on adopted or budget-linked proposals; status is {status}",
            proposal_status=status,
        )


class ReasonRequired(ProblemError):
    """422: dropping a budget-linked project needs a reason."""

    def __init__(self) -> None:
        super().__init__(
            422,
            "reason-required",
            "Dropping a budget-linked project needs a reason",
            "give `reason`: why the project is dropped",
        )


async def publish_milestone(
    session: AsyncSession,
    ctx: ProposalContext,
    staff: Principal,
    proposal_id: uuid.UUID,
    data: MilestoneCreate,
) -> Milestone:
    """Staff publish a milestone: on the proposal's timeline and as an event."""
    proposal = await get_proposal(session, proposal_id, lock=True)
    if proposal.status not in IMPLEMENTABLE:
        raise NotImplementable(proposal.status)
    if data.status == "dropped" and proposal.status == "budget_linked" and not data.reason:
        raise ReasonRequired
    now = ctx.clock.now()
    role = next(r for r in PUBLISHER_ROLES if staff.has_any(r))
    milestone = Milestone(
        id=uuid.uuid4(),
        proposal_id=proposal_id,
        title=data.title,
        status=data.status,
        progress=100 if data.status == "done" and data.progress is None else data.progress,
        budget_krw=data.budget_krw,
        note=data.note,
        reason=data.reason or None,
        published_by=staff.citizen_id,
        published_by_role=role,
        department=staff.department if role == "department" else None,
        published_at=now,
    )
    session.add(milestone)
    repository.add_timeline_entry(
        session,
        proposal_id,
        "milestone_published",
        now,
        role,
        milestone_id=milestone.id,
        title=milestone.title,
        status=milestone.status,
        progress=milestone.progress,
        budget_krw=milestone.budget_krw,
        note=milestone.note,
        reason=milestone.reason,
        department=milestone.department,
    )
    outbox.add(
        session,
        ProposalMilestonePublished(
            proposal_id=proposal_id,
            title=proposal.title,
            milestone_id=milestone.id,
            milestone_title=milestone.title,
            status=data.status,
            progress=milestone.progress,
            budget_krw=milestone.budget_krw,
            note=milestone.note,
            reason=milestone.reason,
            published_by_role=role,
            published_at=now,
        ),
    )
    return milestone


async def list_milestones(session: AsyncSession, proposal_id: uuid.UUID) -> Sequence[Milestone]:
    """A proposal's milestones in the order they were published (404 for an unknown one)."""
    await get_proposal(session, proposal_id)
    return (
        await session.scalars(
            select(Milestone)
            .where(Milestone.proposal_id == proposal_id)
            .order_by(Milestone.published_at, Milestone.id)
        )
    ).all()
