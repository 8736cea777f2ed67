"""Real-name verification through the sandbox providers, against real Postgres."""

from __future__ import annotations

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from identity_helpers import assert_not_stored, persona, start, stored_text, verify
from pydantic import ValidationError

from identity_svc.bootstrap import bootstrap, build_providers
from identity_svc.config import IdentitySettings
from identity_svc.main import create_app
from identity_svc.providers.sandbox import sandbox_ci, sandbox_di
from services.clock import ManualClock
from services.db import to_plain_url
from services.internal_auth import DEV_NOTIFY_SERVICE_KEY, PLATFORM_SERVICES, dev_service_key
from services_dev.testing import running_app


async def _count(settings: IdentitySettings, table: str) -> int:
    conn = await asyncpg.connect(to_plain_url(settings.database_url))
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


async def test_start_offers_the_sandbox_form(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/identity/verifications", json={"provider": "sandbox"})
    assert response.status_code == 201
    body = response.json()
    assert body["provider"] == "sandbox"
    assert body["next"]["type"] == "sandbox_form"
    assert body["next"]["complete_url"].endswith(f"/{body['verification_id']}/complete")
    expires = datetime.fromisoformat(body["expires_at"])
    assert timedelta(minutes=9) < expires - datetime.now(UTC) <= timedelta(minutes=10)


async def test_unknown_provider_is_a_problem(client: httpx.AsyncClient) -> None:
    response = await client.post("/v1/identity/verifications", json={"provider": "nice"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/unknown-provider")
    assert response.json()["available"] == ["sandbox", "sandbox_pass"]


async def test_same_seed_is_the_same_citizen(client: httpx.AsyncClient) -> None:
    first = await verify(client, "seed-same")
    again = await verify(client, "seed-same")
    other = await verify(client, "seed-other")
    assert first["created"] is True
    assert again["created"] is False
    assert again["citizen_id"] == first["citizen_id"]
    assert other["citizen_id"] != first["citizen_id"]


async def test_two_providers_one_person_one_citizen(
    client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    # Same person (same CI) through two providers whose DIs differ: still one account.
    assert sandbox_di("sandbox", "p") != sandbox_di("sandbox_pass", "p")
    first = await verify(client, "two-providers", provider="sandbox")
    second = await verify(client, "two-providers", provider="sandbox_pass")
    assert second["citizen_id"] == first["citizen_id"]
    assert second["created"] is False
    me = await client.get(
        "/v1/identity/me", headers={"Authorization": f"Bearer {second['access_token']}"}
    )
    assert me.json()["providers"] == ["sandbox", "sandbox_pass"]
    assert await _count(identity_settings, "citizens") == 1


async def test_twenty_concurrent_completions_make_one_citizen(
    client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    ids = [await start(client) for _ in range(20)]
    responses = await asyncio.gather(
        *(
            client.post(f"/v1/identity/verifications/{vid}/complete", json=persona("concurrent"))
            for vid in ids
        )
    )
    assert [r.status_code for r in responses] == [200] * 20
    citizen_ids = {r.json()["citizen_id"] for r in responses}
    assert len(citizen_ids) == 1
    assert sum(r.json()["created"] for r in responses) == 1
    assert await _count(identity_settings, "citizens") == 1


async def test_replayed_completion_is_refused(
    client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    vid = await start(client)
    ok = await client.post(f"/v1/identity/verifications/{vid}/complete", json=persona("replay-a"))
    assert ok.status_code == 200
    replay = await client.post(
        f"/v1/identity/verifications/{vid}/complete", json=persona("replay-b")
    )
    assert replay.status_code == 409
    assert replay.json()["type"].endswith("/verification-already-used")
    assert await _count(identity_settings, "citizens") == 1


async def test_concurrent_replays_complete_once(client: httpx.AsyncClient) -> None:
    vid = await start(client)
    responses = await asyncio.gather(
        *(
            client.post(f"/v1/identity/verifications/{vid}/complete", json=persona(f"race-{i}"))
            for i in range(10)
        )
    )
    assert sorted(r.status_code for r in responses) == [200] + [409] * 9


async def test_expired_completion_is_refused(
    client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    vid = await start(client)
    conn = await asyncpg.connect(to_plain_url(identity_settings.database_url))
    try:
        await conn.execute(
            "UPDATE verifications SET expires_at = now() - interval '1 second' WHERE id = $1::uuid",
            vid,
        )
    finally:
        await conn.close()
    response = await client.post(f"/v1/identity/verifications/{vid}/complete", json=persona("late"))
    assert response.status_code == 410
    assert response.json()["type"].endswith("/verification-expired")
    assert await _count(identity_settings, "citizens") == 0


async def test_a_verification_expires_by_the_services_clock(
    identity_settings: IdentitySettings,
) -> None:
    """The attempt's lifetime and the sign-in's timestamps come from the context's clock."""
    clock = ManualClock()
    async with running_app(create_app(bootstrap(identity_settings, clock=clock))) as client:
        vid = await start(client)
        clock.advance(seconds=identity_settings.verification_ttl_seconds - 1)
        on_time = await start(client)
        clock.advance(seconds=2)
        late = await client.post(
            f"/v1/identity/verifications/{vid}/complete", json=persona("clock-late")
        )
        assert late.status_code == 410
        assert late.json()["type"].endswith("/verification-expired")
        done = await client.post(
            f"/v1/identity/verifications/{on_time}/complete", json=persona("clock-on-time")
        )
        assert done.status_code == 200, done.text
    conn = await asyncpg.connect(to_plain_url(identity_settings.database_url))
    try:
        verified_at = await conn.fetchval("SELECT verified_at FROM citizens")
    finally:
        await conn.close()
    assert verified_at == clock.now()


async def test_unknown_verification_is_404(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/v1/identity/verifications/00000000-0000-4000-8000-000000000000/complete",
        json=persona("nobody"),
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "payload",
    [
        {"persona": {**persona("x")["persona"], "rrn": "900101-1234567"}},
        {"persona": {**persona("x")["persona"], "phone": "02-123-4567"}},
        {"persona": {**persona("x")["persona"], "birthdate": "not a date"}},
        {"persona": {**persona("x")["persona"], "roles": ["emperor"]}},
        {"persona": "just a string"},
        {"something": "else"},
    ],
    ids=["resident-number", "landline", "bad-date", "unknown-role", "not-an-object", "no-persona"],
)
async def test_tampered_payload_is_refused_and_burns_the_attempt(
    client: httpx.AsyncClient, identity_settings: IdentitySettings, payload: dict[str, object]
) -> None:
    vid = await start(client)
    refused = await client.post(f"/v1/identity/verifications/{vid}/complete", json=payload)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/verification-rejected")
    retry = await client.post(f"/v1/identity/verifications/{vid}/complete", json=persona("x"))
    assert retry.status_code == 409
    assert await _count(identity_settings, "citizens") == 0


async def test_malformed_json_and_wrong_types_write_nothing(
    client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    malformed = await client.post(
        "/v1/identity/verifications",
        content=b'{"provider": "sandbox"',
        headers={"content-type": "application/json"},
    )
    assert malformed.status_code == 400
    assert malformed.json()["type"].endswith("/malformed-json")
    wrong_type = await client.post("/v1/identity/verifications", json={"provider": 42})
    assert wrong_type.status_code == 422
    assert wrong_type.json()["type"].endswith("/validation-error")
    extra = await client.post(
        "/v1/identity/verifications", json={"provider": "sandbox", "admin": True}
    )
    assert extra.status_code == 422
    huge = await client.post(
        "/v1/identity/verifications",
        content=b'{"provider": "' + b"a" * (2 * 1024 * 1024) + b'"}',
        headers={"content-type": "application/json"},
    )
    assert huge.status_code == 413
    assert huge.headers["content-type"] == "application/problem+json"
    assert await _count(identity_settings, "verifications") == 0


async def test_no_raw_personal_data_is_stored(
    client: httpx.AsyncClient, identity_settings: IdentitySettings
) -> None:
    """Name, birthdate, CI, DI and the ci_seed are stored nowhere; the phone, which notify-svc
    needs, only sealed in citizen_contacts: no table holds it in plaintext in any form."""
    seed = "pii-check-seed"
    completed = await verify(client, seed)
    await verify(client, seed, provider="sandbox_pass")
    secrets = [
        "김시민",
        "010-2345-6789",
        "01023456789",
        "1023456789",
        "23456789",
        "1988-03-09",
        "19880309",
        sandbox_ci(seed),
        sandbox_di("sandbox", seed),
        sandbox_di("sandbox_pass", seed),
        seed,
    ]
    tables, dump = await stored_text(identity_settings)
    conn = await asyncpg.connect(to_plain_url(identity_settings.database_url))
    try:
        contacts = await conn.fetch("SELECT citizen_id, phone_sealed FROM citizen_contacts")
    finally:
        await conn.close()
    assert "citizens" in tables
    # The phone is there (so the scan above looked at it), sealed for this citizen.
    assert "citizen_contacts" in tables
    assert [str(r["citizen_id"]) for r in contacts] == [completed["citizen_id"]]
    assert len(contacts[0]["phone_sealed"]) == 12 + len("01023456789") + 16
    assert_not_stored(dump, secrets)


#: Production settings with every secret set (none of them a dev default).
PRODUCTION_SECRETS: dict[str, Any] = {
    "ci_pepper": "p" * 32,
    "di_pepper": "d" * 32,
    "key_encryption_key": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    "contact_key": base64.b64encode(b"c" * 32).decode(),
    "internal_keys": {"notify-svc": base64.b64encode(b"n" * 32).decode()},
}


def test_sandbox_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="refused in production"):
        IdentitySettings(environment="production", sandbox_enabled=True, **PRODUCTION_SECRETS)
    production = IdentitySettings(environment="production", **PRODUCTION_SECRETS)
    assert production.sandbox_active is False
    assert build_providers(production).names == []


def test_production_refuses_dev_secrets() -> None:
    with pytest.raises(ValidationError, match="IDENTITY_CI_PEPPER must be set"):
        IdentitySettings(environment="production")


@pytest.mark.parametrize(
    ("dev_setting", "env"),
    [
        ({"contact_key": None}, "IDENTITY_CONTACT_KEY"),
        ({"internal_keys": None}, "IDENTITY_INTERNAL_KEYS"),
        (
            {
                "internal_keys": {
                    "notify-svc": DEV_NOTIFY_SERVICE_KEY,
                    "other-svc": base64.b64encode(b"o" * 32).decode(),
                }
            },
            "IDENTITY_INTERNAL_KEYS",
        ),
    ],
)
def test_production_refuses_the_dev_contact_and_internal_keys(
    dev_setting: dict[str, Any], env: str
) -> None:
    """Left unset (None here), or set to the development key, they are refused in production."""
    secrets = {**PRODUCTION_SECRETS, **dev_setting}
    secrets = {k: v for k, v in secrets.items() if v is not None}
    with pytest.raises(ValidationError, match=f"{env} must be set in production"):
        IdentitySettings(environment="production", **secrets)
    IdentitySettings(environment="dev", **secrets)


@pytest.mark.parametrize(
    ("setting", "match"),
    [
        ({"contact_key": base64.b64encode(b"short").decode()}, "IDENTITY_CONTACT_KEY"),
        ({"contact_key": "not base64!"}, "IDENTITY_CONTACT_KEY"),
        ({"internal_keys": {"notify-svc": "c2hvcnQ="}}, "IDENTITY_INTERNAL_KEYS"),
    ],
)
def test_malformed_contact_and_internal_keys_are_refused(
    setting: dict[str, Any], match: str
) -> None:
    with pytest.raises(ValidationError, match=match):
        IdentitySettings(**setting)


def test_internal_keys_are_read_as_json_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = base64.b64encode(b"k" * 32).decode()
    monkeypatch.setenv("IDENTITY_INTERNAL_KEYS", json.dumps({"notify-svc": key}))
    settings = IdentitySettings()
    assert settings.internal_key_bytes == {"notify-svc": b"k" * 32}
    assert key not in repr(settings)
    monkeypatch.delenv("IDENTITY_INTERNAL_KEYS")
    # Unset: every platform service's development key (each may call identity-svc).
    defaults = IdentitySettings().internal_key_bytes
    assert defaults["notify-svc"] == base64.b64decode(DEV_NOTIFY_SERVICE_KEY)
    assert defaults == {
        service: base64.b64decode(dev_service_key(service)) for service in PLATFORM_SERVICES
    }
