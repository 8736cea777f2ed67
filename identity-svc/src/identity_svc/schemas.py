"""Request and response bodies of identity-svc (the public contract of API.md)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RoleName = Literal[
    "citizen",
    "department",
    "mayor_office",
    "committee",
    "admin",
    "moderator",
    "forum_staff",
    "auditor",
]


class PersonInput(BaseModel):
    """What the person types for a provider that looks them up before they confirm in its app
    (``barocert_kakao``). Sent to the provider encrypted and never stored; refused by providers
    that ask the person themselves."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"name": "홍길동", "phone": "010-1234-5678", "birthdate": "1990-05-17"}]
        },
    )

    name: str = Field(min_length=1, max_length=80)
    phone: str = Field(pattern=r"^01[016789]-?\d{3,4}-?\d{4}$", description="Korean mobile number")
    birthdate: date


class VerificationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"provider": "portone", "channel": "web"},
                {
                    "provider": "barocert_kakao",
                    "channel": "app",
                    "person": {
                        "name": "홍길동",
                        "phone": "010-1234-5678",
                        "birthdate": "1990-05-17",
                    },
                },
                {"provider": "sandbox"},
            ]
        },
    )

    provider: str = Field(
        min_length=1,
        max_length=32,
        description="Provider name: `portone`, `barocert_kakao`, `sandbox` (where offered)",
    )
    channel: Literal["web", "app"] = Field(
        default="web", description="The front end: a web page (popup or redirect) or a mobile app"
    )
    person: PersonInput | None = Field(
        default=None, description="Only for providers that need it (`barocert_kakao`)"
    )


class VerificationPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "verification_id": "0b5e8c1e-3b7c-4a55-9d0c-3f1a1f7f2a10",
                    "provider": "sandbox",
                    "expires_at": "2026-11-24T12:10:00Z",
                    "next": {
                        "type": "sandbox_form",
                        "complete_url": "/v1/identity/verifications/0b5e8c1e-3b7c-4a55-9d0c-3f1a1f7f2a10/complete",
                        "fields": {
                            "persona.ci_seed": "any string: the same seed is the same person"
                        },
                    },
                }
            ]
        }
    )

    verification_id: uuid.UUID
    provider: str
    expires_at: datetime
    next: dict[str, Any] = Field(
        description=(
            "Provider-specific next step (docs/identity.md): `portone` (call the PortOne SDK "
            "with `parameters`), `app_push` / `app_to_app` (confirm in KakaoTalk), "
            "`sandbox_form`; always with the `complete_url` to post the result to"
        )
    )


class TokenResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "access_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVzMjU2LTIwMjYxMTI0LWFiYyIsInR5cCI6IkpXVCJ9...",
                    "refresh_token": "q0m3yWcQ0x7m3u6G1o2kq7K4S9F0dJvZr0Tq2h1mX8A",
                    "token_type": "Bearer",
                    "expires_in": 900,
                }
            ]
        }
    )

    access_token: str
    refresh_token: str
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(description="Seconds until the access token expires")


class VerificationCompleted(TokenResponse):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "citizen_id": "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f",
                    "created": True,
                    "access_token": "eyJhbGciOiJFUzI1NiIsImtpZCI6ImVzMjU2LTIwMjYxMTI0LWFiYyIsInR5cCI6IkpXVCJ9...",
                    "refresh_token": "q0m3yWcQ0x7m3u6G1o2kq7K4S9F0dJvZr0Tq2h1mX8A",
                    "token_type": "Bearer",
                    "expires_in": 900,
                }
            ]
        }
    )

    citizen_id: uuid.UUID
    created: bool = Field(description="True when this verification created the account")


class RefreshRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"refresh_token": "q0m3yWcQ0x7m3u6G1o2kq7K4S9F0dJvZr0Tq2h1mX8A"}]
        },
    )

    refresh_token: str = Field(min_length=16, max_length=256)


class CitizenPublic(BaseModel):
    """A citizen as they see themselves (GET /v1/identity/me)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "citizen_id": "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f",
                    "roles": ["citizen"],
                    "department": None,
                    "age_band": "30_39",
                    "is_foreigner": False,
                    "status": "active",
                    "verified_at": "2026-11-24T12:00:00Z",
                    "providers": ["sandbox"],
                }
            ]
        }
    )

    citizen_id: uuid.UUID
    roles: list[str]
    department: str | None
    age_band: str
    is_foreigner: bool | None = Field(description="null when no provider said")
    status: Literal["active", "suspended"]
    verified_at: datetime
    providers: list[str]


class CitizenAdminView(CitizenPublic):
    """A citizen as an admin sees them."""

    created_at: datetime
    suspended_reason: str | None


class RolesUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"roles": ["citizen", "department"], "department": "기후환경본부"}]
        },
    )

    roles: list[RoleName] = Field(max_length=7)
    department: str | None = Field(default=None, min_length=1, max_length=100)


class SuspensionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "명의 도용 신고 조사 중"}]}
    )

    reason: str = Field(min_length=1, max_length=500)


class JWKS(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "keys": [
                        {
                            "kty": "EC",
                            "crv": "P-256",
                            "kid": "es256-20261124-0a1b2c3d4e5f",
                            "alg": "ES256",
                            "use": "sig",
                            "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
                            "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0",
                        }
                    ]
                }
            ]
        }
    )

    keys: list[dict[str, Any]]


# --- internal API (service-to-service, docs/internal-api.md) --------------------------------

StaffRole = Literal[
    "department", "mayor_office", "committee", "admin", "moderator", "forum_staff", "auditor"
]


class CitizenContactInternal(BaseModel):
    """How notify-svc reaches a citizen (``GET /internal/v1/citizens/{id}/contact``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "citizen_id": "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f",
                    "phone": "01012345678",
                    "status": "active",
                }
            ]
        }
    )

    citizen_id: uuid.UUID
    phone: str | None = Field(
        description="The verified mobile number, digits only; null when none was captured"
    )
    status: Literal["active", "suspended"]


class CitizenStatusInternal(BaseModel):
    """A citizen's roles and status right now (``GET /internal/v1/citizens/{id}/status``), what
    other services act on instead of a token's claims (services.live_principal)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "citizen_id": "0b5e8c1e-3b7c-4a55-9d0c-3f1a1f7f2a10",
                    "status": "active",
                    "roles": ["citizen", "department"],
                    "department": "교통실",
                }
            ]
        }
    )

    citizen_id: uuid.UUID
    status: Literal["active", "suspended"]
    roles: list[RoleName]
    department: str | None


class StaffMemberInternal(BaseModel):
    """A staff member (internal staff lookup)."""

    citizen_id: uuid.UUID
    roles: list[RoleName]
    department: str | None


class StaffPageInternal(BaseModel):
    """One page of the internal staff lookup, ordered by citizen id."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "citizen_id": "0b5e8c1e-3b7c-4a55-9d0c-3f1a1f7f2a10",
                            "roles": ["citizen", "department"],
                            "department": "교통실",
                        }
                    ],
                    "next_cursor": "C16MHjt8SlWdDD8aH38qEA",
                }
            ]
        }
    )

    items: list[StaffMemberInternal]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )
