"""notify-svc serves the common operations endpoints against real Postgres and NATS."""

from __future__ import annotations

import httpx

from notify_svc.bootstrap import bootstrap
from notify_svc.config import NotifySettings
from notify_svc.main import create_app
from services_dev.testing import running_app


async def test_health_ready_and_openapi(service_env: dict[str, str]) -> None:
    settings = NotifySettings(
        database_url=service_env["database_url"], nats_url=service_env["nats_url"]
    )
    async with running_app(create_app(bootstrap(settings))) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
        assert ready.status_code == 200, ready.text
        assert ready.json()["checks"] == {"database": "ok", "nats": "ok"}
        unknown = await client.get("/v1/notify/nothing-here")
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        assert (await client.get("/openapi.json")).json()["info"]["title"] == "notify-svc"
        assert isinstance(client, httpx.AsyncClient)
