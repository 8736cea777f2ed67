"""Service-to-service authentication of internal endpoints: a per-request HMAC signature.

The caller signs each request with a key it shares with the callee::

    X-Service-Caller:    notify-svc
    X-Service-Timestamp: 1795521600                      (unix seconds)
    X-Service-Nonce:     9f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5  (32 lowercase hex, fresh per request)
    X-Service-Signature: base64url, no padding, of HMAC-SHA256(key, canonical request)

where the canonical request is ``METHOD "\\n" path_with_query "\\n" timestamp "\\n" nonce "\\n"
sha256_hex(body)`` and ``path_with_query`` is the raw (percent-encoded) path as sent, followed by
``"?" + query`` when the query is not empty.

The callee accepts a request when the caller is known, the signature verifies, the timestamp is
within :data:`MAX_SKEW_SECONDS` of its clock and the nonce was not seen in that window. The
replay cache is per process: with several replicas a captured request could be replayed once
against each other replica, but only within the window, and the internal endpoints only read.

A service exposing internal endpoints puts its keys (caller name → key bytes) on
``app.state.internal_keys`` in its app factory and guards each route with
``Depends(require_service("notify-svc"))``. A caller uses ``httpx.AsyncClient(auth=
ServiceAuth("notify-svc", key))``. docs/internal-api.md describes the whole contract.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import heapq
import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Generator, Mapping
from typing import Annotated

import httpx
from fastapi import Header, Request
from prometheus_client import Counter
from pydantic import SecretStr

from services.problems import ProblemError

log = logging.getLogger(__name__)

CALLER_HEADER = "X-Service-Caller"
TIMESTAMP_HEADER = "X-Service-Timestamp"
NONCE_HEADER = "X-Service-Nonce"
SIGNATURE_HEADER = "X-Service-Signature"

#: How far a request's timestamp may be from the callee's clock, either way.
MAX_SKEW_SECONDS = 60
#: Shortest key accepted (HMAC-SHA256 gains nothing from longer keys; shorter ones are weak).
MIN_KEY_BYTES = 32
#: Nonces remembered per process at most (see :class:`NonceCache`).
NONCE_CACHE_SIZE = 100_000

#: The services of the platform (the callers a service accepts by default outside production).
PLATFORM_SERVICES = ("identity-svc", "proposal-svc", "vote-svc", "ledger-svc", "notify-svc")

#: notify-svc's development key (base64 of 32 bytes). notify-svc signs with it and identity-svc
#: and vote-svc accept it by default outside production; production refuses it on both sides.
DEV_NOTIFY_SERVICE_KEY = base64.b64encode(b"dev-only-notify-service-key-32b!").decode()


def dev_service_key(service: str) -> str:
    """The development key (base64 of 32 bytes) a platform service signs its internal requests
    with outside production; every service accepts them by default there, production refuses
    them all (:func:`decode_service_keys`)."""
    if service == "notify-svc":
        return DEV_NOTIFY_SERVICE_KEY
    return base64.b64encode(
        hashlib.sha256(f"dev-only-service-key:{service}".encode()).digest()
    ).decode()


def dev_internal_keys() -> dict[str, SecretStr]:
    """Caller → key of every platform service's development key: the default of a service's
    ``*_INTERNAL_KEYS`` outside production."""
    return {service: SecretStr(dev_service_key(service)) for service in PLATFORM_SERVICES}


def is_dev_key(key: bytes) -> bool:
    """Whether ``key`` is one of the development keys (refused in production)."""
    return any(key == base64.b64decode(dev_service_key(s)) for s in PLATFORM_SERVICES)


_NONCE = re.compile(r"[0-9a-f]{32}")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_CALLER = re.compile(r"[a-z0-9][a-z0-9._-]{0,62}")
_SIGNATURE = re.compile(r"[A-Za-z0-9_-]{43}")

REFUSALS = Counter(
    "internal_auth_refusals_total",
    "Internal requests refused by service authentication, by reason",
    ["reason"],
)


# --- keys -----------------------------------------------------------------------------------


def decode_service_key(value: str) -> bytes:
    """The bytes of a base64 key (standard alphabet, as ``openssl rand -base64 32`` prints it);
    ``ValueError`` unless it is valid base64 of at least :data:`MIN_KEY_BYTES` bytes."""
    try:
        key = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64") from exc
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"shorter than {MIN_KEY_BYTES} bytes")
    return key


def decode_service_keys(
    keys: Mapping[str, SecretStr], *, setting: str, production: bool
) -> dict[str, bytes]:
    """Decode a settings mapping caller → base64 key (e.g. ``IDENTITY_INTERNAL_KEYS``).

    ``ValueError`` (naming ``setting``, never the key) for a malformed caller name or key, and in
    production for the development key of any caller: production must configure its own.
    """
    decoded: dict[str, bytes] = {}
    for caller, secret in keys.items():
        if not _CALLER.fullmatch(caller):
            raise ValueError(f"{setting}: {caller!r} is not a service name")
        value = secret.get_secret_value()
        try:
            decoded[caller] = decode_service_key(value)
        except ValueError as exc:
            raise ValueError(
                f"{setting}: the key of {caller} must be base64 of at least {MIN_KEY_BYTES} bytes"
                f" ({exc})"
            ) from None
        if production and is_dev_key(decoded[caller]):
            raise ValueError(
                f"{setting} must be set in production (the dev default is refused): "
                f"the key of {caller} is the development key"
            )
    return decoded


# --- signing --------------------------------------------------------------------------------


def _target(path: bytes, query: bytes) -> bytes:
    return path + b"?" + query if query else path


def canonical_request(
    method: str, path_with_query: bytes, timestamp: str, nonce: str, body: bytes
) -> bytes:
    """The bytes that are signed: method, target, timestamp, nonce and the body's SHA-256."""
    return b"\n".join(
        [
            method.upper().encode(),
            path_with_query,
            timestamp.encode(),
            nonce.encode(),
            hashlib.sha256(body).hexdigest().encode(),
        ]
    )


def signature(key: bytes, canonical: bytes) -> str:
    """base64url (no padding) of HMAC-SHA256(key, canonical)."""
    digest = hmac.new(key, canonical, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def signature_headers(
    caller: str,
    key: bytes,
    method: str,
    path_with_query: bytes,
    body: bytes = b"",
    *,
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    """The four headers that authenticate one request (a fresh nonce unless one is given)."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    canonical = canonical_request(method, path_with_query, stamp, nonce, body)
    return {
        CALLER_HEADER: caller,
        TIMESTAMP_HEADER: stamp,
        NONCE_HEADER: nonce,
        SIGNATURE_HEADER: signature(key, canonical),
    }


class ServiceAuth(httpx.Auth):
    """httpx authentication that signs every request (sync or async client) as ``caller``.

    Each request, retries included, gets its own timestamp and nonce.
    """

    requires_request_body = True

    def __init__(self, caller: str, key: bytes) -> None:
        if not _CALLER.fullmatch(caller):
            raise ValueError(f"{caller!r} is not a service name")
        if len(key) < MIN_KEY_BYTES:
            raise ValueError(f"a service key has at least {MIN_KEY_BYTES} bytes")
        self._caller = caller
        self._key = key

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the signature headers (httpx calls this for every request it sends)."""
        path, _, query = request.url.raw_path.partition(b"?")
        request.headers.update(
            signature_headers(
                self._caller, self._key, request.method, _target(path, query), request.content
            )
        )
        yield request


# --- verifying ------------------------------------------------------------------------------


class NonceCache:
    """Nonces seen recently, each kept until its request's timestamp leaves the window.

    Bounded: when :data:`NONCE_CACHE_SIZE` nonces are remembered, the one that would expire
    soonest is forgotten (only requests that passed the signature check are remembered, so only
    a key holder can fill it, at over 800 requests a second).
    """

    def __init__(self, *, window: int = MAX_SKEW_SECONDS, size: int = NONCE_CACHE_SIZE) -> None:
        self._window = window
        self._size = size
        self._expiry: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, str, str]] = []

    def __len__(self) -> int:
        return len(self._expiry)

    def _forget(self, now: float) -> None:
        while self._heap and (self._heap[0][0] < now or len(self._expiry) >= self._size):
            expires, caller, nonce = heapq.heappop(self._heap)
            if self._expiry.get((caller, nonce)) == expires:
                del self._expiry[(caller, nonce)]

    def first_use(self, caller: str, nonce: str, timestamp: int, now: float) -> bool:
        """Record the nonce; False when it was already used within the window (a replay)."""
        self._forget(now)
        if (caller, nonce) in self._expiry:
            return False
        expires = float(timestamp + self._window)
        self._expiry[(caller, nonce)] = expires
        heapq.heappush(self._heap, (expires, caller, nonce))
        return True


def _refuse(slug: str, detail: str, reason: str, *, status: int = 401) -> ProblemError:
    REFUSALS.labels(reason).inc()
    titles = {
        "service-auth-required": "Service authentication required",
        "service-auth-invalid": "Service authentication failed",
        "service-not-allowed": "Service not allowed",
    }
    headers = {"WWW-Authenticate": 'Service-HMAC realm="internal"'} if status == 401 else None
    return ProblemError(status, slug, titles[slug], detail, headers=headers)


def _nonces(request: Request) -> NonceCache:
    cache: NonceCache | None = getattr(request.app.state, "service_nonces", None)
    if cache is None:
        cache = request.app.state.service_nonces = NonceCache()
    return cache


_HeaderValue = Annotated[str | None, Header(include_in_schema=False)]


def require_service(*allowed_callers: str) -> Callable[..., Awaitable[str]]:
    """A FastAPI dependency that authenticates a signed internal request and returns the
    caller's name. 401 ``service-auth-required`` when a header is missing, 401
    ``service-auth-invalid`` when anything does not verify (malformed header, unknown caller,
    signature, timestamp, replayed nonce), 403 ``service-not-allowed`` for a known caller that
    is not one of ``allowed_callers``. Keys come from ``app.state.internal_keys``."""
    allowed = frozenset(allowed_callers)

    async def dependency(
        request: Request,
        x_service_caller: _HeaderValue = None,
        x_service_timestamp: _HeaderValue = None,
        x_service_nonce: _HeaderValue = None,
        x_service_signature: _HeaderValue = None,
    ) -> str:
        caller, stamp, nonce, given = (
            x_service_caller,
            x_service_timestamp,
            x_service_nonce,
            x_service_signature,
        )
        if caller is None or stamp is None or nonce is None or given is None:
            raise _refuse(
                "service-auth-required",
                f"internal endpoints need the {CALLER_HEADER}, {TIMESTAMP_HEADER}, "
                f"{NONCE_HEADER} and {SIGNATURE_HEADER} headers",
                "missing",
            )
        if not (
            _CALLER.fullmatch(caller)
            and _TIMESTAMP.fullmatch(stamp)
            and _NONCE.fullmatch(nonce)
            and _SIGNATURE.fullmatch(given)
        ):
            raise _refuse("service-auth-invalid", "malformed service headers", "malformed")
        keys: Mapping[str, bytes] | None = getattr(request.app.state, "internal_keys", None)
        if keys is None:
            raise RuntimeError("the app factory must set app.state.internal_keys")
        key = keys.get(caller)
        if key is None:
            raise _refuse("service-auth-invalid", f"unknown caller {caller!r}", "unknown-caller")
        now = time.time()
        timestamp = int(stamp)
        if abs(now - timestamp) > MAX_SKEW_SECONDS:
            raise _refuse(
                "service-auth-invalid",
                f"{TIMESTAMP_HEADER} is more than {MAX_SKEW_SECONDS} s away from this server's "
                "clock",
                "timestamp",
            )
        path = request.scope.get("raw_path") or request.url.path.encode()
        canonical = canonical_request(
            request.method,
            _target(path, request.scope.get("query_string", b"")),
            stamp,
            nonce,
            await request.body(),
        )
        if not hmac.compare_digest(signature(key, canonical).encode(), given.encode()):
            raise _refuse("service-auth-invalid", "the signature does not verify", "signature")
        if not _nonces(request).first_use(caller, nonce, timestamp, now):
            raise _refuse(
                "service-auth-invalid", f"{NONCE_HEADER} was already used (replay)", "replay"
            )
        if caller not in allowed:
            raise _refuse(
                "service-not-allowed",
                f"{caller} may not call this endpoint",
                "not-allowed",
                status=403,
            )
        request.state.service_caller = caller
        return caller

    return dependency
