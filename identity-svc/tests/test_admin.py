"""Roles granted by admins, suspensions, and the events they publish through the outbox."""

from __future__ import annotations

import json
from typing import Any

import asyncpg
import httpx
import nats
import pytest
from identity_helpers import bearer, verify

from identity_svc.cli import main as cli_main
from identity_svc.config import IdentitySettings, get_settings
from services import nats as nats_mod
from services.db import create_engine, create_sessionmaker, to_plain_url
from services.outbox import OutboxRelay


async def _admin(client: httpx.AsyncClient) -> dict[str, Any]:
    return await verify(client, "admin-seed", roles=["admin"])


async def _relay_and_read(settings: IdentitySettings, subject: str) -> list[dict[str, Any]]:
    """Run the real outbox relay once, then read ``subject`` back from JetStream."""
    nc = await nats.connect(settings.nats_url)
    engine = create_engine(settings.database_url)
    try:
        js = nc.jetstream()
        await nats_mod.ensure_streams(js)
        await OutboxRelay(create_sessionmaker(engine), js).relay_once()
        sub = await js.pull_subscribe(subject, stream="IDENTITY")
        try:
            messages = await sub.fetch(100, timeout=1)
        except nats.errors.TimeoutError:
            return []
        return [json.loads(m.data) for m in messages]
    finally:
        await engine.dispose()
        await nc.close()


async def test_citizen_cannot_call_admin_routes(client: httpx.AsyncClient) -> None:
    citizen = await verify(client, "plain-citizen")
    target = citizen["citizen_id"]
    for method, path, body in [
        ("PUT", f"/v1/identity/citizens/{target}/roles", {"roles": ["admin"]}),
        ("POST", f"/v1/identity/citizens/{target}/suspension", {"reason": "x"}),
        ("GET", f"/v1/identity/citizens/{target}", None),
    ]:
        response = await client.request(
            method, path, json=body, headers=bearer(citizen["access_token"])
        )
        assert response.status_code == 403, path
        assert response.json()["type"].endswith("/forbidden")
        anonymous = await client.request(method, path, json=body)
        assert anonymous.status_code == 401
    me = await client.get("/v1/identity/me", headers=bearer(citizen["access_token"]))
    assert me.json()["roles"] == ["citizen"]


async def test_admin_grants_roles_that_the_next_token_carries(client: httpx.AsyncClient) -> None:
    admin = await _admin(client)
    official = await verify(client, "official")
    response = await client.put(
        f"/v1/identity/citizens/{official['citizen_id']}/roles",
        json={"roles": ["citizen", "department"], "department": "교통실"},
        headers=bearer(admin["access_token"]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["citizen", "department"]
    assert response.json()["department"] == "교통실"
    refreshed = (
        await client.post(
            "/v1/identity/tokens/refresh", json={"refresh_token": official["refresh_token"]}
        )
    ).json()
    me = await client.get("/v1/identity/me", headers=bearer(refreshed["access_token"]))
    assert me.json()["roles"] == ["citizen", "department"]


@pytest.mark.parametrize("role", ["moderator", "forum_staff", "auditor"])
async def test_admin_grants_the_moderation_and_venue_roles(
    client: httpx.AsyncClient, role: str
) -> None:
    admin = await _admin(client)
    staff = await verify(client, f"{role}-seed")
    response = await client.put(
        f"/v1/identity/citizens/{staff['citizen_id']}/roles",
        json={"roles": ["citizen", role]},
        headers=bearer(admin["access_token"]),
    )
    assert response.status_code == 200, response.text
    assert response.json()["roles"] == ["citizen", role]
    # The sandbox persona may carry it too (dev and test only).
    persona = await verify(client, f"{role}-persona", roles=[role])
    me = await client.get("/v1/identity/me", headers=bearer(persona["access_token"]))
    assert me.json()["roles"] == ["citizen", role]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"roles": ["department"]}, 422),  # department role without a department
        ({"roles": ["admin"], "department": "교통실"}, 422),  # department without the role
        ({"roles": ["emperor"]}, 422),
        ({"roles": "admin"}, 422),
        ({}, 422),
    ],
)
async def test_bad_role_updates_change_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], status: int
) -> None:
    admin = await _admin(client)
    official = await verify(client, "official-bad")
    response = await client.put(
        f"/v1/identity/citizens/{official['citizen_id']}/roles",
        json=body,
        headers=bearer(admin["access_token"]),
    )
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    view = await client.get(
        f"/v1/identity/citizens/{official['citizen_id']}", headers=bearer(admin["access_token"])
    )
    assert view.json()["roles"] == ["citizen"]


async def test_roles_for_unknown_citizen_is_404(client: httpx.AsyncClient) -> None:
    admin = await _admin(client)
    response = await client.put(
        "/v1/identity/citizens/00000000-0000-4000-8000-000000000000/roles",
        json={"roles": ["committee"]},
        headers=bearer(admin["access_token"]),
    )
    assert response.status_code == 404


async def test_suspension_publishes_event_and_blocks_refresh(
    client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    admin = await _admin(client)
    citizen = await verify(client, "to-suspend")
    response = await client.post(
        f"/v1/identity/citizens/{citizen['citizen_id']}/suspension",
        json={"reason": "신고 조사"},
        headers=bearer(admin["access_token"]),
    )
    assert response.status_code == 200
    assert response.json()["status"] == "suspended"
    # Idempotent: a second suspension publishes nothing new.
    again = await client.post(
        f"/v1/identity/citizens/{citizen['citizen_id']}/suspension",
        json={"reason": "신고 조사"},
        headers=bearer(admin["access_token"]),
    )
    assert again.status_code == 200

    refresh = await client.post(
        "/v1/identity/tokens/refresh", json={"refresh_token": citizen["refresh_token"]}
    )
    assert refresh.status_code == 401  # revoked with the suspension
    sign_in = await client.post(
        "/v1/identity/verifications/"
        + (await client.post("/v1/identity/verifications", json={"provider": "sandbox"})).json()[
            "verification_id"
        ]
        + "/complete",
        json={
            "persona": {
                "name": "a",
                "birthdate": "1990-01-01",
                "phone": "01011112222",
                "ci_seed": "to-suspend",
            }
        },
    )
    assert sign_in.status_code == 403
    assert sign_in.json()["type"].endswith("/citizen-suspended")

    events = await _relay_and_read(identity_settings, "identity.citizen_suspended.v1")
    assert len(events) == 1
    event = events[0]
    assert event["type"] == "kr.seoul.democracy.identity.citizen_suspended.v1"
    assert event["specversion"] == "1.0"
    assert event["source"] == "/identity-svc"
    assert event["data"]["citizen_id"] == citizen["citizen_id"]
    assert event["data"]["suspended_by"] == admin["citizen_id"]

    lifted = await client.delete(
        f"/v1/identity/citizens/{citizen['citizen_id']}/suspension",
        headers=bearer(admin["access_token"]),
    )
    assert lifted.json()["status"] == "active"
    assert len(await _relay_and_read(identity_settings, "identity.citizen_reinstated.v1")) == 1


async def test_verification_publishes_citizen_verified(
    client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    first = await verify(client, "event-seed")
    await verify(client, "event-seed", provider="sandbox_pass")
    events = await _relay_and_read(identity_settings, "identity.citizen_verified.v1")
    assert [e["data"]["first_verification"] for e in events] == [True, False]
    assert {e["data"]["citizen_id"] for e in events} == {first["citizen_id"]}
    assert [e["data"]["provider"] for e in events] == ["sandbox", "sandbox_pass"]
    assert "ci_hmac" not in events[0]["data"]
    # The relay marked them sent: a second pass publishes nothing.
    conn = await asyncpg.connect(to_plain_url(identity_settings.database_url))
    try:
        assert await conn.fetchval("SELECT count(*) FROM outbox WHERE sent_at IS NULL") == 0
    finally:
        await conn.close()


async def test_admin_cannot_suspend_or_demote_self(client: httpx.AsyncClient) -> None:
    admin = await _admin(client)
    me = admin["citizen_id"]
    suspend = await client.post(
        f"/v1/identity/citizens/{me}/suspension",
        json={"reason": "x"},
        headers=bearer(admin["access_token"]),
    )
    assert suspend.status_code == 409
    demote = await client.put(
        f"/v1/identity/citizens/{me}/roles",
        json={"roles": ["citizen"]},
        headers=bearer(admin["access_token"]),
    )
    assert demote.status_code == 409


async def test_create_admin_cli(
    client: httpx.AsyncClient,
    identity_settings: IdentitySettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    citizen = await verify(client, "future-admin")
    monkeypatch.setenv("IDENTITY_DATABASE_URL", identity_settings.database_url)
    get_settings.cache_clear()
    try:
        import asyncio

        code = await asyncio.to_thread(cli_main, ["create-admin", citizen["citizen_id"]])
        missing = await asyncio.to_thread(
            cli_main, ["create-admin", "00000000-0000-4000-8000-000000000000"]
        )
    finally:
        get_settings.cache_clear()
    assert code == 0
    assert missing == 1
    assert "admin" in capsys.readouterr().out
    refreshed = (
        await client.post(
            "/v1/identity/tokens/refresh", json={"refresh_token": citizen["refresh_token"]}
        )
    ).json()
    me = await client.get("/v1/identity/me", headers=bearer(refreshed["access_token"]))
    assert me.json()["roles"] == ["citizen", "admin"]
