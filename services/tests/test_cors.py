"""CORS: preflights from allowed origins get a 204 grant before any route, limit or token check;
real requests get Allow-Origin and Expose-Headers; other origins get no grant."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import APIRouter, Response

from services.app import ServiceSpec, create_service_app
from services.auth import CurrentPrincipal
from services.config import ServiceSettings
from services.cors import DEV_ORIGINS, parse_origins
from services_dev.testing import running_app

APP_ORIGIN = "https://app.seoul.example"
router = APIRouter()


@router.post("/things", status_code=201)
async def create_thing(response: Response) -> dict[str, str]:
    response.headers["Location"] = "/things/1"
    return {"id": "1"}


@router.get("/mine")
async def mine(principal: CurrentPrincipal) -> dict[str, str]:
    return {"citizen_id": str(principal.citizen_id)}


@pytest.fixture
async def client(
    service_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    monkeypatch.setenv("PLATFORM_CORS_ORIGINS", f"{APP_ORIGIN}, http://localhost:5173/")
    settings = ServiceSettings(
        service_name="test-svc",
        database_url=service_env["database_url"],
        nats_url=service_env["nats_url"],
    )
    app = create_service_app(
        settings, ServiceSpec(title="test-svc", description="t", routers=[router])
    )
    async with running_app(app) as c:
        yield c


def _preflight_headers(origin: str, method: str = "POST") -> dict[str, str]:
    return {
        "Origin": origin,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
    }


async def test_a_preflight_from_an_allowed_origin_is_granted_with_204(
    client: httpx.AsyncClient,
) -> None:
    # A protected route: the preflight carries no token and must still be granted.
    for path, method in (("/things", "POST"), ("/mine", "GET")):
        response = await client.options(path, headers=_preflight_headers(APP_ORIGIN, method))
        assert response.status_code == 204, response.text
        assert response.content == b""
        assert response.headers["access-control-allow-origin"] == APP_ORIGIN
        assert "Origin" in response.headers["vary"]
        methods = response.headers["access-control-allow-methods"]
        assert {"GET", "POST", "PUT", "PATCH", "DELETE"} <= set(methods.split(", "))
        allowed = {h.lower() for h in response.headers["access-control-allow-headers"].split(", ")}
        assert {"authorization", "content-type", "idempotency-key", "x-request-id"} <= allowed
        assert {"accept-language", "if-none-match"} <= allowed
        assert int(response.headers["access-control-max-age"]) > 0
    # The origin list tolerates spaces and a trailing slash.
    granted = await client.options("/things", headers=_preflight_headers("http://localhost:5173"))
    assert granted.headers["access-control-allow-origin"] == "http://localhost:5173"


async def test_a_preflight_from_another_origin_gets_no_grant(client: httpx.AsyncClient) -> None:
    for origin in ("https://evil.example", "http://localhost:3000", APP_ORIGIN + ".evil.example"):
        response = await client.options("/things", headers=_preflight_headers(origin))
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/cors-origin-not-allowed")
        assert "access-control-allow-origin" not in response.headers
        assert "access-control-allow-methods" not in response.headers


async def test_real_requests_from_an_allowed_origin_expose_the_headers(
    client: httpx.AsyncClient,
) -> None:
    created = await client.post("/things", headers={"Origin": APP_ORIGIN})
    assert created.status_code == 201
    assert created.headers["access-control-allow-origin"] == APP_ORIGIN
    exposed = {h.strip() for h in created.headers["access-control-expose-headers"].split(",")}
    assert {"Location", "Retry-After", "X-Request-ID", "ETag"} <= exposed
    assert "Origin" in created.headers["vary"]
    # Refusals carry the grant too, so that a page can read the problem document.
    refused = await client.get("/mine", headers={"Origin": APP_ORIGIN})
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == APP_ORIGIN
    # No credentials mode: tokens travel in Authorization, not in cookies.
    assert "access-control-allow-credentials" not in created.headers


async def test_real_requests_from_another_origin_get_no_grant(client: httpx.AsyncClient) -> None:
    response = await client.post("/things", headers={"Origin": "https://evil.example"})
    assert response.status_code == 201  # CORS is enforced by the browser, not the server
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-expose-headers" not in response.headers
    assert "Origin" in response.headers["vary"]
    plain = await client.post("/things")
    assert "access-control-allow-origin" not in plain.headers


def test_the_allow_list_defaults_to_the_dev_front_ends_outside_production() -> None:
    assert parse_origins(None, production=False) == frozenset(DEV_ORIGINS)
    assert {"http://localhost:5173", "http://localhost:3000"} <= set(DEV_ORIGINS)
    assert parse_origins(None, production=True) == frozenset()
    assert parse_origins("", production=False) == frozenset()
    settings = ServiceSettings(environment="production", cors_origins="https://a.example,")
    assert settings.cors_allow_origins == frozenset({"https://a.example"})
    assert ServiceSettings().cors_allow_origins == frozenset(DEV_ORIGINS)
