"""The common app: problem+json for every error, body limits, request ids, health, metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from services.app import ServiceSpec, create_service_app
from services.config import ServiceSettings
from services.problems import ProblemError
from services_dev.testing import running_app


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
