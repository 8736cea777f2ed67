"""Small helpers for identity-svc tests: the sandbox flow through the HTTP API."""

from __future__ import annotations

from typing import Any

import asyncpg
import httpx

from identity_svc.config import IdentitySettings
from services.db import to_plain_url


def persona(seed: str, **extra: Any) -> dict[str, Any]:
    """A sandbox persona; the same seed is the same person."""
    return {
        "persona": {
            "name": "김시민",
            "birthdate": "1988-03-09",
            "phone": "010-2345-6789",
            "ci_seed": seed,
            **extra,
        }
    }


async def start(client: httpx.AsyncClient, provider: str = "sandbox") -> str:
    response = await client.post("/v1/identity/verifications", json={"provider": provider})
    assert response.status_code == 201, response.text
    return str(response.json()["verification_id"])


async def verify(
    client: httpx.AsyncClient, seed: str, provider: str = "sandbox", **extra: Any
) -> dict[str, Any]:
    """Start and complete a sandbox verification; returns the completion body."""
    verification_id = await start(client, provider)
    response = await client.post(
        f"/v1/identity/verifications/{verification_id}/complete", json=persona(seed, **extra)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def count(settings: IdentitySettings, table: str, where: str = "true") -> int:
    """Rows of ``table`` (matching ``where``) in the service's database."""
    conn = await asyncpg.connect(to_plain_url(settings.database_url))
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table} WHERE {where}"))
    finally:
        await conn.close()


async def fetchval(settings: IdentitySettings, query: str, *args: Any) -> Any:
    """The first value of ``query``'s first row in the service's database."""
    conn = await asyncpg.connect(to_plain_url(settings.database_url))
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


async def execute(settings: IdentitySettings, statement: str, *args: Any) -> None:
    """Run one SQL statement on the service's database (to set up a state)."""
    conn = await asyncpg.connect(to_plain_url(settings.database_url))
    try:
        await conn.execute(statement, *args)
    finally:
        await conn.close()


async def stored_text(settings: IdentitySettings) -> tuple[list[str], str]:
    """Every table of the service and everything stored in them, as one text: each row, and each
    bytea value as hex and as raw bytes too (for scanning for personal data)."""
    conn = await asyncpg.connect(to_plain_url(settings.database_url))
    try:
        tables = [
            r["tablename"]
            for r in await conn.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        ]
        dump = ""
        for table in tables:
            rows = await conn.fetch(f'SELECT * FROM "{table}"')
            dump += "\n".join(str(dict(r)) for r in rows)
            for r in rows:
                for value in r.values():
                    if isinstance(value, bytes):
                        dump += value.hex() + value.decode("latin-1")
    finally:
        await conn.close()
    return tables, dump


def assert_not_stored(dump: str, secrets: list[str]) -> None:
    """None of ``secrets`` is in ``dump``, as text, as UTF-8 hex or as UTF-16 hex."""
    for secret in secrets:
        assert secret not in dump, f"{secret!r} is stored"
        assert secret.encode().hex() not in dump
        assert secret.encode("utf-16-le").hex() not in dump
