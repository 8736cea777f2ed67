"""The common app: problem+json for every error, body limits, request ids, health, metrics."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy import text

from services.app import ServiceSpec, create_service_app
from services.config import ServiceSettings
from services.db import SessionDep, to_plain_url
from services.problems import ProblemError
from services_dev.localrt.nats import EmbeddedNats
from services_dev.testing import running_app
from services_dev.testing.servers import free_port


class ThingCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    count: int


router = APIRouter()


@router.post("/things", status_code=201)
async def create_thing(body: ThingCreate) -> ThingCreate:
    return body


@router.get("/conflict")
async def conflict() -> None:
    raise ProblemError(409, "already-voted", "Already voted", "once only", vote_id="v-1")


@router.get("/boom")
async def boom() -> None:
    raise RuntimeError("secret internal detail")


@router.get("/count")
async def count(session: SessionDep) -> dict[str, int]:
    return {"one": int((await session.execute(text("SELECT 1"))).scalar_one())}


@router.get("/bad-sql")
async def bad_sql(session: SessionDep) -> None:
    await session.execute(text("SELECT * FROM no_such_table"))


@pytest.fixture
async def client(service_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(
        service_name="test-svc",
        database_url=service_env["database_url"],
        nats_url=service_env["nats_url"],
        max_body_bytes=1024 * 1024,
    )
    app = create_service_app(
        settings, ServiceSpec(title="test-svc", description="t", routers=[router])
    )
    async with running_app(app) as c:
        yield c


def _is_problem(response: httpx.Response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == status
    assert body["type"] == f"https://democracy.seoul.example/problems/{slug}"
    assert body["title"]
    assert body["request_id"] == response.headers["x-request-id"]


async def test_valid_request(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", json={"name": "a", "count": 1})
    assert response.status_code == 201


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/things", content=b'{"name": ', headers={"content-type": "application/json"}
    )
    _is_problem(response, 400, "malformed-json")


async def test_wrong_types_and_missing_fields_are_422(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", json={"name": "a", "count": "many"})
    _is_problem(response, 422, "validation-error")
    assert response.json()["errors"][0]["loc"] == ["body", "count"]
    _is_problem(await client.post("/things", json={"name": "a"}), 422, "validation-error")
    _is_problem(await client.post("/things", json=[1, 2]), 422, "validation-error")


async def test_oversized_body_is_413_by_length_and_by_stream(client: httpx.AsyncClient) -> None:
    big = b'{"name": "' + b"x" * (2 * 1024 * 1024) + b'", "count": 1}'
    _is_problem(
        await client.post("/things", content=big, headers={"content-type": "application/json"}),
        413,
        "payload-too-large",
    )

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(40):
            yield b"x" * 65536

    # No Content-Length: the limit is enforced while the body streams in.
    response = await client.post(
        "/things", content=chunks(), headers={"content-type": "application/json"}
    )
    _is_problem(response, 413, "payload-too-large")


async def test_domain_problem_carries_extensions(client: httpx.AsyncClient) -> None:
    response = await client.get("/conflict")
    _is_problem(response, 409, "already-voted")
    assert response.json()["vote_id"] == "v-1"
    assert response.json()["detail"] == "once only"


async def test_unknown_route_and_method(client: httpx.AsyncClient) -> None:
    _is_problem(await client.get("/nowhere"), 404, "not-found")
    _is_problem(await client.delete("/things"), 405, "method-not-allowed")


async def test_unexpected_error_does_not_leak(client: httpx.AsyncClient) -> None:
    response = await client.get("/boom")
    _is_problem(response, 500, "internal-error")
    assert "secret" not in response.text


async def test_request_id_is_kept_or_made(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123"
    made = await client.get("/healthz", headers={"X-Request-ID": "bad id with spaces\n"})
    assert made.headers["x-request-id"] != "bad id with spaces\n"
    assert len(made.headers["x-request-id"]) == 36


async def test_health_ready_metrics(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    ready = await client.get("/readyz")
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "nats": "ok"}}
    await client.post("/things", json={"name": "a", "count": 1})
    metrics = await client.get("/metrics")
    assert metrics.status_code == 200
    assert 'http_requests_total{method="POST",route="/things",status="201"}' in metrics.text


async def test_readyz_reports_unreachable_database(service_env: dict[str, str]) -> None:
    settings = ServiceSettings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
        nats_url=service_env["nats_url"],
    )
    app = create_service_app(settings, ServiceSpec(title="t", description="t"))
    async with running_app(app) as c:
        response = await c.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["database"].startswith("unreachable")


async def test_openapi_documents_problems(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    assert "Problem" in doc["components"]["schemas"]
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    responses = doc["paths"]["/things"]["post"]["responses"]
    assert responses["422"]["content"]["application/problem+json"]["schema"] == {
        "$ref": "#/components/schemas/Problem"
    }


async def test_a_request_while_the_database_is_unreachable_is_503_with_retry_after(
    service_env: dict[str, str],
) -> None:
    settings = ServiceSettings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:1/none",
        nats_url=service_env["nats_url"],
    )
    app = create_service_app(settings, ServiceSpec(title="t", description="t", routers=[router]))
    async with running_app(app) as c:
        response = await c.get("/count")
    _is_problem(response, 503, "database-unavailable")
    assert response.headers["retry-after"] == "1"


async def test_a_database_error_that_is_not_an_outage_stays_500(
    client: httpx.AsyncClient,
) -> None:
    assert (await client.get("/count")).json() == {"one": 1}
    _is_problem(await client.get("/bad-sql"), 500, "internal-error")


async def test_readyz_says_nats_is_down_and_turns_ready_by_itself_when_it_is_back(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    server = EmbeddedNats(tmp_path / "nats", free_port(), free_port())
    server.start()
    settings = ServiceSettings(database_url=service_env["database_url"], nats_url=server.url)
    app = create_service_app(settings, ServiceSpec(title="t", description="t"))
    try:
        async with running_app(app) as c:
            assert (await c.get("/readyz")).status_code == 200
            server.stop()
            down = await c.get("/readyz")
            assert down.status_code == 503
            assert down.json()["checks"] == {"database": "ok", "nats": "not connected"}
            server.start()  # same ports, same store directory
            for _ in range(100):
                if (await c.get("/readyz")).status_code == 200:
                    break
                await asyncio.sleep(0.1)
            assert (await c.get("/readyz")).json()["checks"]["nats"] == "ok"
    finally:
        server.stop()


async def test_the_pool_recovers_after_the_server_dropped_every_connection(
    client: httpx.AsyncClient, service_env: dict[str, str]
) -> None:
    """What a PostgreSQL restart does to an API's pool (no pre-ping): the dropped connections
    fail once, SQLAlchemy discards the stale pool, and the next requests reconnect."""
    assert (await client.get("/readyz")).status_code == 200
    assert (await client.get("/count")).status_code == 200
    database = service_env["database_url"].rsplit("/", 1)[1]
    admin = await asyncpg.connect(to_plain_url(service_env["database_url"]))
    try:
        dropped = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = $1 AND pid <> pg_backend_pid()",
            database,
        )
    finally:
        await admin.close()
    assert dropped >= 1
    answers = [(await client.get("/count")).status_code for _ in range(3)]
    # A request on a dropped connection is told to retry (503), never a 500; then it works.
    assert set(answers[:1]) <= {200, 503}
    assert answers[1:] == [200, 200]
    assert (await client.get("/readyz")).status_code == 200
