"""Access tokens for tests of services other than identity-svc: a key pair of the test's own,
tokens shaped exactly like identity-svc's, and the key source to give the app under test."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from services.auth import InvalidToken
from services.config import ServiceSettings
from services_dev.testing.identity import StandInIdentity


class TestTokens:
    """Issues ES256 access tokens with ``kid`` and serves their public key (a ``KeySource``)."""

    __test__ = False  # not a pytest test class

    def __init__(
        self, settings: ServiceSettings | None = None, *, identity: StandInIdentity | None = None
    ) -> None:
        defaults = settings or ServiceSettings()
        #: Every citizen a token is issued for is registered there (active, the token's roles).
        self.identity = identity
        self.issuer = defaults.jwt_issuer
        self.audience = defaults.jwt_audience
        self.kid = f"test-{uuid.uuid4().hex[:8]}"
        self._private = ec.generate_private_key(ec.SECP256R1())

    async def get_key(self, kid: str) -> Any:
        """KeySource: the public key of our kid."""
        if kid != self.kid:
            raise InvalidToken("unknown key id")
        return self._private.public_key()

    def issue(
        self,
        citizen_id: uuid.UUID | None = None,
        *,
        roles: list[str] | None = None,
        department: str | None = None,
        ttl: timedelta = timedelta(minutes=15),
        claims: Mapping[str, Any] | None = None,
    ) -> str:
        """A token for ``citizen_id`` (a new one when omitted) with ``roles`` (citizen by default)
        and extra ``claims`` (e.g. the eligibility claims ``age``, ``foreigner``, ``residency``)."""
        now = datetime.now(UTC)
        citizen_id = citizen_id or uuid.uuid4()
        if self.identity is not None:
            self.identity.register(citizen_id, roles or ["citizen"], department)
        payload: dict[str, Any] = {
            **(claims or {}),
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(citizen_id),
            "iat": now,
            "exp": now + ttl,
            "jti": str(uuid.uuid4()),
            "typ": "access",
            "roles": roles or ["citizen"],
            "sid": str(uuid.uuid4()),
        }
        if department:
            payload["dept"] = department
        return jwt.encode(payload, self._private, algorithm="ES256", headers={"kid": self.kid})

    def headers(self, citizen_id: uuid.UUID | None = None, **kwargs: Any) -> dict[str, str]:
        """``Authorization`` header with a fresh token."""
        return {"Authorization": f"Bearer {self.issue(citizen_id, **kwargs)}"}
