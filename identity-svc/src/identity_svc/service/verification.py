"""Real-name verification: an attempt is opened with a provider, completed once with the
provider's payload, and signs in the one citizen that person is (found by a keyed hash of the CI,
across providers)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from identity_svc import repository
from identity_svc.bootstrap import IdentityContext
from identity_svc.claims import age_band, birth_month, korean_date
from identity_svc.keys import KeyRing
from identity_svc.models import Verification
from identity_svc.providers import (
    ProviderError,
    StartRequest,
    VerificationContext,
    VerifiedIdentity,
)
from identity_svc.service import contacts
from identity_svc.service.citizens import replace_roles
from identity_svc.service.sessions import TokenPair, issue_tokens
from services import outbox
from services.events import CitizenVerified
from services.problems import ProblemError
from services.ratelimit import RateLimiter, network_key

#: The rate-limit bucket of verification attempts started (per client network).
START_BUCKET = "identity.verification.start"


@dataclass(frozen=True)
class Completion:
    """The outcome of a completed verification."""

    citizen_id: uuid.UUID
    created: bool
    tokens: TokenPair


def keyed_hash(pepper: str, value: str) -> bytes:
    """HMAC-SHA256 of ``value`` under ``pepper``."""
    return hmac.new(pepper.encode(), value.encode(), hashlib.sha256).digest()


def _context(verification: Verification) -> VerificationContext:
    return VerificationContext(
        verification.id,
        verification.nonce,
        verification.created_at,
        provider_ref=verification.provider_ref,
    )


async def start_verification(
    session: AsyncSession,
    ctx: IdentityContext,
    provider_name: str,
    request: StartRequest | None = None,
    *,
    network: str = "unknown",
) -> tuple[Verification, dict[str, Any]]:
    """Open a verification attempt with ``provider_name`` (asking the provider to open its side
    where it has one); returns it and what the front end does next. Counted against the
    client ``network``'s rate limits first (429 ``rate-limited``; an unknown network is not
    limited)."""
    request = request or StartRequest()
    provider = ctx.providers.get(provider_name)
    now = ctx.clock.now()
    if network != "unknown":
        await RateLimiter(ctx.clock).hit(
            session, START_BUCKET, network_key(network), ctx.settings.verification_rate_limits
        )
    verification = Verification(
        id=uuid.uuid4(),
        provider=provider.name,
        nonce=secrets.token_hex(16),
        status="pending",
        created_at=now,
        expires_at=now + ctx.verification_ttl,
    )
    session.add(verification)
    await session.flush()
    context = VerificationContext(verification.id, verification.nonce, now, request.channel)
    # A refusal here rolls the attempt back with the request: nothing is kept of it.
    started = await provider.start(context, request)
    verification.provider_ref = started.provider_ref
    return verification, started.next


async def _claim_verification(
    session: AsyncSession, ctx: IdentityContext, verification_id: uuid.UUID
) -> Verification:
    """Move the attempt from pending to completed exactly once (concurrent replays lose)."""
    claimed = await repository.claim_pending_verification(session, verification_id, ctx.clock.now())
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
    keys: KeyRing,
    verification_id: uuid.UUID,
    payload: Mapping[str, Any],
) -> Completion:
    """Check the provider's payload, find or create the one citizen this person is, sign them in
    (tokens signed with the active key of ``keys``)."""
    verification = await _claim_verification(session, ctx, verification_id)
    provider = ctx.providers.get(verification.provider)
    try:
        identity = await provider.complete(_context(verification), payload)
    except ProviderError as exc:
        if exc.burn:
            # A refused payload burns the attempt: it cannot be retried with other data.
            verification.status = "failed"
            exc.commit = True
        # Otherwise (not confirmed yet, provider unreachable) the request's rollback undoes the
        # claim, and the same completion can be posted again.
        raise
    await _use_transaction(session, verification, identity)
    citizen_id, created, status = await _record_identity(session, ctx, identity)
    verification.citizen_id = citizen_id
    if status == "suspended":
        raise ProblemError(
            403,
            "citizen-suspended",
            "Account suspended",
            "This account is suspended; contact the city.",
            commit=True,
        )
    if identity.requested_roles and ctx.sandbox_roles:
        await replace_roles(
            session,
            citizen_id,
            identity.requested_roles,
            identity.requested_department,
            granted_by=None,
        )
    now = ctx.clock.now()
    outbox.add(
        session,
        CitizenVerified(
            citizen_id=citizen_id,
            provider=identity.provider,
            first_verification=created,
            age_band=age_band(identity.birthdate, korean_date(now)),
            # The event's flag says "verified as a foreign national" (unknown is not).
            is_foreigner=identity.is_foreigner is True,
            verified_at=now,
        ),
    )
    tokens = await issue_tokens(session, ctx, keys, citizen_id, family_id=uuid.uuid4())
    return Completion(citizen_id=citizen_id, created=created, tokens=tokens)


async def _use_transaction(
    session: AsyncSession, verification: Verification, identity: VerifiedIdentity
) -> None:
    """Refuse a provider transaction that already signed someone in (a replayed callback, a
    provider answering for an old verification): 409, the attempt burnt, nobody signed in."""
    if identity.tx_ref is None:
        return
    tx_hash = hashlib.sha256(f"{identity.provider}\x00{identity.tx_ref}".encode()).digest()
    if not await repository.use_provider_transaction(
        session, identity.provider, tx_hash, verification.id
    ):
        verification.status = "failed"
        raise ProblemError(
            409,
            "verification-replayed",
            "Provider verification already used",
            "This verification by the provider already signed someone in; start a new one.",
            commit=True,
        )


async def _record_identity(
    session: AsyncSession, ctx: IdentityContext, identity: VerifiedIdentity
) -> tuple[uuid.UUID, bool, str]:
    """Store what is kept of a verified identity -- the citizen (by CI hash), the provider (with
    its DI hash) and the sealed phone number; returns the citizen id, whether it is new, and its
    status."""
    now = ctx.clock.now()
    citizen_id, created, status = await repository.upsert_citizen(
        session,
        ci_hmac=keyed_hash(ctx.ci_pepper, identity.ci.get_secret_value()),
        age_band=age_band(identity.birthdate, korean_date(now)),
        birth_month=birth_month(identity.birthdate),
        is_foreigner=identity.is_foreigner,
        residency=identity.residency,
        now=now,
    )
    di_hmac = (
        keyed_hash(ctx.di_pepper, f"{identity.provider}:{identity.di.get_secret_value()}")
        if identity.di is not None
        else None
    )
    await repository.record_provider(session, citizen_id, identity.provider, di_hmac, now)
    await contacts.record_phone(session, ctx.contact_key, citizen_id, identity.phone)
    return citizen_id, created, status
