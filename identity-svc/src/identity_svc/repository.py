"""identity-svc's queries: reads and writes of citizens, their providers and grants, verification
attempts and refresh tokens. They flush at most; the caller's boundary owns the transaction, and
the use cases in ``identity_svc.service`` decide what a missing or spent row means."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime

from sqlalchemy import Boolean, ColumnElement, delete, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from identity_svc.claims import EligibilityFacts
from identity_svc.models import (
    Citizen,
    CitizenProvider,
    ProviderTransaction,
    RefreshToken,
    RoleGrant,
    Verification,
)
from services.problems import ProblemError

# --- citizens -------------------------------------------------------------------------------


async def citizen_or_404(
    session: AsyncSession, citizen_id: uuid.UUID, *, for_update: bool = False
) -> Citizen:
    """The citizen (row-locked with ``for_update``), or 404."""
    citizen = await session.get(Citizen, citizen_id, with_for_update=True if for_update else None)
    if citizen is None:
        raise ProblemError(404, "citizen-not-found", "Citizen not found")
    return citizen


async def upsert_citizen(
    session: AsyncSession,
    *,
    ci_hmac: bytes,
    age_band: str,
    birth_month: date,
    is_foreigner: bool | None,
    residency: str | None,
    now: datetime,
) -> tuple[uuid.UUID, bool, str]:
    """One row per CI, also under concurrent completions: INSERT .. ON CONFLICT DO UPDATE.
    Returns the citizen's id, whether the row is new, and its status. A provider that does not
    say whether the person is a foreigner, or vouches for no residency, leaves what an earlier
    one said."""
    values = insert(Citizen).values(
        id=uuid.uuid4(),
        ci_hmac=ci_hmac,
        age_band=age_band,
        birth_month=birth_month,
        is_foreigner=is_foreigner,
        residency=residency,
        verified_at=now,
    )
    upsert = values.on_conflict_do_update(
        index_elements=[Citizen.ci_hmac],
        set_={
            "verified_at": values.excluded.verified_at,
            "age_band": values.excluded.age_band,
            "birth_month": values.excluded.birth_month,
            "is_foreigner": func.coalesce(values.excluded.is_foreigner, Citizen.is_foreigner),
            "residency": func.coalesce(values.excluded.residency, Citizen.residency),
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


async def eligibility_facts(session: AsyncSession, citizen_id: uuid.UUID) -> EligibilityFacts:
    """What the citizen's row says about eligibility, read fresh (the row may have just been
    upserted by a statement the session's identity map does not know of)."""
    row = (
        await session.execute(
            select(
                Citizen.birth_month,
                Citizen.age_band,
                Citizen.verified_at,
                Citizen.is_foreigner,
                Citizen.residency,
                Citizen.created_at,
            ).where(Citizen.id == citizen_id)
        )
    ).one()
    return EligibilityFacts(
        birth_month=row.birth_month,
        age_band=row.age_band,
        verified_at=row.verified_at,
        is_foreigner=row.is_foreigner,
        residency=row.residency,
        created_at=row.created_at,
    )


async def record_provider(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    provider: str,
    di_hmac: bytes | None,
    now: datetime,
) -> None:
    """Note that ``provider`` verified the citizen ``now`` (first and latest time)."""
    statement = insert(CitizenProvider).values(
        citizen_id=citizen_id,
        provider=provider,
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


async def provider_names(session: AsyncSession, citizen_id: uuid.UUID) -> list[str]:
    """The providers that verified the citizen, in the order they first did."""
    names = await session.scalars(
        select(CitizenProvider.provider)
        .where(CitizenProvider.citizen_id == citizen_id)
        .order_by(CitizenProvider.first_verified_at, CitizenProvider.provider)
    )
    return list(names.all())


# --- role grants ----------------------------------------------------------------------------


async def grants(session: AsyncSession, citizen_id: uuid.UUID) -> Sequence[RoleGrant]:
    """The citizen's staff role grants."""
    return (
        await session.scalars(select(RoleGrant).where(RoleGrant.citizen_id == citizen_id))
    ).all()


async def grants_of(
    session: AsyncSession, citizen_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[RoleGrant]]:
    """The grants of each of ``citizen_ids``, keyed in their order."""
    held: dict[uuid.UUID, list[RoleGrant]] = {citizen_id: [] for citizen_id in citizen_ids}
    if citizen_ids:
        query = select(RoleGrant).where(RoleGrant.citizen_id.in_(citizen_ids))
        for grant in await session.scalars(query):
            held[grant.citizen_id].append(grant)
    return held


def department_of(grants: Iterable[RoleGrant]) -> str | None:
    """The department of the ``department`` grant, if there is one."""
    return next((g.department for g in grants if g.role == "department"), None)


async def replace_grants(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    departments: Mapping[str, str | None],
    granted_by: uuid.UUID | None,
) -> None:
    """Replace the citizen's grants by one per role of ``departments`` (role → the department
    the grant names, if any)."""
    await session.execute(delete(RoleGrant).where(RoleGrant.citizen_id == citizen_id))
    for role, department in departments.items():
        session.add(
            RoleGrant(
                citizen_id=citizen_id, role=role, department=department, granted_by=granted_by
            )
        )
    await session.flush()


async def staff_ids(
    session: AsyncSession,
    role: str,
    *,
    department: str | None,
    after: uuid.UUID | None,
    limit: int,
) -> list[uuid.UUID]:
    """Ids of active citizens holding ``role`` (and, if given, in ``department``), ordered, from
    after ``after``, at most ``limit``."""
    query = (
        select(RoleGrant.citizen_id)
        .join(Citizen, Citizen.id == RoleGrant.citizen_id)
        .where(RoleGrant.role == role, Citizen.status == "active")
        .order_by(RoleGrant.citizen_id)
        .limit(limit)
    )
    if after is not None:
        query = query.where(RoleGrant.citizen_id > after)
    if department is not None:
        in_department = select(RoleGrant.citizen_id).where(
            RoleGrant.role == "department", RoleGrant.department == department
        )
        query = query.where(RoleGrant.citizen_id.in_(in_department))
    return list((await session.scalars(query)).all())


# --- verification attempts ------------------------------------------------------------------


async def claim_pending_verification(
    session: AsyncSession, verification_id: uuid.UUID, now: datetime
) -> Verification | None:
    """Mark the attempt completed if it is still pending and unexpired (one caller wins)."""
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
    return claimed


async def use_provider_transaction(
    session: AsyncSession, provider: str, tx_hash: bytes, verification_id: uuid.UUID
) -> bool:
    """Note that the provider's transaction signed in through ``verification_id``; False if it
    already did (concurrent uses: the unique key makes one of them wait and lose)."""
    used = await session.scalar(
        insert(ProviderTransaction)
        .values(provider=provider, tx_hash=tx_hash, verification_id=verification_id)
        .on_conflict_do_nothing(
            index_elements=[ProviderTransaction.provider, ProviderTransaction.tx_hash]
        )
        .returning(ProviderTransaction.verification_id)
    )
    return used is not None


# --- refresh tokens -------------------------------------------------------------------------


async def use_refresh_token(
    session: AsyncSession, token_hash: bytes, now: datetime
) -> RefreshToken | None:
    """Mark the token used if it is unused, unrevoked and unexpired (one caller wins)."""
    used: RefreshToken | None = await session.scalar(
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
    return used


async def refresh_token(session: AsyncSession, token_hash: bytes) -> RefreshToken | None:
    """The token with this hash, whatever its state."""
    found: RefreshToken | None = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == token_hash)
    )
    return found


async def _revoke(
    session: AsyncSession, which: ColumnElement[bool], reason: str, now: datetime
) -> None:
    await session.execute(
        update(RefreshToken)
        .where(which, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


async def revoke_family(
    session: AsyncSession, family_id: uuid.UUID, *, reason: str, now: datetime
) -> None:
    """Revoke every live token of one sign-in."""
    await _revoke(session, RefreshToken.family_id == family_id, reason, now)


async def revoke_citizen_tokens(
    session: AsyncSession, citizen_id: uuid.UUID, *, reason: str, now: datetime
) -> None:
    """Revoke every live token of every sign-in of the citizen."""
    await _revoke(session, RefreshToken.citizen_id == citizen_id, reason, now)
