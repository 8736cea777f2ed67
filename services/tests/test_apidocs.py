"""The API documents every service serves: Swagger UI from a package (no CDN) and the platform's
merged OpenAPI document."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from services.apidocs import PLATFORM_DOCUMENT, PLATFORM_DOCUMENT_PATH
from services.app import ServiceSpec, create_service_app
from services.config import ServiceSettings
from services_dev.testing import running_app


@pytest.fixture
async def client(service_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    settings = ServiceSettings(
        service_name="test-svc",
        database_url=service_env["database_url"],
        nats_url=service_env["nats_url"],
    )
    app = create_service_app(settings, ServiceSpec(title="test-svc", description="t"))
    async with running_app(app) as c:
        yield c


async def test_swagger_ui_is_served_from_the_package_without_any_cdn(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    assert "SwaggerUIBundle" in html
    references = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html)
    assert references, html
    for ref in references:
        assert ref.startswith("/docs/assets/"), ref
    assert "cdn" not in html.lower()
    assert PLATFORM_DOCUMENT_PATH in html
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
        response = await client.get(f"/docs/assets/{asset}")
        assert response.status_code == 200, asset
        assert len(response.content) > 100, asset
    # FastAPI's own CDN pages are off.
    assert (await client.get("/redoc")).status_code == 404


async def test_the_platform_document_is_served(client: httpx.AsyncClient) -> None:
    response = await client.get(PLATFORM_DOCUMENT_PATH)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document == json.loads(PLATFORM_DOCUMENT.read_text())
    assert document["openapi"].startswith("3.1")
    # The service's own document stays at /openapi.json, without the docs routes.
    own = (await client.get("/openapi.json")).json()
    assert own["info"]["title"] == "test-svc"
    assert "/docs" not in own["paths"]
    assert PLATFORM_DOCUMENT_PATH not in own["paths"]
