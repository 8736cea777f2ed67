"""Small helpers for identity-svc tests: the sandbox flow through the HTTP API."""

from __future__ import annotations

from typing import Any

import httpx


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
