"""identity-svc's internal endpoints: what notify-svc needs to reach citizens and staff, and a
citizen's current roles and status for every service (services.live_principal).

Served under ``/internal/v1`` on the service's own port only (the public entry point does not
route ``/internal``) and only to requests signed by an allowed service (``services.internal_auth``,
docs/internal-api.md). They read; they never change anything.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query

from identity_svc.deps import AnyService, CtxDep, NotifyService, SessionDep
from identity_svc.schemas import (
    CitizenContactInternal,
    CitizenStatusInternal,
    StaffMemberInternal,
    StaffPageInternal,
    StaffRole,
)
from identity_svc.service import citizens, contacts
from services.paging import decode_cursor, encode_cursor
from services.problems import problem_responses

router = APIRouter(prefix="/internal/v1", tags=["internal"])

SIGNED = (
    "Only for services: the request must carry the `X-Service-*` signature headers of "
    "docs/internal-api.md (401 `service-auth-required` / `service-auth-invalid`, 403 "
    "`service-not-allowed`). Not routed by the public entry point."
)


def _responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return problem_responses(401, 403, *statuses)


@router.get(
    "/citizens/{citizen_id}/contact",
    summary="A citizen's verified mobile number and status (notify-svc)",
    description=(
        "The number captured at the citizen's latest verification, digits only (`01012345678`), "
        "decrypted for this answer; `null` when no provider gave one. `status` tells whether the "
        "account is suspended. Unknown citizen: 404 `citizen-not-found`. " + SIGNED
    ),
    responses=_responses(404, 422, 500),
)
async def citizen_contact(
    citizen_id: uuid.UUID, _: NotifyService, session: SessionDep, ctx: CtxDep
) -> CitizenContactInternal:
    found = await contacts.contact(session, ctx.contact_key, citizen_id)
    return CitizenContactInternal(
        citizen_id=found.citizen_id,
        phone=found.phone,
        status="suspended" if found.status == "suspended" else "active",
    )


@router.get(
    "/citizens/{citizen_id}/status",
    summary="A citizen's current roles and status (every service)",
    description=(
        "What a service acts on for staff actions and citizens' writes, instead of the roles an "
        "access token carried when it was issued: a role granted or withdrawn, or a suspension, "
        "takes effect at the next request (services.live_principal). Unknown citizen: 404 "
        "`citizen-not-found`. " + SIGNED
    ),
    responses=_responses(404, 422),
)
async def citizen_status(
    citizen_id: uuid.UUID, _: AnyService, session: SessionDep
) -> CitizenStatusInternal:
    view = await citizens.citizen_view(session, citizen_id)
    return CitizenStatusInternal(
        citizen_id=citizen_id,
        status="suspended" if view.citizen.status == "suspended" else "active",
        roles=view.roles,
        department=view.department,
    )


@router.get(
    "/citizens",
    summary="Active staff holding a role, optionally in one department (notify-svc)",
    description=(
        "Who to tell when an obligation is overdue. Lists active citizens holding `role` (a "
        "staff role; `citizen` is refused) and, with `department`, only those whose "
        "`department` grant names it; ordered by citizen id, `limit` per page, continued with "
        "`cursor` = the previous page's `next_cursor`. " + SIGNED
    ),
    responses=_responses(400, 422),
)
async def staff(
    _: NotifyService,
    session: SessionDep,
    role: Annotated[StaffRole, Query(description="Staff role to list")],
    department: Annotated[
        str | None, Query(min_length=1, max_length=100, description="Exact department name")
    ] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> StaffPageInternal:
    page, after = await citizens.list_staff(
        session,
        role,
        department=department,
        after=decode_cursor(cursor),
        limit=limit,
    )
    return StaffPageInternal(
        items=[
            StaffMemberInternal.model_validate(
                {"citizen_id": m.citizen_id, "roles": m.roles, "department": m.department}
            )
            for m in page
        ],
        next_cursor=encode_cursor(after) if after else None,
    )
