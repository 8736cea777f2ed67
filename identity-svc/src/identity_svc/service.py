"""identity-svc use cases. They never commit: the request or CLI boundary owns the transaction."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Boolean, delete, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from identity_svc import contacts
from identity_svc.config import IdentitySettings
from identity_svc.keys import KeyRing
from identity_svc.models import Citizen, CitizenProvider, RefreshToken, RoleGrant, Verification
from identity_svc.providers import (
    ProviderError,
    ProviderRegistry,
    VerificationContext,
    VerifiedIdentity,
)
from identity_svc.tokens import (
    AccessTokenClaims,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
    role_list,
)
from services import outbox
from services.auth import Principal
from services.events import CitizenReinstated, CitizenSuspended, CitizenVerified
from services.problems import ProblemError

STAFF_ROLES = ("department", "mayor_office", "committee", "admin")


@dataclass(frozen=True)
class IdentityContext:
    """What the use cases need besides the session."""

    settings: IdentitySettings
    providers: ProviderRegistry
    keys: KeyRing


@dataclass(frozen=True)
class TokenPair:
    """A new access token and refresh token."""

    access_token: str
    refresh_token: str
    expires_in: int


@dataclass(frozen=True)
class Completion:
    """The outcome of a completed verification."""

    citizen_id: uuid.UUID
    created: bool
    tokens: TokenPair


@dataclass(frozen=True)
class CitizenView:
    """A citizen as shown to themselves or to an admin (no CI, DI or name: none is stored)."""

    citizen: Citizen
    roles: list[str]
    department: str | None
    providers: list[str]


def now_utc() -> datetime:
    """The current time (one place to read the clock)."""
    return datetime.now(UTC)


def keyed_hash(pepper: str, value: str) -> bytes:
    """HMAC-SHA256 of ``value`` under ``pepper``."""
    return hmac.new(pepper.encode(), value.encode(), hashlib.sha256).digest()


def age_band(birthdate: date, today: date) -> str:
    """The age band kept instead of the birthdate."""
    age = (
        today.year - birthdate.year - ((today.month, today.day) < (birthdate.month, birthdate.day))
    )
    if age < 14:
        return "under_14"
    if age < 18:
        return "14_17"
    if age < 30:
        return "18_29"
    if age >= 70:
        return "70_plus"
    decade = age // 10 * 10
    return f"{decade}_{decade + 9}"


# --- verification ---------------------------------------------------------------------------


async def start_verification(
    session: AsyncSession, ctx: IdentityContext, provider_name: str
) -> tuple[Verification, dict[str, Any]]:
    """Open a verification attempt with ``provider_name``; returns it and the provider's next step."""
    provider = ctx.providers.get(provider_name)
    now = now_utc()
    verification = Verification(
        id=uuid.uuid4(),
        provider=provider.name,
        nonce=secrets.token_hex(16),
        status="pending",
        created_at=now,
        expires_at=now + timedelta(seconds=ctx.settings.verification_ttl_seconds),
    )
    session.add(verification)
    await session.flush()
    next_step = provider.start(VerificationContext(verification.id, verification.nonce, now))
    return verification, next_step


async def _claim_verification(session: AsyncSession, verification_id: uuid.UUID) -> Verification:
    """Move the attempt from pending to completed exactly once (concurrent replays lose)."""
    now = now_utc()
    claimed: Verification | None = await session.scalar(
        update(Verification)
        .where(
            Verification.id == verification_id,
            Verification.status == "pending",
            Verification.expires_at > now,
        )
        .values(status="completed", completed_at=now)
        .returning(Verification)
    )
    if claimed is not None:
        return claimed
    existing = await session.get(Verification, verification_id)
    if existing is None:
        raise ProblemError(404, "verification-not-found", "Verification not found")
    if existing.status != "pending":
        raise ProblemError(
            409,
            "verification-already-used",
            "Verification already used",
            "Each verification can be completed once; start a new one.",
        )
    raise ProblemError(410, "verification-expired", "Verification expired", "Start a new one.")


async def complete_verification(
    session: AsyncSession,
    ctx: IdentityContext,
    verification_id: uuid.UUID,
    payload: Mapping[str, Any],
) -> Completion:
    """Check the provider's payload, find or create the one citizen this person is, sign them in."""
    verification = await _claim_verification(session, verification_id)
    provider = ctx.providers.get(verification.provider)
    context = VerificationContext(verification.id, verification.nonce, verification.created_at)
    try:
        identity = await provider.complete(context, payload)
    except ProviderError as exc:
        # A refused payload burns the attempt: it cannot be retried with other data.
        verification.status = "failed"
        exc.commit = True
        raise
    citizen_id, created, status = await _upsert_citizen(session, ctx.settings, identity)
    verification.citizen_id = citizen_id
    await _record_provider(session, ctx.settings, citizen_id, identity)
    await contacts.record_phone(session, ctx.settings.contact_key_bytes, citizen_id, identity.phone)
    if status == "suspended":
        raise ProblemError(
            403,
            "citizen-suspended",
            "Account suspended",
            "This account is suspended; contact the city.",
            commit=True,
        )
    if identity.requested_roles and ctx.settings.sandbox_roles:
        await _replace_roles(
            session,
            citizen_id,
            identity.requested_roles,
            identity.requested_department,
            granted_by=None,
        )
    outbox.add(
        session,
        CitizenVerified(
            citizen_id=citizen_id,
            provider=identity.provider,
            first_verification=created,
            age_band=age_band(identity.birthdate, now_utc().date()),
            is_foreigner=identity.is_foreigner,
            verified_at=now_utc(),
        ),
    )
    tokens = await _issue_tokens(session, ctx, citizen_id, family_id=uuid.uuid4())
    return Completion(citizen_id=citizen_id, created=created, tokens=tokens)


async def _upsert_citizen(
    session: AsyncSession, settings: IdentitySettings, identity: VerifiedIdentity
) -> tuple[uuid.UUID, bool, str]:
    """One row per CI, also under concurrent completions: INSERT .. ON CONFLICT DO UPDATE."""
    now = now_utc()
    ci_hmac = keyed_hash(settings.ci_pepper.get_secret_value(), identity.ci.get_secret_value())
    values = insert(Citizen).values(
        id=uuid.uuid4(),
        ci_hmac=ci_hmac,
        age_band=age_band(identity.birthdate, now.date()),
        is_foreigner=identity.is_foreigner,
        verified_at=now,
    )
    upsert = values.on_conflict_do_update(
        index_elements=[Citizen.ci_hmac],
        set_={
            "verified_at": values.excluded.verified_at,
            "age_band": values.excluded.age_band,
        },
    )
    # xmax = 0 tells a freshly inserted row from one the conflict clause updated.
    row = (
        await session.execute(
            upsert.returning(
                Citizen.id, Citizen.status, literal_column("xmax = 0", Boolean).label("created")
            )
        )
    ).one()
    return row.id, bool(row.created), row.status


async def _record_provider(
    session: AsyncSession,
    settings: IdentitySettings,
    citizen_id: uuid.UUID,
    identity: VerifiedIdentity,
) -> None:
    now = now_utc()
    di_hmac = (
        keyed_hash(
            settings.di_pepper.get_secret_value(),
            f"{identity.provider}:{identity.di.get_secret_value()}",
        )
        if identity.di is not None
        else None
    )
    statement = insert(CitizenProvider).values(
        citizen_id=citizen_id,
        provider=identity.provider,
        di_hmac=di_hmac,
        first_verified_at=now,
        last_verified_at=now,
    )
    await session.execute(
        statement.on_conflict_do_update(
            index_elements=[CitizenProvider.citizen_id, CitizenProvider.provider],
            set_={"last_verified_at": now, "di_hmac": di_hmac},
        )
    )


# --- tokens ---------------------------------------------------------------------------------


async def _grants(session: AsyncSession, citizen_id: uuid.UUID) -> Sequence[RoleGrant]:
    return (
        await session.scalars(select(RoleGrant).where(RoleGrant.citizen_id == citizen_id))
    ).all()


async def _issue_tokens(
    session: AsyncSession, ctx: IdentityContext, citizen_id: uuid.UUID, *, family_id: uuid.UUID
) -> TokenPair:
    settings = ctx.settings
    grants = await _grants(session, citizen_id)
    department = next((g.department for g in grants if g.role == "department"), None)
    now = now_utc()
    token, token_hash = new_refresh_token()
    session.add(
        RefreshToken(
            token_hash=token_hash,
            family_id=family_id,
            citizen_id=citizen_id,
            issued_at=now,
            expires_at=now + timedelta(seconds=settings.refresh_token_ttl_seconds),
        )
    )
    ttl = timedelta(seconds=settings.access_token_ttl_seconds)
    access = issue_access_token(
        await ctx.keys.active(),
        AccessTokenClaims(citizen_id, role_list(g.role for g in grants), department, family_id),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        ttl=ttl,
        now=now,
    )
    return TokenPair(access_token=access, refresh_token=token, expires_in=int(ttl.total_seconds()))


async def _revoke_family(session: AsyncSession, family_id: uuid.UUID, reason: str) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now_utc(), revoked_reason=reason)
    )


async def refresh(session: AsyncSession, ctx: IdentityContext, token: str) -> TokenPair:
    """Rotate a refresh token. Presenting one that was already used revokes its whole family."""
    now = now_utc()
    token_hash = hash_refresh_token(token)
    used = await session.scalar(
        update(RefreshToken)
        .where(
            RefreshToken.token_hash == token_hash,
            RefreshToken.used_at.is_(None),
            RefreshToken.revoked_at.is_(None),
            RefreshToken.expires_at > now,
        )
        .values(used_at=now)
        .returning(RefreshToken)
    )
    if used is None:
        existing = await session.scalar(
            select(RefreshToken).where(RefreshToken.token_hash == token_hash)
        )
        if existing is None:
            raise ProblemError(401, "invalid-refresh-token", "Invalid refresh token")
        if existing.used_at is not None:
            await _revoke_family(session, existing.family_id, "reuse")
            raise ProblemError(
                401,
                "refresh-token-reused",
                "Refresh token reuse detected",
                "This token was already used; every token of its sign-in is now revoked.",
                commit=True,
            )
        if existing.revoked_at is not None:
            raise ProblemError(401, "refresh-token-revoked", "Refresh token revoked")
        raise ProblemError(401, "refresh-token-expired", "Refresh token expired")
    citizen = await session.get(Citizen, used.citizen_id)
    if citizen is None or citizen.status != "active":
        await _revoke_family(session, used.family_id, "suspended")
        raise ProblemError(403, "citizen-suspended", "Account suspended", commit=True)
    return await _issue_tokens(session, ctx, used.citizen_id, family_id=used.family_id)


# --- citizens and roles ---------------------------------------------------------------------


async def citizen_view(session: AsyncSession, citizen_id: uuid.UUID) -> CitizenView:
    """A citizen with roles and providers, or 404."""
    citizen = await session.get(Citizen, citizen_id)
    if citizen is None:
        raise ProblemError(404, "citizen-not-found", "Citizen not found")
    grants = await _grants(session, citizen_id)
    providers = (
        await session.scalars(
            select(CitizenProvider.provider)
            .where(CitizenProvider.citizen_id == citizen_id)
            .order_by(CitizenProvider.first_verified_at, CitizenProvider.provider)
        )
    ).all()
    return CitizenView(
        citizen=citizen,
        roles=role_list(g.role for g in grants),
        department=next((g.department for g in grants if g.role == "department"), None),
        providers=list(providers),
    )


@dataclass(frozen=True)
class StaffMember:
    """A staff member as the internal staff lookup lists them."""

    citizen_id: uuid.UUID
    roles: list[str]
    department: str | None


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
    query = (
        select(RoleGrant.citizen_id)
        .join(Citizen, Citizen.id == RoleGrant.citizen_id)
        .where(RoleGrant.role == role, Citizen.status == "active")
        .order_by(RoleGrant.citizen_id)
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(RoleGrant.citizen_id > after)
    if department is not None:
        in_department = select(RoleGrant.citizen_id).where(
            RoleGrant.role == "department", RoleGrant.department == department
        )
        query = query.where(RoleGrant.citizen_id.in_(in_department))
    ids = list((await session.scalars(query)).all())
    more = len(ids) > limit
    ids = ids[:limit]
    grants: dict[uuid.UUID, list[RoleGrant]] = {citizen_id: [] for citizen_id in ids}
    if ids:
        for grant in await session.scalars(select(RoleGrant).where(RoleGrant.citizen_id.in_(ids))):
            grants[grant.citizen_id].append(grant)
    page = [
        StaffMember(
            citizen_id=citizen_id,
            roles=role_list(g.role for g in held),
            department=next((g.department for g in held if g.role == "department"), None),
        )
        for citizen_id, held in grants.items()
    ]
    return page, (ids[-1] if more else None)


async def _replace_roles(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    roles: Sequence[str],
    department: str | None,
    *,
    granted_by: uuid.UUID | None,
) -> None:
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
    await session.execute(delete(RoleGrant).where(RoleGrant.citizen_id == citizen_id))
    for role in staff:
        session.add(
            RoleGrant(
                citizen_id=citizen_id,
                role=role,
                department=department if role == "department" else None,
                granted_by=granted_by,
            )
        )
    await session.flush()


async def set_roles(
    session: AsyncSession,
    admin: Principal | None,
    citizen_id: uuid.UUID,
    roles: Sequence[str],
    department: str | None,
) -> CitizenView:
    """Replace a citizen's staff roles (admin only; ``admin`` None means the operator CLI)."""
    citizen = await session.get(Citizen, citizen_id, with_for_update=True)
    if citizen is None:
        raise ProblemError(404, "citizen-not-found", "Citizen not found")
    if admin is not None and admin.citizen_id == citizen_id and "admin" not in roles:
        raise ProblemError(409, "cannot-demote-self", "Admins cannot remove their own admin role")
    await _replace_roles(
        session, citizen_id, roles, department, granted_by=admin.citizen_id if admin else None
    )
    return await citizen_view(session, citizen_id)


async def suspend(
    session: AsyncSession, admin: Principal, citizen_id: uuid.UUID, reason: str
) -> CitizenView:
    """Suspend a citizen: sign-ins and refreshes stop, and vote-svc is told to refuse their votes."""
    if admin.citizen_id == citizen_id:
        raise ProblemError(409, "cannot-suspend-self", "Admins cannot suspend themselves")
    citizen = await session.get(Citizen, citizen_id, with_for_update=True)
    if citizen is None:
        raise ProblemError(404, "citizen-not-found", "Citizen not found")
    if citizen.status != "suspended":
        now = now_utc()
        citizen.status = "suspended"
        citizen.suspended_reason = reason
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.citizen_id == citizen_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=now, revoked_reason="suspended")
        )
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


async def reinstate(session: AsyncSession, admin: Principal, citizen_id: uuid.UUID) -> CitizenView:
    """Lift a suspension."""
    citizen = await session.get(Citizen, citizen_id, with_for_update=True)
    if citizen is None:
        raise ProblemError(404, "citizen-not-found", "Citizen not found")
    if citizen.status == "suspended":
        citizen.status = "active"
        citizen.suspended_reason = None
        outbox.add(
            session,
            CitizenReinstated(
                citizen_id=citizen_id, reinstated_at=now_utc(), reinstated_by=admin.citizen_id
            ),
        )
    return await citizen_view(session, citizen_id)
