"""Access tokens (ES256 JWTs) and refresh tokens (opaque, rotated, reuse-detected)."""

from __future__ import annotations

import base64
import hashlib
import secrets
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import jwt

from identity_svc.keys import ALGORITHM, ActiveKey


@dataclass(frozen=True)
class AccessTokenClaims:
    """What an access token says about its holder."""

    citizen_id: uuid.UUID
    roles: list[str]
    department: str | None
    session_id: uuid.UUID
    #: ``age``, ``foreigner``, ``residency`` (service.claims; services.eligibility reads them).
    eligibility: Mapping[str, Any] = field(default_factory=dict)


def issue_access_token(
    key: ActiveKey,
    claims: AccessTokenClaims,
    *,
    issuer: str,
    audience: str,
    ttl: timedelta,
    now: datetime,
) -> str:
    """Sign an access token issued ``now`` with the active key (``kid`` in the header)."""
    payload: dict[str, Any] = {
        **claims.eligibility,
        "iss": issuer,
        "aud": audience,
        "sub": str(claims.citizen_id),
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + ttl).timestamp()),
        "jti": str(uuid.uuid4()),
        "typ": "access",
        "roles": claims.roles,
        "sid": str(claims.session_id),
    }
    if claims.department:
        payload["dept"] = claims.department
    return jwt.encode(payload, key.private_key, algorithm=ALGORITHM, headers={"kid": key.kid})


def new_refresh_token() -> tuple[str, bytes]:
    """A fresh opaque refresh token and the hash that is stored."""
    token = base64.urlsafe_b64encode(secrets.token_bytes(32)).rstrip(b"=").decode()
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    """SHA-256 of the token (tokens have 256 bits of entropy; no salt is needed)."""
    return hashlib.sha256(token.encode()).digest()


def role_list(granted: Iterable[str]) -> list[str]:
    """Every verified person is a citizen; staff roles come on top, sorted."""
    return ["citizen", *sorted(set(granted) - {"citizen"})]
