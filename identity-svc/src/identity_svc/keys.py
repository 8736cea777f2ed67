"""Token-signing keys: ES256 key pairs persisted in the database (private half encrypted with the
KEK), one active at a time, rotatable; retired keys stay in the JWKS for a grace period so that
tokens they signed keep verifying."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from sqlalchemy import or_, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity_svc.models import SigningKey
from services.auth import InvalidToken
from services.clock import Clock
from services.db import transaction
from services.sealing import seal, unseal

ALGORITHM = "ES256"


def new_signing_key(kek: bytes, now: datetime) -> SigningKey:
    """A fresh P-256 key pair made ``now`` as a row (not yet added to a session)."""
    private = ec.generate_private_key(ec.SECP256R1())
    kid = f"es256-{now:%Y%m%d}-{uuid.uuid4().hex[:12]}"
    jwk: dict[str, Any] = json.loads(ECAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "alg": ALGORITHM, "use": "sig"})
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return SigningKey(
        kid=kid, algorithm=ALGORITHM, public_jwk=jwk, private_key_enc=seal(kek, kid, pem)
    )


async def ensure_active_key(session: AsyncSession, kek: bytes, now: datetime) -> str:
    """Create the first signing key if there is none; returns the active kid."""
    # Several API processes start at once: serialise the check-then-create.
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('identity.signing_keys'))"))
    active = await session.scalar(select(SigningKey.kid).where(SigningKey.retired_at.is_(None)))
    if active is not None:
        return active
    key = new_signing_key(kek, now)
    session.add(key)
    await session.flush()
    return key.kid


async def rotate(session: AsyncSession, kek: bytes, now: datetime) -> str:
    """Retire the active key and activate a new one; returns the new kid."""
    await session.execute(text("SELECT pg_advisory_xact_lock(hashtext('identity.signing_keys'))"))
    await session.execute(
        update(SigningKey).where(SigningKey.retired_at.is_(None)).values(retired_at=now)
    )
    await session.flush()
    key = new_signing_key(kek, now)
    session.add(key)
    await session.flush()
    return key.kid


@dataclass(frozen=True)
class ActiveKey:
    """The key tokens are signed with now."""

    kid: str
    private_key: ec.EllipticCurvePrivateKey


class KeyRing:
    """Per-process cache of the signing key and the published public keys (re-read every
    ``refresh_seconds`` so that a rotation by another process is picked up)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        kek: bytes,
        *,
        grace: timedelta,
        clock: Clock,
        refresh_seconds: float = 30.0,
    ) -> None:
        self._sessions = sessions
        self._kek = kek
        self._grace = grace
        self._clock = clock
        self._refresh_seconds = refresh_seconds
        self._active: ActiveKey | None = None
        self._public: dict[str, dict[str, Any]] = {}
        self._loaded_at = float("-inf")
        self._lock = asyncio.Lock()

    async def load(self, *, older_than: float = 0.0) -> None:
        """Read the keys now (creating the first one if needed), unless another task already
        did within ``older_than`` seconds: concurrent requests reload once, not once each."""
        async with self._lock:
            if time.monotonic() - self._loaded_at < older_than:
                return
            async with transaction(self._sessions) as session:
                now = self._clock.now()
                await ensure_active_key(session, self._kek, now)
                cutoff = now - self._grace
                rows = (
                    await session.scalars(
                        select(SigningKey)
                        .where(or_(SigningKey.retired_at.is_(None), SigningKey.retired_at > cutoff))
                        .order_by(SigningKey.created_at.desc())
                    )
                ).all()
            active = next(row for row in rows if row.retired_at is None)
            private = serialization.load_pem_private_key(
                unseal(self._kek, active.kid, active.private_key_enc), password=None
            )
            assert isinstance(private, ec.EllipticCurvePrivateKey)
            self._active = ActiveKey(active.kid, private)
            self._public = {row.kid: row.public_jwk for row in rows}
            self._loaded_at = time.monotonic()

    async def _fresh(self) -> None:
        if time.monotonic() - self._loaded_at >= self._refresh_seconds:
            await self.load(older_than=self._refresh_seconds)

    async def active(self) -> ActiveKey:
        """The key to sign with."""
        await self._fresh()
        assert self._active is not None
        return self._active

    async def jwks(self) -> dict[str, list[dict[str, Any]]]:
        """The JWKS document: the active key and retired keys still in their grace period."""
        await self._fresh()
        return {"keys": list(self._public.values())}

    async def get_key(self, kid: str) -> Any:
        """KeySource for verifying tokens inside identity-svc itself."""
        await self._fresh()
        if kid not in self._public:
            # A rotation in another process may be newer than our cache (at most one reload a
            # second, so forged kids cannot turn into a query each).
            await self.load(older_than=1.0)
            if kid not in self._public:
                raise InvalidToken("unknown key id")
        return ECAlgorithm.from_jwk(json.dumps(self._public[kid]))
