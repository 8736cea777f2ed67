"""Token verification: signatures, algorithms, claims, JWKS caching, and role checks."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Depends, FastAPI
from jwt.algorithms import ECAlgorithm
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.app import ServiceSpec, create_service_app
from services.auth import (
    CurrentPrincipal,
    InvalidToken,
    JWKSCache,
    Principal,
    TokenVerifier,
    require_roles,
)
from services.config import ServiceSettings
from services_dev.testing import running_app

ISS = "https://democracy.seoul.example/identity"
AUD = "democracy-platform"


class Keys:
    """An in-memory key source."""

    def __init__(self) -> None:
        self.private = {"k1": ec.generate_private_key(ec.SECP256R1())}

    async def get_key(self, kid: str) -> Any:
        if kid not in self.private:
            raise InvalidToken("unknown key id")
        return self.private[kid].public_key()


def token(keys: Keys, kid: str = "k1", **overrides: Any) -> str:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "sub": str(uuid.uuid4()),
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "jti": str(uuid.uuid4()),
        "typ": "access",
        "roles": ["citizen"],
    }
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode(claims, keys.private[kid], algorithm="ES256", headers={"kid": kid})


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def verifier(keys: Keys) -> TokenVerifier:
    return TokenVerifier(keys, issuer=ISS, audience=AUD)


async def test_valid_token(keys: Keys, verifier: TokenVerifier) -> None:
    principal = await verifier.verify(token(keys, roles=["citizen", "committee"], dept="x"))
    assert principal.roles == frozenset({"citizen", "committee"})
    assert principal.department == "x"


@pytest.mark.parametrize(
    "overrides",
    [
        {"exp": datetime.now(UTC) - timedelta(minutes=1)},
        {"aud": "someone-else"},
        {"iss": "https://evil.example"},
        {"typ": "refresh"},
        {"sub": "not-a-uuid"},
        {"jti": None},
        {"roles": "admin"},
    ],
    ids=["expired", "audience", "issuer", "type", "subject", "no-jti", "roles-not-list"],
)
async def test_bad_claims(keys: Keys, verifier: TokenVerifier, overrides: dict[str, Any]) -> None:
    with pytest.raises(InvalidToken):
        await verifier.verify(token(keys, **overrides))


async def test_eligibility_claims_are_carried_and_optional(
    keys: Keys, verifier: TokenVerifier
) -> None:
    carried = await verifier.verify(token(keys, age=17, foreigner=True, residency="worker"))
    assert (carried.age, carried.foreigner, carried.residency) == (17, True, "worker")
    # A token from before the claims existed still verifies; the facts are unknown.
    old = await verifier.verify(token(keys))
    assert (old.age, old.foreigner, old.residency) == (None, None, None)
    assert old.account_since is None


async def test_the_since_claim_is_the_accounts_creation(
    keys: Keys, verifier: TokenVerifier
) -> None:
    principal = await verifier.verify(token(keys, since=1_764_630_000))
    assert principal.account_since == datetime.fromtimestamp(1_764_630_000, UTC)


@pytest.mark.parametrize(
    "claim",
    [
        {"age": "17"},
        {"age": True},
        {"age": -1},
        {"age": 17.5},
        {"foreigner": "no"},
        {"residency": "tourist"},
        {"since": "2026-12-01"},
        {"since": -5},
    ],
    ids=[
        "age-string",
        "age-bool",
        "age-negative",
        "age-float",
        "foreigner-string",
        "residency",
        "since-string",
        "since-negative",
    ],
)
async def test_malformed_eligibility_claims_reject_the_token(
    keys: Keys, verifier: TokenVerifier, claim: dict[str, Any]
) -> None:
    with pytest.raises(InvalidToken, match="malformed"):
        await verifier.verify(token(keys, **claim))


async def test_bad_signatures_and_algorithms(keys: Keys, verifier: TokenVerifier) -> None:
    good = token(keys)
    head, payload, sig = good.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    for bad in [
        f"{head}.{payload}.{flipped}",
        jwt.encode({"sub": "x"}, key="", algorithm="none", headers={"kid": "k1"}),
        jwt.encode({"sub": "x"}, "s" * 32, algorithm="HS256", headers={"kid": "k1"}),
        jwt.encode(
            {"sub": "x"}, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256"
        ),  # no kid
        "garbage",
    ]:
        with pytest.raises(InvalidToken):
            await verifier.verify(bad)
    keys.private["k2"] = ec.generate_private_key(ec.SECP256R1())
    signed_by_k2_claiming_k1 = jwt.encode(
        jwt.decode(good, options={"verify_signature": False}),
        keys.private["k2"],
        algorithm="ES256",
        headers={"kid": "k1"},
    )
    with pytest.raises(InvalidToken):
        await verifier.verify(signed_by_k2_claiming_k1)


class JwksServer:
    """A JWKS endpoint whose keys the test changes, counting fetches."""

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.fetches = 0

    async def endpoint(self, request: Request) -> JSONResponse:
        self.fetches += 1
        return JSONResponse({"keys": self.keys})

    def publish(self, kid: str, private: ec.EllipticCurvePrivateKey) -> None:
        jwk = json.loads(ECAlgorithm.to_jwk(private.public_key()))
        self.keys.append({**jwk, "kid": kid, "alg": "ES256", "use": "sig"})


@pytest.fixture
async def jwks_client() -> AsyncIterator[tuple[JwksServer, httpx.AsyncClient]]:
    from starlette.applications import Starlette

    server = JwksServer()
    app = Starlette(routes=[Route("/.well-known/jwks.json", server.endpoint)])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://idp"
    ) as client:
        yield server, client


async def test_jwks_cache_refreshes_on_new_kid_but_bounded(
    jwks_client: tuple[JwksServer, httpx.AsyncClient], keys: Keys
) -> None:
    server, client = jwks_client
    server.publish("k1", keys.private["k1"])
    cache = JWKSCache("http://idp/.well-known/jwks.json", client=client, min_refresh_interval=0.2)
    verifier = TokenVerifier(cache, issuer=ISS, audience=AUD)
    await verifier.verify(token(keys))
    await verifier.verify(token(keys))
    assert server.fetches == 1  # cached
    # A forged kid cannot make us hammer the JWKS endpoint.
    for _ in range(5):
        with pytest.raises(InvalidToken):
            await verifier.verify(_with_kid(keys, "nope"))
    assert server.fetches <= 2
    # After a real rotation, the new kid is fetched once the interval has passed.
    keys.private["k2"] = ec.generate_private_key(ec.SECP256R1())
    server.publish("k2", keys.private["k2"])
    await asyncio.sleep(0.25)
    await verifier.verify(token(keys, kid="k2"))


def _with_kid(keys: Keys, kid: str) -> str:
    now = datetime.now(UTC)
    return jwt.encode(
        {
            "iss": ISS,
            "aud": AUD,
            "sub": str(uuid.uuid4()),
            "iat": now,
            "exp": now + timedelta(minutes=5),
            "jti": "j",
            "typ": "access",
        },
        keys.private["k1"],
        algorithm="ES256",
        headers={"kid": kid},
    )


router = APIRouter()


@router.get("/mine")
async def mine(principal: CurrentPrincipal) -> dict[str, str]:
    return {"citizen_id": str(principal.citizen_id)}


@router.get("/committee-only")
async def committee_only(
    principal: Principal = Depends(require_roles("committee", "admin")),
) -> dict[str, bool]:
    return {"ok": True}


@pytest.fixture
async def secured(service_env: dict[str, str], keys: Keys) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(
        database_url=service_env["database_url"], nats_url=service_env["nats_url"]
    )

    def source(app: FastAPI) -> Keys:
        return keys

    app = create_service_app(
        settings, ServiceSpec(title="t", description="t", routers=[router], key_source=source)
    )
    async with running_app(app) as client:
        yield client


async def test_routes_answer_401_and_403_as_problems(
    secured: httpx.AsyncClient, keys: Keys
) -> None:
    anonymous = await secured.get("/mine")
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    assert anonymous.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    ok = await secured.get("/mine", headers={"Authorization": f"Bearer {token(keys)}"})
    assert ok.status_code == 200
    citizen = await secured.get(
        "/committee-only", headers={"Authorization": f"Bearer {token(keys)}"}
    )
    assert citizen.status_code == 403
    assert citizen.json()["required_roles"] == ["committee", "admin"]
    member = await secured.get(
        "/committee-only",
        headers={"Authorization": f"Bearer {token(keys, roles=['citizen', 'committee'])}"},
    )
    assert member.status_code == 200
