"""Citizens as the platform knows them (no CI, DI or name: none is stored), the staff roles admins
grant, suspensions, and the staff lookup notify-svc uses."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from identity_svc import repository
from identity_svc.bootstrap import IdentityContext
from identity_svc.models import Citizen
from identity_svc.tokens import role_list
from services import outbox
from services.auth import Principal
from services.events import CitizenReinstated, CitizenSuspended
from services.problems import ProblemError

STAFF_ROLES = (
    "department",
    "mayor_office",
    "committee",
    "admin",
    "moderator",
    "forum_staff",
    "auditor",
)


@dataclass(frozen=True)
class CitizenView:
    """A citizen as shown to themselves or to an admin (no CI, DI or name: none is stored)."""

    citizen: Citizen
    roles: list[str]
    department: str | None
    providers: list[str]


@dataclass(frozen=True)
class StaffMember:
    """A staff member as the internal staff lookup lists them."""

    citizen_id: uuid.UUID
    roles: list[str]
    department: str | None


async def citizen_view(session: AsyncSession, citizen_id: uuid.UUID) -> CitizenView:
    """A citizen with roles and providers, or 404."""
    citizen = await repository.citizen_or_404(session, citizen_id)
    grants = await repository.grants(session, citizen_id)
    return CitizenView(
        citizen=citizen,
        roles=role_list(g.role for g in grants),
        department=repository.department_of(grants),
        providers=await repository.provider_names(session, citizen_id),
    )


async def list_staff(
    session: AsyncSession,
    role: str,
    *,
    department: str | None,
    after: uuid.UUID | None,
    limit: int,
) -> tuple[list[StaffMember], uuid.UUID | None]:
    """Active citizens holding ``role`` (and, if given, in ``department``), ordered by id from
    after ``after``; returns one page and the id to continue after (None on the last page)."""
    # One more than a page tells whether there is a next one.
    ids = await repository.staff_ids(
        session, role, department=department, after=after, limit=limit + 1
    )
    more = len(ids) > limit
    ids = ids[:limit]
    page = [
        StaffMember(
            citizen_id=citizen_id,
            roles=role_list(g.role for g in held),
            department=repository.department_of(held),
        )
        for citizen_id, held in (await repository.grants_of(session, ids)).items()
    ]
    return page, (ids[-1] if more else None)


async def replace_roles(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    roles: Sequence[str],
    department: str | None,
    *,
    granted_by: uuid.UUID | None,
) -> None:
    """Replace a citizen's staff roles after checking them (``citizen`` is implied, never stored;
    a department goes with the department role and only with it)."""
    staff = sorted(set(roles) - {"citizen"})
    unknown = set(staff) - set(STAFF_ROLES)
    if unknown:
        raise ProblemError(422, "unknown-role", "Unknown role", f"unknown roles: {sorted(unknown)}")
    if ("department" in staff) != bool(department):
        raise ProblemError(
            422,
            "department-required",
            "Department mismatch",
            "The department role needs a department, and a department needs the department role.",
        )
    departments = {role: department if role == "department" else None for role in staff}
    await repository.replace_grants(session, citizen_id, departments, granted_by)


async def set_roles(
    session: AsyncSession,
    admin: Principal | None,
    citizen_id: uuid.UUID,
    roles: Sequence[str],
    department: str | None,
) -> CitizenView:
    """Replace a citizen's staff roles (admin only; ``admin`` None means the operator CLI)."""
    await repository.citizen_or_404(session, citizen_id, for_update=True)
    if admin is not None and admin.citizen_id == citizen_id and "admin" not in roles:
        raise ProblemError(409, "cannot-demote-self", "Admins cannot remove their own admin role")
    await replace_roles(
        session, citizen_id, roles, department, granted_by=admin.citizen_id if admin else None
    )
    return await citizen_view(session, citizen_id)


async def create_admin(session: AsyncSession, citizen_id: uuid.UUID) -> CitizenView:
    """Add the admin role to an already verified citizen's roles (how operators make the first
    admin, from the command line); 404 for an unknown citizen."""
    current = await citizen_view(session, citizen_id)
    roles = sorted({*current.roles, "admin"})
    return await set_roles(session, None, citizen_id, roles, current.department)


async def suspend(
    session: AsyncSession,
    ctx: IdentityContext,
    admin: Principal,
    citizen_id: uuid.UUID,
    reason: str,
) -> CitizenView:
    """Suspend a citizen: sign-ins and refreshes stop, and vote-svc is told to refuse their votes."""
    if admin.citizen_id == citizen_id:
        raise ProblemError(409, "cannot-suspend-self", "Admins cannot suspend themselves")
    citizen = await repository.citizen_or_404(session, citizen_id, for_update=True)
    if citizen.status != "suspended":
        now = ctx.clock.now()
        citizen.status = "suspended"
        citizen.suspended_reason = reason
        await repository.revoke_citizen_tokens(session, citizen_id, reason="suspended", now=now)
        outbox.add(
            session,
            CitizenSuspended(
                citizen_id=citizen_id,
                reason=reason,
                suspended_at=now,
                suspended_by=admin.citizen_id,
            ),
        )
    return await citizen_view(session, citizen_id)


async def reinstate(
    session: AsyncSession, ctx: IdentityContext, admin: Principal, citizen_id: uuid.UUID
) -> CitizenView:
    """Lift a suspension."""
    citizen = await repository.citizen_or_404(session, citizen_id, for_update=True)
    if citizen.status == "suspended":
        citizen.status = "active"
        citizen.suspended_reason = None
        outbox.add(
            session,
            CitizenReinstated(
                citizen_id=citizen_id,
                reinstated_at=ctx.clock.now(),
                reinstated_by=admin.citizen_id,
            ),
        )
    return await citizen_view(session, citizen_id)
