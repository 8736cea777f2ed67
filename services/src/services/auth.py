"""Verifying identity-svc's access tokens locally, against its JWKS, and role checks.

Tokens are short-lived ES256 JWTs with a ``kid`` header. Keys are cached; an unknown ``kid`` makes
the cache refresh once (a rotation happened) but no more often than ``min_refresh_interval``, so
forged ``kid`` values cannot turn into a flood of requests to identity-svc.

Verified tokens are cached too (:class:`VerifiedTokens`, per process): a citizen reuses one
access token for up to its lifetime (15 minutes), and checking its ES256 signature again on
every request was the largest single cost of the agreement hot path after the HTTP write. A
cached token is served only

- for the exact token string that passed verification (a token differing in any byte, e.g. a
  forged signature or an edited claim, is a different key and is verified in full; failures are
  never cached, so a rejected token is rejected again on its next use),
- before its ``exp`` (no leeway: from ``exp`` on it is verified in full, which then applies the
  usual leeway and rejects it once that has passed), and
- while the key source still serves the same public key under the token's ``kid`` (asked on
  every use, as before the cache): a key retired from the JWKS rejects its cached tokens exactly
  when it would have rejected them uncached.

The trade-off: nothing else can revoke an access token before its ``exp`` -- not before this
cache either. There is no access-token deny list (logout and refresh-token reuse revoke refresh
tokens; suspension is enforced by each service's read model, e.g. vote-svc refuses a suspended
citizen whatever the token says; new roles arrive with the next token). Should a deny list by
``jti`` ever be added, it must be checked on cache hits too. The cache costs memory: at most
``max_entries`` tokens (about 1 KB each with their principal) per process.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Protocol

import httpx
import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jwt.algorithms import ECAlgorithm

from services.problems import ProblemError

Role = Literal[
    "citizen",
    "department",
    "mayor_office",
    "committee",
    "admin",
    "moderator",
    "forum_staff",
    "auditor",
]
ROLES: tuple[Role, ...] = (
    "citizen",
    "department",
    "mayor_office",
    "committee",
    "admin",
    "moderator",
    "forum_staff",
    "auditor",
)
ALGORITHMS = ("ES256",)
#: How a citizen belongs to the city, where an identity provider vouches for it (docs/identity.md).
Residency = Literal["resident", "worker", "student"]
RESIDENCIES: tuple[Residency, ...] = ("resident", "worker", "student")


@dataclass(frozen=True)
class Principal:
    """Who is calling: the citizen id (``sub``) and what the token grants.

    ``age``, ``foreigner`` and ``residency`` are the eligibility claims (services.eligibility):
    ``None`` when the token does not carry them (a token issued before they existed, or a fact
    no provider vouched for).
    """

    citizen_id: uuid.UUID
    roles: frozenset[str]
    department: str | None
    token_id: str
    #: Whole years the citizen is at least, computed when the token was issued.
    age: int | None = None
    #: Whether a provider verified the citizen as a foreign national.
    foreigner: bool | None = None
    #: Resident, worker or student of the city, where a provider vouched for it.
    residency: Residency | None = None
    #: When the account was created (the ``since`` claim, cut to the hour by identity-svc).
    account_since: datetime | None = None

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


@dataclass(frozen=True, slots=True)
class _Verified:
    principal: Principal
    #: The token's ``exp`` (seconds since the epoch): the entry is not served from then on.
    expires_at: float
    kid: str
    #: The public key the signature was checked with.
    key: Any


class VerifiedTokens:
    """A bounded LRU of tokens that passed verification (see the module doc for the rules)."""

    def __init__(self, max_entries: int = 10_000) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[str, _Verified] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, token: str, now: float) -> _Verified | None:
        """The entry of ``token`` if it is cached and not expired at ``now``."""
        entry = self._entries.get(token)
        if entry is None:
            return None
        if now >= entry.expires_at:
            del self._entries[token]
            return None
        self._entries.move_to_end(token)
        return entry

    def put(self, token: str, entry: _Verified) -> None:
        """Remember a verified token, evicting the least recently used beyond the bound."""
        if self.max_entries <= 0:
            return
        self._entries[token] = entry
        self._entries.move_to_end(token)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def discard(self, token: str) -> None:
        """Forget ``token``."""
        self._entries.pop(token, None)


def _same_key(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(a == b)
    except Exception:  # a key type without equality: never assume it is the same
        return False


class TokenVerifier:
    """Checks signature, algorithm, issuer, audience, expiry and claims of an access token.

    Tokens that pass are kept in a per-process :class:`VerifiedTokens` of ``cache_size`` entries
    (0: no cache) until their ``exp`` by ``clock`` (seconds since the epoch).
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        issuer: str,
        audience: str,
        leeway: float = 5.0,
        cache_size: int = 10_000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._keys = keys
        self._issuer = issuer
        self._audience = audience
        self._leeway = leeway
        self._clock = clock
        self.cache = VerifiedTokens(cache_size)

    async def verify(self, token: str) -> Principal:
        """The principal of a valid token, or :class:`InvalidToken`."""
        cached = self.cache.get(token, self._clock())
        if cached is not None:
            try:
                key = await self._keys.get_key(cached.kid)
            except InvalidToken:
                self.cache.discard(token)  # its key was retired: refused, as uncached
                raise
            if _same_key(key, cached.key):
                return cached.principal
            self.cache.discard(token)
        return await self._verify(token)

    async def _verify(self, token: str) -> Principal:
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
        principal = Principal(
            citizen_id=citizen_id,
            roles=frozenset(roles),
            department=department if isinstance(department, str) else None,
            token_id=str(claims["jti"]),
            **_eligibility_claims(claims),
        )
        expires_at = claims["exp"]
        if isinstance(expires_at, int | float) and self._clock() < expires_at:
            self.cache.put(token, _Verified(principal, float(expires_at), kid, key))
        return principal


def _eligibility_claims(claims: dict[str, Any]) -> dict[str, Any]:
    """The eligibility claims of a verified token (absent ones stay ``None``). A claim of the
    wrong type rejects the token: identity-svc never signs one, so it is not ours."""
    age = claims.get("age")
    # bool is an int in Python; an age of True is as malformed as "14".
    if age is not None and (
        isinstance(age, bool) or not isinstance(age, int) or not 0 <= age <= 150
    ):
        raise InvalidToken("malformed age claim")
    foreigner = claims.get("foreigner")
    if foreigner is not None and not isinstance(foreigner, bool):
        raise InvalidToken("malformed foreigner claim")
    residency = claims.get("residency")
    if residency is not None and residency not in RESIDENCIES:
        raise InvalidToken("malformed residency claim")
    since = claims.get("since")
    if since is not None and (isinstance(since, bool) or not isinstance(since, int) or since < 0):
        raise InvalidToken("malformed since claim")
    account_since = datetime.fromtimestamp(since, UTC) if since is not None else None
    return {
        "age": age,
        "foreigner": foreigner,
        "residency": residency,
        "account_since": account_since,
    }


def bearer_token(request: Request) -> str:
    """The token of an ``Authorization: Bearer`` header, or 401."""
    header = request.headers.get("authorization")
    if not header:
        raise InvalidToken("no Authorization header")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise InvalidToken("expected 'Authorization: Bearer <token>'")
    return token.strip()


#: The OpenAPI security scheme of every operation that needs a token: FastAPI declares
#: ``bearerAuth`` (HTTP bearer, JWT) in ``components.securitySchemes`` and in the ``security`` of
#: each route whose dependencies include :func:`current_principal`, so that generated clients
#: send the token. It does not check anything itself (``auto_error=False``):
#: :func:`bearer_token` does, with our problem documents.
BEARER_AUTH = HTTPBearer(
    scheme_name="bearerAuth",
    bearerFormat="JWT",
    description="An access token of identity-svc: `Authorization: Bearer <token>`.",
    auto_error=False,
)


async def current_principal(
    request: Request,
    _declared: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER_AUTH)] = None,
) -> Principal:
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
