"""Verifying identity-svc's access tokens locally, against its JWKS, and role checks.

Tokens are short-lived ES256 JWTs with a ``kid`` header. Keys are cached; an unknown ``kid`` makes
the cache refresh once (a rotation happened) but no more often than ``min_refresh_interval``, so
forged ``kid`` values cannot turn into a flood of requests to identity-svc.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal, Protocol

import httpx
import jwt
from fastapi import Depends, Request
from jwt.algorithms import ECAlgorithm

from services.problems import ProblemError

Role = Literal["citizen", "department", "mayor_office", "committee", "admin"]
ROLES: tuple[Role, ...] = ("citizen", "department", "mayor_office", "committee", "admin")
ALGORITHMS = ("ES256",)


@dataclass(frozen=True)
class Principal:
    """Who is calling: the citizen id (``sub``) and what the token grants."""

    citizen_id: uuid.UUID
    roles: frozenset[str]
    department: str | None
    token_id: str

    def has_any(self, *roles: str) -> bool:
        """Whether the caller holds one of ``roles``."""
        return bool(self.roles.intersection(roles))


class InvalidToken(ProblemError):
    """401 with a ``WWW-Authenticate`` challenge (RFC 6750)."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            401,
            "invalid-token",
            "Missing or invalid access token",
            detail,
            headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
        )


class KeySource(Protocol):
    """Where verification keys come from (identity-svc reads its own table; others the JWKS)."""

    async def get_key(self, kid: str) -> Any: ...


class JWKSCache:
    """An HTTP JWKS with a TTL cache and bounded refreshes on unknown ``kid``."""

    def __init__(
        self,
        url: str,
        *,
        ttl: float = 300.0,
        min_refresh_interval: float = 10.0,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = url
        self._ttl = ttl
        self._min_refresh_interval = min_refresh_interval
        self._client = client
        self._keys: dict[str, Any] = {}
        self._fetched_at = float("-inf")
        self._lock = asyncio.Lock()

    async def _refresh(self) -> None:
        client = self._client or httpx.AsyncClient(timeout=5.0)
        try:
            response = await client.get(self._url)
            response.raise_for_status()
            document = response.json()
        finally:
            if self._client is None:
                await client.aclose()
        keys = {}
        for jwk in document.get("keys", []):
            if jwk.get("kty") == "EC" and jwk.get("crv") == "P-256" and "kid" in jwk:
                keys[jwk["kid"]] = ECAlgorithm.from_jwk(jwk)
        self._keys = keys
        self._fetched_at = time.monotonic()

    async def get_key(self, kid: str) -> Any:
        """The public key for ``kid``; refreshes when stale or when the kid is new."""
        now = time.monotonic()
        if kid in self._keys and now - self._fetched_at < self._ttl:
            return self._keys[kid]
        async with self._lock:
            if kid not in self._keys or time.monotonic() - self._fetched_at >= self._ttl:
                if (
                    time.monotonic() - self._fetched_at >= self._min_refresh_interval
                    or not self._keys
                ):
                    try:
                        await self._refresh()
                    except (httpx.HTTPError, ValueError) as exc:
                        if kid not in self._keys:
                            raise InvalidToken("signing keys are unavailable") from exc
        if kid not in self._keys:
            raise InvalidToken("unknown key id")
        return self._keys[kid]


class TokenVerifier:
    """Checks signature, algorithm, issuer, audience, expiry and claims of an access token."""

    def __init__(self, keys: KeySource, *, issuer: str, audience: str, leeway: float = 5.0) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token, or :class:`InvalidToken`."""
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise InvalidToken("malformed token") from exc
        alg = header.get("alg")
        if alg not in ALGORITHMS:
            raise InvalidToken(f"algorithm {alg!r} is not accepted")
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidToken("token has no key id")
        key = await self._keys.get_key(kid)
        try:
            claims = jwt.decode(
                token,
                key,
                algorithms=list(ALGORITHMS),
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": ["exp", "iat", "sub", "jti"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise InvalidToken("token expired") from exc
        except jwt.PyJWTError as exc:
            raise InvalidToken(f"token rejected: {exc}") from exc
        if claims.get("typ") != "access":
            raise InvalidToken("not an access token")
        try:
            citizen_id = uuid.UUID(claims["sub"])
        except ValueError as exc:
            raise InvalidToken("malformed subject") from exc
        roles = claims.get("roles", [])
        if not isinstance(roles, list) or not all(isinstance(r, str) for r in roles):
            raise InvalidToken("malformed roles")
        department = claims.get("dept")
        return Principal(
            citizen_id=citizen_id,
            roles=frozenset(roles),
            department=department if isinstance(department, str) else None,
            token_id=str(claims["jti"]),
        )


def bearer_token(request: Request) -> str:
    """The token of an ``Authorization: Bearer`` header, or 401."""
    header = request.headers.get("authorization")
    if not header:
        raise InvalidToken("no Authorization header")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("expected 'Authorization: Bearer <token>'")
    return token.strip()


async def current_principal(request: Request) -> Principal:
    """FastAPI dependency: the verified caller (the app keeps its verifier in ``state``)."""
    verifier: TokenVerifier = request.app.state.token_verifier
    principal = await verifier.verify(bearer_token(request))
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency that lets through callers holding any of ``roles`` and answers 403 otherwise."""

    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_any(*roles):
            raise ProblemError(
                403,
                "forbidden",
                "Forbidden",
                f"this action needs one of the roles: {', '.join(roles)}",
                required_roles=list(roles),
            )
        return principal

    return dependency
