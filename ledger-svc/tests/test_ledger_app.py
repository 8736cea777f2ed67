"""ledger-svc serves the common operations endpoints against real Postgres and NATS."""

from __future__ import annotations

import httpx

from ledger_svc.config import LedgerSettings
from ledger_svc.main import create_app
from services.testing import running_app


async def test_health_ready_and_openapi(service_env: dict[str, str]) -> None:
    settings = LedgerSettings(
        database_url=service_env["database_url"], nats_url=service_env["nats_url"]
    )
    async with running_app(create_app(settings)) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "nats": "ok"}
        unknown = await client.get("/v1/ledger/nothing-here")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        assert (await client.get("/openapi.json")).json()["info"]["title"] == "ledger-svc"
        assert isinstance(client, httpx.AsyncClient)
