"""Statistics routes: obligations per department, tier, category, district or month, and
agreements per proposal district or category (docs/statistics.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from proposal_svc.deps import CtxDep, SessionDep
from proposal_svc.opendata import statistics
from proposal_svc.opendata.schemas import (
    AgreementCellPublic,
    AgreementStatistics,
    ObligationCellPublic,
    ObligationStatistics,
)
from services.problems import problem_responses

router = APIRouter(prefix="/v1/statistics", tags=["statistics"])


@router.get(
    "/obligations",
    summary="How the city keeps its obligations, per department, tier, category, district or month",
    description=(
        "Per key: obligations created (`total`), `due` (due date passed), `fulfilled_on_time`, "
        "`fulfilled_late`, `overdue` (due and unfulfilled), `open` (not due yet) and the median "
        "days from the obligation to its fulfilment. `department` covers the answer "
        "obligations: the answering department (`(unassigned)` until one answers) and "
        "`mayor_office`; `tier` is the obligation's kind; `month` the month it falls due "
        "(Korea). An unknown `by` answers 422."
    ),
    responses=problem_responses(422),
)
async def obligation_statistics(
    session: SessionDep,
    ctx: CtxDep,
    by: Annotated[statistics.ObligationDimension, Query()] = "department",
) -> ObligationStatistics:
    now = ctx.clock.now()
    cells = await statistics.obligation_statistics(session, by, now)
    return ObligationStatistics(
        by=by, as_of=now, items=[ObligationCellPublic(**vars(c)) for c in cells]
    )


@router.get(
    "/agreements",
    summary="Agreements with the proposals of each district or category",
    description=(
        "Sums of the public agreement counts of the proposals of each district (as the "
        "proposer named it; `(unassigned)` without one) or category, hidden proposals left out. "
        "Who agreed, by age band and residency with k = 10 suppression, is vote-svc's "
        "`GET /v1/votes/statistics/proposals/{id}`. An unknown `by` answers 422."
    ),
    responses=problem_responses(422),
)
async def agreement_statistics(
    session: SessionDep,
    by: Annotated[statistics.AgreementDimension, Query()] = "district",
) -> AgreementStatistics:
    cells = await statistics.agreement_statistics(session, by)
    return AgreementStatistics(by=by, items=[AgreementCellPublic(**vars(c)) for c in cells])
