"""Real-name verification through the sandbox providers, against real Postgres."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from identity_helpers import persona, start, verify
from pydantic import ValidationError

from identity_svc.config import IdentitySettings
from identity_svc.main import build_providers
from identity_svc.providers.sandbox import sandbox_ci, sandbox_di
from services.db import to_plain_url


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
    seed = "pii-check-seed"
    await verify(client, seed)
    await verify(client, seed, provider="sandbox_pass")
    secrets = [
        "김시민",
        "010-2345-6789",
        "01023456789",
        "1988-03-09",
        sandbox_ci(seed),
        sandbox_di("sandbox", seed),
        sandbox_di("sandbox_pass", seed),
        seed,
    ]
    conn = await asyncpg.connect(to_plain_url(identity_settings.database_url))
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        dump = ""
        for table in tables:
            rows = await conn.fetch(f'SELECT * FROM "{table}"')
            dump += "\n".join(str(dict(r)) for r in rows)
            # bytea columns: look at their hex and raw bytes too.
            for r in rows:
                for value in r.values():
                    if isinstance(value, bytes):
                        dump += value.hex() + value.decode("latin-1")
    finally:
        await conn.close()
    assert "citizens" in tables
    for secret in secrets:
        assert secret not in dump, f"{secret!r} is stored"
        assert secret.encode().hex() not in dump


def test_sandbox_is_refused_in_production() -> None:
    with pytest.raises(ValidationError, match="refused in production"):
        IdentitySettings(
            environment="production",
            sandbox_enabled=True,
            ci_pepper="p" * 32,
            di_pepper="d" * 32,
            key_encryption_key="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
        )
    production = IdentitySettings(
        environment="production",
        ci_pepper="p" * 32,
        di_pepper="d" * 32,
        key_encryption_key="MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    )
    assert production.sandbox_active is False
    assert build_providers(production).names == []


def test_production_refuses_dev_secrets() -> None:
    with pytest.raises(ValidationError, match="IDENTITY_CI_PEPPER must be set"):
        IdentitySettings(environment="production")
