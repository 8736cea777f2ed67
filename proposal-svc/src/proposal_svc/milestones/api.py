"""Milestone routes: staff publish, anyone lists."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from proposal_svc.deps import CtxDep, SessionDep
from proposal_svc.milestones import service
from proposal_svc.milestones.deps import CurrentMilestoneStaff
from proposal_svc.milestones.models import Milestone
from proposal_svc.milestones.schemas import MilestoneCreate, MilestoneList, MilestonePublic
from services.problems import problem_responses

router = APIRouter(prefix="/v1/proposals", tags=["milestones"])


def _public(m: Milestone) -> MilestonePublic:
    return MilestonePublic(
        id=m.id,
        proposal_id=m.proposal_id,
        title=m.title,
        status=m.status,
        progress=m.progress,
        budget_krw=m.budget_krw,
        note=m.note,
        reason=m.reason,
        published_by_role=m.published_by_role,
        department=m.department,
        published_at=m.published_at,
    )


@router.post(
    "/{proposal_id}/milestones",
    status_code=201,
    summary="Publish a milestone of carrying out a proposal (staff)",
    description=(
        "Departments, the mayor's office and admins publish the steps of an adopted or "
        "budget-linked proposal (`planned`, `in_progress`, `done`, `dropped`; `done` without "
        "`progress` is 100). It appears on the public timeline (`milestone_published`) and is "
        "announced as `proposal.milestone_published`. Any other proposal answers 409 "
        "`proposal-not-implementable`; dropping a budget-linked project without a `reason` 422 "
        "`reason-required`; an unknown proposal 404."
    ),
    responses=problem_responses(400, 401, 403, 404, 409, 413, 422),
)
async def publish_milestone(
    proposal_id: uuid.UUID,
    body: MilestoneCreate,
    staff: CurrentMilestoneStaff,
    session: SessionDep,
    ctx: CtxDep,
    response: Response,
) -> MilestonePublic:
    milestone = await service.publish_milestone(session, ctx, staff, proposal_id, body)
    response.headers["Location"] = f"/v1/proposals/{proposal_id}/milestones"
    return _public(milestone)


@router.get(
    "/{proposal_id}/milestones",
    summary="A proposal's milestones, in the order they were published",
    responses=problem_responses(404, 422),
)
async def list_milestones(proposal_id: uuid.UUID, session: SessionDep) -> MilestoneList:
    found = await service.list_milestones(session, proposal_id)
    return MilestoneList(proposal_id=proposal_id, items=[_public(m) for m in found])
