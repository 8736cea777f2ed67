"""Ed25519 keys that sign tree heads: persisted (private half AES-GCM encrypted with the KEK),
one active, rotatable; retired keys stay published so old heads keep verifying."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from ledger_svc.bootstrap import LedgerContext
from ledger_svc.models import LedgerSigningKey
from ledger_svc.treehead import public_jwk
from services.sealing import seal, unseal

_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('ledger.signing_keys'))")


@dataclass(frozen=True)
class SigningKey:
    """The key tree heads are signed with now."""

    kid: str
    private_key: Ed25519PrivateKey


def _new_key(kek: bytes, now: datetime) -> LedgerSigningKey:
    private = Ed25519PrivateKey.generate()
    kid = f"ed25519-{now:%Y%m%d}-{uuid.uuid4().hex[:12]}"
    raw = private.private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return LedgerSigningKey(
        kid=kid,
        public_jwk=public_jwk(private.public_key(), kid),
        private_key_enc=seal(kek, kid, raw),
    )


async def active_key(session: AsyncSession, ctx: LedgerContext) -> SigningKey:
    """The active signing key (created on first use)."""
    row = await session.scalar(
        select(LedgerSigningKey).where(LedgerSigningKey.retired_at.is_(None))
    )
    if row is None:
        await session.execute(_LOCK)
        row = await session.scalar(
            select(LedgerSigningKey).where(LedgerSigningKey.retired_at.is_(None))
        )
        if row is None:
            row = _new_key(ctx.kek, ctx.clock.now())
            session.add(row)
            await session.flush()
    raw = unseal(ctx.kek, row.kid, row.private_key_enc)
    return SigningKey(row.kid, Ed25519PrivateKey.from_private_bytes(raw))


async def rotate(session: AsyncSession, ctx: LedgerContext) -> str:
    """Retire the active key and make a new one; returns the new kid."""
    now = ctx.clock.now()
    await session.execute(_LOCK)
    await session.execute(
        update(LedgerSigningKey).where(LedgerSigningKey.retired_at.is_(None)).values(retired_at=now)
    )
    row = _new_key(ctx.kek, now)
    session.add(row)
    await session.flush()
    return row.kid


async def published_keys(session: AsyncSession) -> list[dict[str, Any]]:
    """Every key that ever signed a head (verifying an old head needs its key)."""
    rows = (
        await session.scalars(select(LedgerSigningKey).order_by(LedgerSigningKey.created_at))
    ).all()
    return [
        {**row.public_jwk, "status": "active" if row.retired_at is None else "retired"}
        for row in rows
    ]
