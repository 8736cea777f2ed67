"""The reference data's routes. Included before ``/v1/proposals/{id}`` (static paths first)."""

from __future__ import annotations

from fastapi import APIRouter

from proposal_svc.deps import CtxDep
from proposal_svc.reference.data import CATEGORY_LABELS, DISTRICTS
from proposal_svc.reference.schemas import (
    BudgetLinkPublic,
    CategoryList,
    CategoryPublic,
    DistrictList,
    DistrictPublic,
    TierList,
    TierPublic,
)

reference_routes = APIRouter(prefix="/v1/proposals", tags=["reference"])


@reference_routes.get(
    "/categories",
    summary="The proposal categories, with Korean and English labels",
    description="`category` of a proposal is one of these codes (422 `unknown-category`).",
)
async def categories(ctx: CtxDep) -> CategoryList:
    return CategoryList(
        items=[
            CategoryPublic(
                code=code,
                label_ko=CATEGORY_LABELS.get(code, (code, code))[0],
                label_en=CATEGORY_LABELS.get(code, (code, code))[1],
            )
            for code in ctx.settings.categories
        ]
    )


@reference_routes.get(
    "/districts",
    summary="Seoul's 25 districts (자치구) with their official codes",
    description=(
        "`district` of a proposal is one of these, by code or Korean name (422 "
        "`unknown-district`); proposals answer the Korean name and `district_code`."
    ),
)
async def districts() -> DistrictList:
    return DistrictList(
        items=[DistrictPublic(code=d.code, name_ko=d.name_ko, name_en=d.name_en) for d in DISTRICTS]
    )


@reference_routes.get(
    "/tiers",
    summary="The configured agreement tiers and the days each obligation is due in",
    description=(
        "Reaching `threshold` agreements creates the obligation `obligation`, due in "
        "`due_days` (`PROPOSAL_TIERS`); a proposal takes agreements for `agreement_days`; a "
        "forum of `budget_link.participants` or more makes the proposal budget-linked."
    ),
)
async def tiers(ctx: CtxDep) -> TierList:
    settings = ctx.settings
    return TierList(
        items=[
            TierPublic(
                name=t.name, threshold=t.threshold, obligation=t.obligation, due_days=t.due_days
            )
            for t in settings.tiers
        ],
        agreement_days=settings.agreement_days,
        forum_days=settings.forum_days,
        budget_link=BudgetLinkPublic(
            participants=settings.budget_participants, review_days=settings.budget_review_days
        ),
    )
