"""Access tokens, JWKS, key rotation and refresh-token rotation with reuse detection."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from identity_helpers import bearer, verify

from identity_svc.bootstrap import bootstrap
from identity_svc.cli import main as cli_main
from identity_svc.config import IdentitySettings, get_settings
from identity_svc.keys import ActiveKey
from identity_svc.main import create_app
from identity_svc.service import sessions
from identity_svc.tokens import AccessTokenClaims, issue_access_token
from services.db import create_engine, create_sessionmaker, transaction
from services_dev.testing import running_app


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def _active_key(client: httpx.AsyncClient) -> ActiveKey:
    app = client._transport.app  # type: ignore[attr-defined]
    return await app.state.keys.active()  # type: ignore[no-any-return]


async def test_me_with_a_valid_token(client: httpx.AsyncClient) -> None:
    done = await verify(client, "me-1")
    assert done["token_type"] == "Bearer"
    assert done["expires_in"] == 900
    me = await client.get("/v1/identity/me", headers=bearer(done["access_token"]))
    assert me.status_code == 200
    body = me.json()
    assert body["citizen_id"] == done["citizen_id"]
    assert body["roles"] == ["citizen"]
    assert body["age_band"] == "30_39"
    assert body["is_foreigner"] is False
    assert body["providers"] == ["sandbox"]
    assert set(body) == {
        "citizen_id",
        "roles",
        "department",
        "age_band",
        "is_foreigner",
        "status",
        "verified_at",
        "providers",
    }


async def test_token_header_and_jwks(
    client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    done = await verify(client, "jwks-1")
    header = jwt.get_unverified_header(done["access_token"])
    assert header["alg"] == "ES256"
    jwks = (await client.get("/.well-known/jwks.json")).json()
    assert [k["kid"] for k in jwks["keys"]] == [header["kid"]]
    assert jwks["keys"][0]["crv"] == "P-256"
    assert "d" not in jwks["keys"][0]  # never the private part
    key = jwt.PyJWK(jwks["keys"][0])
    claims = jwt.decode(
        done["access_token"],
        key,
        algorithms=["ES256"],
        audience=identity_settings.jwt_audience,
        issuer=identity_settings.jwt_issuer,
    )
    assert claims["sub"] == done["citizen_id"]


async def test_missing_and_malformed_authorization(client: httpx.AsyncClient) -> None:
    for headers in (
        {},
        {"Authorization": "Basic abc"},
        {"Authorization": "Bearer "},
        {"Authorization": "Bearer not.a.jwt"},
    ):
        response = await client.get("/v1/identity/me", headers=headers)
        assert response.status_code == 401, headers
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_forged_signature_is_401(client: httpx.AsyncClient) -> None:
    done = await verify(client, "forged-1")
    head, payload, _sig = done["access_token"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    claims["roles"] = ["citizen", "admin"]
    tampered = f"{head}.{_b64(json.dumps(claims).encode())}.{_sig}"
    assert (await client.get("/v1/identity/me", headers=bearer(tampered))).status_code == 401
    # A token signed by another key that claims our kid.
    active = await _active_key(client)
    impostor = ActiveKey(active.kid, ec.generate_private_key(ec.SECP256R1()))
    forged = issue_access_token(
        impostor,
        AccessTokenClaims(uuid.UUID(done["citizen_id"]), ["citizen", "admin"], None, uuid.uuid4()),
        issuer="https://democracy.seoul.example/identity",
        audience="democracy-platform",
        ttl=timedelta(minutes=5),
        now=datetime.now(UTC),
    )
    assert (await client.get("/v1/identity/me", headers=bearer(forged))).status_code == 401


async def test_expired_wrong_kid_and_alg_none_are_401(
    client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    done = await verify(client, "expired-1")
    citizen = uuid.UUID(done["citizen_id"])
    active = await _active_key(client)
    claims = AccessTokenClaims(citizen, ["citizen"], None, uuid.uuid4())
    iss, aud = identity_settings.jwt_issuer, identity_settings.jwt_audience
    expired = issue_access_token(
        active,
        claims,
        ttl=timedelta(minutes=5),
        now=datetime.now(UTC) - timedelta(hours=1),
        issuer=iss,
        audience=aud,
    )
    response = await client.get("/v1/identity/me", headers=bearer(expired))
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]

    wrong_kid = issue_access_token(
        ActiveKey("es256-unknown", active.private_key),
        claims,
        ttl=timedelta(minutes=5),
        now=datetime.now(UTC),
        issuer=iss,
        audience=aud,
    )
    response = await client.get("/v1/identity/me", headers=bearer(wrong_kid))
    assert response.status_code == 401
    assert "unknown key id" in response.json()["detail"]

    _h, payload, _s = done["access_token"].split(".")
    none_header = _b64(json.dumps({"alg": "none", "typ": "JWT", "kid": active.kid}).encode())
    for token in (f"{none_header}.{payload}.", f"{none_header}.{payload}"):
        response = await client.get("/v1/identity/me", headers=bearer(token))
        assert response.status_code == 401
    hs_header = _b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": active.kid}).encode())
    response = await client.get("/v1/identity/me", headers=bearer(f"{hs_header}.{payload}.AAAA"))
    assert response.status_code == 401

    wrong_audience = issue_access_token(
        active,
        claims,
        ttl=timedelta(minutes=5),
        now=datetime.now(UTC),
        issuer=identity_settings.jwt_issuer,
        audience="other",
    )
    assert (await client.get("/v1/identity/me", headers=bearer(wrong_audience))).status_code == 401


async def test_refresh_rotates(client: httpx.AsyncClient) -> None:
    done = await verify(client, "refresh-1")
    first = await client.post(
        "/v1/identity/tokens/refresh", json={"refresh_token": done["refresh_token"]}
    )
    assert first.status_code == 200, first.text
    pair = first.json()
    assert pair["refresh_token"] != done["refresh_token"]
    me = await client.get("/v1/identity/me", headers=bearer(pair["access_token"]))
    assert me.json()["citizen_id"] == done["citizen_id"]
    second = await client.post(
        "/v1/identity/tokens/refresh", json={"refresh_token": pair["refresh_token"]}
    )
    assert second.status_code == 200


async def test_reusing_a_refresh_token_revokes_the_family(client: httpx.AsyncClient) -> None:
    done = await verify(client, "reuse-1")
    other_session = await verify(client, "reuse-1")  # a second sign-in: another family
    rotated = (
        await client.post(
            "/v1/identity/tokens/refresh", json={"refresh_token": done["refresh_token"]}
        )
    ).json()
    reuse = await client.post(
        "/v1/identity/tokens/refresh", json={"refresh_token": done["refresh_token"]}
    )
    assert reuse.status_code == 401
    assert reuse.json()["type"].endswith("/refresh-token-reused")
    # The token issued by the rotation belongs to the revoked family too.
    after = await client.post(
        "/v1/identity/tokens/refresh", json={"refresh_token": rotated["refresh_token"]}
    )
    assert after.status_code == 401
    assert after.json()["type"].endswith("/refresh-token-revoked")
    # Another sign-in of the same citizen is untouched.
    unaffected = await client.post(
        "/v1/identity/tokens/refresh", json={"refresh_token": other_session["refresh_token"]}
    )
    assert unaffected.status_code == 200


async def test_unknown_refresh_token_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/identity/tokens/refresh", json={"refresh_token": "x" * 43})
    assert response.status_code == 401
    assert response.json()["type"].endswith("/invalid-refresh-token")


async def test_keys_persist_and_rotate(identity_settings: IdentitySettings) -> None:
    async with running_app(create_app(bootstrap(identity_settings))) as first_app:
        done = await verify(first_app, "rotate-1")
        old_kid = jwt.get_unverified_header(done["access_token"])["kid"]
    # A new process on the same database serves the same key (it is persisted, not regenerated).
    async with running_app(create_app(bootstrap(identity_settings))) as second_app:
        jwks = (await second_app.get("/.well-known/jwks.json")).json()
        assert [k["kid"] for k in jwks["keys"]] == [old_kid]
        assert (
            await second_app.get("/v1/identity/me", headers=bearer(done["access_token"]))
        ).status_code == 200

    engine = create_engine(identity_settings.database_url)
    async with transaction(create_sessionmaker(engine)) as session:
        new_kid = await sessions.rotate_signing_key(session, bootstrap(identity_settings))
    await engine.dispose()

    async with running_app(create_app(bootstrap(identity_settings))) as third_app:
        jwks = (await third_app.get("/.well-known/jwks.json")).json()
        assert {k["kid"] for k in jwks["keys"]} == {old_kid, new_kid}
        # Tokens signed before the rotation still verify; new ones carry the new kid.
        assert (
            await third_app.get("/v1/identity/me", headers=bearer(done["access_token"]))
        ).status_code == 200
        fresh = await verify(third_app, "rotate-2")
        assert jwt.get_unverified_header(fresh["access_token"])["kid"] == new_kid


async def test_rotate_keys_cli_starts_signing_with_a_new_key(
    identity_settings: IdentitySettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    async with running_app(create_app(bootstrap(identity_settings))) as first_app:
        old_kid = (await first_app.get("/.well-known/jwks.json")).json()["keys"][0]["kid"]
    monkeypatch.setenv("IDENTITY_DATABASE_URL", identity_settings.database_url)
    get_settings.cache_clear()
    try:
        code = await asyncio.to_thread(cli_main, ["rotate-keys"])
    finally:
        get_settings.cache_clear()
    assert code == 0
    printed = re.search(r"^new signing key (\S+);", capsys.readouterr().out, re.MULTILINE)
    assert printed is not None
    new_kid = printed.group(1)
    async with running_app(create_app(bootstrap(identity_settings))) as second_app:
        jwks = (await second_app.get("/.well-known/jwks.json")).json()
        assert {k["kid"] for k in jwks["keys"]} == {old_kid, new_kid}
        fresh = await verify(second_app, "rotate-cli")
        assert jwt.get_unverified_header(fresh["access_token"])["kid"] == new_kid
