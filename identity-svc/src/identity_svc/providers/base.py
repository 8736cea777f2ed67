"""The provider interface. A provider opens an attempt with the identity provider (``start``:
what the front end does next) and turns the provider's answer into a :class:`VerifiedIdentity`
(``complete``: CI, DI, birthdate, nationality, mobile number) after checking that the answer is
genuine, fresh and belongs to this attempt. identity-svc keeps only keyed hashes of CI and DI,
the birth year-month and age band, the foreigner flag, the residency category and the mobile
number encrypted (for notifications); the name and gender are dropped (docs/identity.md)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal, Protocol

import httpx
from pydantic import SecretStr

from services.auth import Residency
from services.problems import ProblemError

#: The kind of front end: a web page (popup or redirect) or a mobile app.
Channel = Literal["web", "app"]


class ProviderError(ProblemError):
    """The provider's answer was refused (tampered, malformed, or the provider said no).

    ``burn``: the attempt is spent (committed as ``failed``, it cannot be retried with other
    data). Errors that do not burn roll the claim of the attempt back, so that the same attempt
    can be completed once the cause is gone (the person has not confirmed yet, the provider is
    unreachable)."""

    def __init__(
        self,
        detail: str,
        *,
        status: int = 422,
        slug: str = "verification-rejected",
        title: str = "Verification was rejected",
        burn: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, slug, title, detail, headers=headers)
        self.burn = burn


def pending(detail: str) -> ProviderError:
    """The person has not finished with the provider yet: retry the same completion later."""
    return ProviderError(
        detail,
        status=409,
        slug="verification-pending",
        title="Verification not finished yet",
        burn=False,
    )


def expired(detail: str) -> ProviderError:
    """The provider's side of the attempt expired: start a new one."""
    return ProviderError(
        detail, status=410, slug="verification-expired", title="Verification expired"
    )


def unavailable(detail: str) -> ProviderError:
    """The provider could not be asked (network, 5xx): retry the same completion later."""
    return ProviderError(
        detail,
        status=503,
        slug="provider-unavailable",
        title="Identity provider unavailable",
        burn=False,
        headers={"Retry-After": "5"},
    )


@dataclass(frozen=True)
class PersonHint:
    """What the person types for providers that look them up before asking them to confirm in
    their app (barocert): sent to the provider encrypted, never stored."""

    name: SecretStr
    phone: SecretStr
    birthdate: date


@dataclass(frozen=True)
class StartRequest:
    """What the front end asked for when it started the attempt."""

    channel: Channel = "web"
    person: PersonHint | None = None


@dataclass(frozen=True)
class StartResult:
    """What the front end does next, and the provider's reference of the attempt (kept with the
    attempt, given back to ``complete``)."""

    next: dict[str, Any]
    provider_ref: str | None = None


@dataclass(frozen=True)
class VerificationContext:
    """What a provider knows of the attempt being started or completed."""

    verification_id: uuid.UUID
    nonce: str
    started_at: datetime
    channel: Channel = "web"
    #: The provider's reference of the attempt, from :attr:`StartResult.provider_ref`.
    provider_ref: str | None = None


@dataclass(frozen=True)
class VerifiedIdentity:
    """What a provider vouches for. CI/DI stay secret values and are hashed right away."""

    provider: str
    ci: SecretStr
    di: SecretStr | None
    birthdate: date
    #: ``None``: the provider did not say (an eligibility rule on nationality then refuses).
    is_foreigner: bool | None
    #: The mobile number the provider verified, as it gave it (normalised and sealed right away).
    phone: SecretStr | None = None
    #: Read from the provider for completeness; never stored.
    name: SecretStr | None = None
    gender: Literal["male", "female"] | None = None
    #: Resident, worker or student of the city, where the provider vouches for it.
    residency: Residency | None = None
    #: The provider's own number of this verification: one verification signs in once.
    tx_ref: str | None = None
    #: Roles requested by a sandbox persona (honoured only when configured; never by real providers).
    requested_roles: tuple[str, ...] = ()
    requested_department: str | None = None


class IdentityProvider(Protocol):
    """A real-name verification provider (PortOne, barocert, sandbox)."""

    name: str

    async def start(self, context: VerificationContext, request: StartRequest) -> StartResult:
        """Open the attempt with the provider if it needs that; what the front end does next
        (a form, a browser SDK call, an app to open)."""
        ...

    async def complete(
        self, context: VerificationContext, payload: Mapping[str, Any]
    ) -> VerifiedIdentity:
        """Check the front end's completion payload and the provider's answer; raise
        :class:`ProviderError` when they are refused."""
        ...


class ProviderRegistry:
    """The providers this deployment offers, and the HTTP client they share (closed with it)."""

    def __init__(
        self, providers: Iterable[IdentityProvider], client: httpx.AsyncClient | None = None
    ) -> None:
        self._providers = {p.name: p for p in providers}
        self._client = client

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

    async def aclose(self) -> None:
        """Close the providers' HTTP client (called when the API stops)."""
        if self._client is not None:
            await self._client.aclose()


def no_person(request: StartRequest, provider: str) -> None:
    """422 when the front end sent the person's details to a provider that asks them itself
    (personal data is not taken where it is not needed)."""
    if request.person is not None:
        raise ProblemError(
            422,
            "person-not-needed",
            "Personal details not needed",
            f"{provider} asks the person itself: start without `person`",
        )


def refuse_if(condition: bool, detail: str) -> None:
    """Refuse the provider's answer (422, burns the attempt) when ``condition`` holds."""
    if condition:
        raise ProviderError(detail)


def as_mapping(value: object, what: str) -> Mapping[str, Any]:
    """``value`` as a JSON object, or a refusal naming ``what`` it should have been."""
    if not isinstance(value, Mapping):
        raise ProviderError(f"{what} is not a JSON object")
    return value
