"""identity-svc's tables. No raw CI, DI, name, birthdate or resident number is ever stored; the
mobile number is stored only encrypted (``citizen_contacts``)."""

from __future__ import annotations

import uuid
from datetime import date, datetime

from sqlalchemy import (
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.consumer import InboxMessage
from services.db import Base
from services.outbox import OutboxMessage

__all__ = [
    "Citizen",
    "CitizenContact",
    "CitizenProvider",
    "InboxMessage",
    "OutboxMessage",
    "ProviderTransaction",
    "RefreshToken",
    "RoleGrant",
    "SigningKey",
    "Verification",
]


class Citizen(Base):
    """One real person. ``ci_hmac`` (keyed hash of the CI) is what makes them one account.

    What eligibility rules need is kept, and no more (docs/identity.md): the first day of the
    birth month (not the birth date), the foreigner flag (NULL when no provider said) and the
    residency category (NULL when no provider vouched for one; never an address)."""

    __tablename__ = "citizens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    ci_hmac: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    age_band: Mapped[str] = mapped_column(String(16))
    is_foreigner: Mapped[bool | None]
    #: NULL for citizens verified before it was kept (their age claim comes from the band).
    birth_month: Mapped[date | None] = mapped_column(Date)
    residency: Mapped[str | None] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'active'"))
    suspended_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("status IN ('active', 'suspended')", name="status"),
        CheckConstraint("residency IN ('resident', 'worker', 'student')", name="residency"),
        CheckConstraint("EXTRACT(DAY FROM birth_month) = 1", name="birth_month"),
    )


class CitizenProvider(Base):
    """A provider through which a citizen verified, with that provider's DI as a keyed hash."""

    __tablename__ = "citizen_providers"

    citizen_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), primary_key=True
    )
    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    di_hmac: Mapped[bytes | None] = mapped_column(LargeBinary(32))
    first_verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_verified_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CitizenContact(Base):
    """How to reach a citizen: the mobile number verified by their latest provider, AES-256-GCM
    sealed with ``IDENTITY_CONTACT_KEY`` and bound to the citizen id (a blob copied to another
    row does not open). Read only by notify-svc, through the internal API."""

    __tablename__ = "citizen_contacts"

    citizen_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), primary_key=True
    )
    phone_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Verification(Base):
    """One verification attempt: started, then completed once, or expired."""

    __tablename__ = "verifications"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    provider: Mapped[str] = mapped_column(String(32))
    #: Per-attempt secret the provider round-trip is bound to (replay and tamper checks).
    nonce: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    completed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    citizen_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("citizens.id", ondelete="SET NULL")
    )
    #: The provider's reference of the attempt (PortOne's identityVerificationId, barocert's
    #: receiptID), set when it was started.
    provider_ref: Mapped[str | None] = mapped_column(String(64))

    __table_args__ = (
        CheckConstraint("status IN ('pending', 'completed', 'failed')", name="status"),
    )


class ProviderTransaction(Base):
    """A provider's verification that already signed someone in: the same one presented again
    (a replayed callback, a provider answering twice) is refused."""

    __tablename__ = "provider_transactions"

    provider: Mapped[str] = mapped_column(String(32), primary_key=True)
    #: SHA-256 of the provider's transaction number.
    tx_hash: Mapped[bytes] = mapped_column(LargeBinary(32), primary_key=True)
    verification_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("verifications.id", ondelete="CASCADE")
    )
    used_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class RoleGrant(Base):
    """A staff role granted by an admin (every verified citizen has ``citizen`` implicitly)."""

    __tablename__ = "role_grants"

    citizen_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(String(32), primary_key=True)
    department: Mapped[str | None] = mapped_column(String(100))
    granted_by: Mapped[uuid.UUID | None]
    granted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    __table_args__ = (
        CheckConstraint(
            "role IN ('department', 'mayor_office', 'committee', 'admin', 'moderator', "
            "'forum_staff', 'auditor')",
            name="role",
        ),
        # Staff lookup by role, paged by citizen id (internal API).
        Index("ix_role_grants_role_citizen_id", "role", "citizen_id"),
    )


class SigningKey(Base):
    """A token-signing key pair; the private key is AES-GCM encrypted with the KEK."""

    __tablename__ = "signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[dict[str, str]] = mapped_column(JSONB)
    private_key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    retired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        # At most one active key: rotation retires the old one in the same transaction.
        Index(
            "uq_signing_keys_active",
            text("(retired_at IS NULL)"),
            unique=True,
            postgresql_where=text("retired_at IS NULL"),
        ),
    )


class RefreshToken(Base):
    """A refresh token (only its SHA-256 is kept). Tokens of one sign-in form a family."""

    __tablename__ = "refresh_tokens"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[bytes] = mapped_column(LargeBinary(32), unique=True)
    family_id: Mapped[uuid.UUID] = mapped_column(index=True)
    citizen_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("citizens.id", ondelete="CASCADE"), index=True
    )
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_reason: Mapped[str | None] = mapped_column(String(32))
