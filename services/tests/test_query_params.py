"""A GET with a query parameter its route does not declare is refused with 422
``unknown-query-parameter`` before the endpoint runs; declared ones (from the route, its
dependencies and aliases) pass."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter, Depends, Query

from services.app import ServiceSpec, create_service_app
from services.config import ServiceSettings
from services_dev.testing import running_app

router = APIRouter(prefix="/v1")
CALLS: list[str] = []


async def page(cursor: str | None = None, limit: int = 20) -> tuple[str | None, int]:
    return cursor, limit


@router.get("/things")
async def list_things(
    paging: Annotated[tuple[str | None, int], Depends(page)],
    status: Annotated[str | None, Query()] = None,
    text: Annotated[str | None, Query(alias="q")] = None,
) -> dict[str, object]:
    CALLS.append("list")
    return {"status": status, "q": text, "limit": paging[1]}


@router.get("/things/{thing_id}")
async def get_thing(thing_id: str) -> dict[str, str]:
    CALLS.append("get")
    return {"id": thing_id}


@router.post("/things")
async def create_thing() -> dict[str, str]:
    CALLS.append("create")
    return {"id": "1"}


@pytest.fixture
async def client(service_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(
        service_name="test-svc",
        database_url=service_env["database_url"],
        nats_url=service_env["nats_url"],
    )
    app = create_service_app(
        settings, ServiceSpec(title="test-svc", description="t", routers=[router])
    )
    CALLS.clear()
    async with running_app(app) as c:
        yield c


async def test_declared_query_parameters_pass(client: httpx.AsyncClient) -> None:
    response = await client.get("/v1/things", params={"status": "open", "q": "따릉이", "limit": 5})
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "open", "q": "따릉이", "limit": 5}
    assert (await client.get("/v1/things", params={"cursor": "c"})).status_code == 200
    assert (await client.get("/v1/things/7")).status_code == 200


async def test_an_unknown_query_parameter_is_a_422_and_the_endpoint_does_not_run(
    client: httpx.AsyncClient,
) -> None:
    CALLS.clear()
    for path, params, allowed in (
        ("/v1/things", {"statuss": "open", "status": "open"}, ["cursor", "limit", "q", "status"]),
        ("/v1/things", {"text": "x"}, ["cursor", "limit", "q", "status"]),  # the alias is `q`
        ("/v1/things/7", {"verbose": "1"}, []),
    ):
        response = await client.get(path, params=params)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["type"].endswith("/unknown-query-parameter")
        assert body["allowed"] == allowed
        assert body["unknown"] == sorted(set(params) - set(allowed))
    assert CALLS == []
    korean = await client.get("/v1/things", params={"x": "1"}, headers={"Accept-Language": "ko"})
    assert korean.json()["title"] == "알 수 없는 쿼리 매개변수"
    assert "x" in korean.json()["detail"]


async def test_only_get_routes_are_checked(client: httpx.AsyncClient) -> None:
    # Webhook providers and callbacks may add their own query parameters to a POST.
    assert (await client.post("/v1/things", params={"provider_ref": "1"})).status_code == 200


async def test_the_document_says_every_get_may_answer_422(client: httpx.AsyncClient) -> None:
    document = (await client.get("/openapi.json")).json()
    for path in ("/v1/things", "/v1/things/{thing_id}"):
        response = document["paths"][path]["get"]["responses"]["422"]
        assert "application/problem+json" in response["content"]
