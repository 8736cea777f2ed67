"""The sandbox provider: a persona picker for development and tests (never in production).

It turns a chosen ``ci_seed`` into a deterministic fake CI (88 characters, like a real CI) so that
the same seed is always the same person, and duplicate accounts and votes can be tested. Its DI
depends on the provider name, as a real DI differs between providers. Two sandbox providers are
offered (``sandbox`` and ``sandbox_pass``) to exercise deduplication across providers.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from identity_svc.providers.base import (
    ProviderError,
    StartRequest,
    StartResult,
    VerificationContext,
    VerifiedIdentity,
    no_person,
)
from services.auth import Residency

_PHONE = re.compile(r"^01[016789]-?\d{3,4}-?\d{4}$")
ALLOWED_ROLES = (
    "department",
    "mayor_office",
    "committee",
    "admin",
    "moderator",
    "forum_staff",
    "auditor",
)


class SandboxPersona(BaseModel):
    """A fake person. Unknown fields are refused: a resident number is never accepted."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=50)
    birthdate: date
    phone: str
    ci_seed: str = Field(min_length=1, max_length=200)
    foreigner: bool = False
    #: What a provider vouching for residence, work or study in the city would say (none of
    #: the real ones does yet).
    residency: Residency | None = None
    roles: list[str] = Field(default_factory=list, max_length=4)
    department: str | None = Field(default=None, max_length=100)

    @field_validator("phone")
    @classmethod
    def _korean_mobile(cls, value: str) -> str:
        if not _PHONE.match(value):
            raise ValueError("expected a Korean mobile number such as 010-1234-5678")
        return value

    @field_validator("birthdate")
    @classmethod
    def _plausible(cls, value: date) -> date:
        if value.year < 1900 or value > date.today():
            raise ValueError("birthdate out of range")
        return value

    @field_validator("roles")
    @classmethod
    def _known_roles(cls, value: list[str]) -> list[str]:
        unknown = set(value) - set(ALLOWED_ROLES)
        if unknown:
            raise ValueError(f"unknown roles: {sorted(unknown)}")
        return value


class SandboxPayload(BaseModel):
    """The sandbox callback body: ``{"persona": {...}}``."""

    model_config = ConfigDict(extra="forbid")

    persona: SandboxPersona


def sandbox_ci(ci_seed: str) -> str:
    """A deterministic 88-character fake CI for ``ci_seed``."""
    return base64.b64encode(hashlib.sha512(b"sandbox-ci\x00" + ci_seed.encode()).digest()).decode()


def sandbox_di(provider: str, ci_seed: str) -> str:
    """A deterministic 64-character fake DI, different per provider."""
    return hashlib.sha256(f"sandbox-di\x00{provider}\x00{ci_seed}".encode()).hexdigest()


class SandboxProvider:
    """A fake provider that vouches for whatever persona the caller picks."""

    def __init__(self, name: str = "sandbox") -> None:
        self.name = name

    async def start(self, context: VerificationContext, request: StartRequest) -> StartResult:
        """The persona form the front end shows."""
        no_person(request, self.name)
        return StartResult(
            next={
                "type": "sandbox_form",
                "complete_url": f"/v1/identity/verifications/{context.verification_id}/complete",
                "fields": {
                    "persona.name": "string",
                    "persona.birthdate": "YYYY-MM-DD",
                    "persona.phone": "010-0000-0000",
                    "persona.ci_seed": "any string: the same seed is the same person",
                    "persona.foreigner": "boolean (optional)",
                    "persona.residency": "resident | worker | student (optional)",
                },
            }
        )

    async def complete(
        self, context: VerificationContext, payload: Mapping[str, Any]
    ) -> VerifiedIdentity:
        """Validate the persona and derive its CI/DI."""
        try:
            persona = SandboxPayload.model_validate(payload).persona
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ProviderError(f"{where}: {first['msg']}") from None
        return VerifiedIdentity(
            provider=self.name,
            ci=SecretStr(sandbox_ci(persona.ci_seed)),
            di=SecretStr(sandbox_di(self.name, persona.ci_seed)),
            birthdate=persona.birthdate,
            is_foreigner=persona.foreigner,
            phone=SecretStr(persona.phone),
            name=SecretStr(persona.name),
            residency=persona.residency,
            requested_roles=tuple(persona.roles),
            requested_department=persona.department,
        )
