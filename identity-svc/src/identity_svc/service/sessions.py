"""Sign-in sessions: an access token and a refresh token per sign-in (a refresh-token family),
rotation with reuse detection, and rotation of the key that signs the access tokens."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy.ext.asyncio import AsyncSession

from identity_svc import keys as signing_keys
from identity_svc import repository
from identity_svc.bootstrap import IdentityContext
from identity_svc.claims import korean_date
from identity_svc.keys import KeyRing
from identity_svc.models import Citizen, RefreshToken
from identity_svc.tokens import (
    AccessTokenClaims,
    hash_refresh_token,
    issue_access_token,
    new_refresh_token,
    role_list,
)
from services.problems import ProblemError


@dataclass(frozen=True)
class TokenPair:
    """A new access token and refresh token."""

    access_token: str
    refresh_token: str
    expires_in: int


async def issue_tokens(
    session: AsyncSession,
    ctx: IdentityContext,
    keys: KeyRing,
    citizen_id: uuid.UUID,
    *,
    family_id: uuid.UUID,
) -> TokenPair:
    """A refresh token of the sign-in ``family_id`` and an access token carrying the citizen's
    current roles and eligibility claims, signed with the active key."""
    grants = await repository.grants(session, citizen_id)
    facts = await repository.eligibility_facts(session, citizen_id)
    now = ctx.clock.now()
    token, token_hash = new_refresh_token()
    session.add(
        RefreshToken(
            token_hash=token_hash,
            family_id=family_id,
            citizen_id=citizen_id,
            issued_at=now,
            expires_at=now + ctx.refresh_token_ttl,
        )
    )
    ttl = ctx.access_token_ttl
    access = issue_access_token(
        await keys.active(),
        AccessTokenClaims(
            citizen_id,
            role_list(g.role for g in grants),
            repository.department_of(grants),
            family_id,
            eligibility=facts.claims(korean_date(now)),
        ),
        issuer=ctx.settings.jwt_issuer,
        audience=ctx.settings.jwt_audience,
        ttl=ttl,
        now=now,
    )
    return TokenPair(access_token=access, refresh_token=token, expires_in=int(ttl.total_seconds()))


async def refresh(
    session: AsyncSession, ctx: IdentityContext, keys: KeyRing, token: str
) -> TokenPair:
    """Rotate a refresh token. Presenting one that was already used revokes its whole family."""
    now = ctx.clock.now()
    token_hash = hash_refresh_token(token)
    used = await repository.use_refresh_token(session, token_hash, now)
    if used is None:
        await _refuse(session, ctx, token_hash)
    citizen = await session.get(Citizen, used.citizen_id)
    if citizen is None or citizen.status != "active":
        await repository.revoke_family(
            session, used.family_id, reason="suspended", now=ctx.clock.now()
        )
        raise ProblemError(403, "citizen-suspended", "Account suspended", commit=True)
    return await issue_tokens(session, ctx, keys, used.citizen_id, family_id=used.family_id)


async def logout(session: AsyncSession, ctx: IdentityContext, token: str) -> None:
    """Sign out: revoke every token of the refresh token's sign-in (its family), whether the
    presented one is live, already rotated or expired; 401 ``invalid-refresh-token`` for a token
    that was never issued. Signing out twice is the same as once."""
    existing = await repository.refresh_token(session, hash_refresh_token(token))
    if existing is None:
        raise ProblemError(401, "invalid-refresh-token", "Invalid refresh token")
    await repository.revoke_family(
        session, existing.family_id, reason="logout", now=ctx.clock.now()
    )


async def _refuse(session: AsyncSession, ctx: IdentityContext, token_hash: bytes) -> NoReturn:
    """Why a refresh token that could not be used is refused; a reused one takes its family."""
    existing = await repository.refresh_token(session, token_hash)
    if existing is None:
        raise ProblemError(401, "invalid-refresh-token", "Invalid refresh token")
    if existing.used_at is not None:
        await repository.revoke_family(
            session, existing.family_id, reason="reuse", now=ctx.clock.now()
        )
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


async def rotate_signing_key(session: AsyncSession, ctx: IdentityContext) -> str:
    """Retire the active signing key and start signing with a new one; returns the new kid.
    Every process's key ring picks it up within its refresh interval; the retired key stays
    published for its grace period so that the tokens it signed keep verifying."""
    return await signing_keys.rotate(session, ctx.kek, ctx.clock.now())
