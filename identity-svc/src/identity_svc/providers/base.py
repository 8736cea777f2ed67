"""The provider interface. A provider turns its callback payload into a :class:`VerifiedIdentity`
(CI, DI, birthdate, nationality, mobile number) after checking the payload's integrity;
identity-svc keeps only keyed hashes of CI and DI, the age band, the foreigner flag and the
mobile number encrypted (for notifications)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Protocol

from pydantic import SecretStr

from services.problems import ProblemError


class ProviderError(ProblemError):
    """The provider's payload was refused (tampered, malformed, or the provider said no)."""

    def __init__(
        self, detail: str, *, status: int = 422, slug: str = "verification-rejected"
    ) -> None:
        super().__init__(status, slug, "Verification was rejected", detail)


@dataclass(frozen=True)
class VerificationContext:
    """What a provider knows of the attempt being completed."""

    verification_id: uuid.UUID
    nonce: str
    started_at: datetime


@dataclass(frozen=True)
class VerifiedIdentity:
    """What a provider vouches for. CI/DI stay secret values and are hashed right away."""

    provider: str
    ci: SecretStr
    di: SecretStr | None
    birthdate: date
    is_foreigner: bool
    #: The mobile number the provider verified, as it gave it (normalised and sealed right away).
    phone: SecretStr | None = None
    #: Roles requested by a sandbox persona (honoured only when configured; never by real providers).
    requested_roles: tuple[str, ...] = ()
    requested_department: str | None = None


class IdentityProvider(Protocol):
    """A real-name verification provider (NICE, PASS, Kakao/Toss certification, sandbox)."""

    name: str

    def start(self, context: VerificationContext) -> dict[str, Any]:
        """What the front end needs for the next step (form fields, redirect, push tx id)."""
        ...

    async def complete(
        self, context: VerificationContext, payload: Mapping[str, Any]
    ) -> VerifiedIdentity:
        """Check and decode the provider's callback payload."""
        ...


class ProviderRegistry:
    """The providers this deployment offers."""

    def __init__(self, providers: Iterable[IdentityProvider]) -> None:
        self._providers = {p.name: p for p in providers}

    def get(self, name: str) -> IdentityProvider:
        """The provider called ``name``, or 422 naming the ones offered."""
        try:
            return self._providers[name]
        except KeyError:
            raise ProblemError(
                422,
                "unknown-provider",
                "Unknown identity provider",
                f"{name!r} is not offered here; available: {', '.join(sorted(self._providers))}",
                available=sorted(self._providers),
            ) from None

    @property
    def names(self) -> list[str]:
        """Names of the providers offered."""
        return sorted(self._providers)
