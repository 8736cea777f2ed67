"""End to end through Caddy on the platform's single entry: what a browser front end on another
origin needs. Preflights and real requests exactly as a browser sends them (CORS grant for the
configured origins, none for others), and the API documents (/openapi.json, /docs)."""

from __future__ import annotations

import json

import httpx
import pytest
from e2e_runtime import Runtime

from services.apidocs import PLATFORM_DOCUMENT

pytestmark = pytest.mark.e2e

APP_ORIGIN = "https://app.seoul.example"
OTHER_ORIGIN = "https://elsewhere.example"
PERSONA = {"name": "김민지", "birthdate": "1992-03-04", "phone": "01022223333", "ci_seed": "cors-1"}


def _preflight(client: httpx.Client, url: str, origin: str, method: str) -> httpx.Response:
    # What a browser sends before a cross-origin POST with a bearer token and a JSON body.
    return client.options(
        url,
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": method,
            "Access-Control-Request-Headers": "authorization,content-type,idempotency-key",
            "Sec-Fetch-Mode": "cors",
            "Referer": f"{origin}/",
        },
    )


def _assert_cors(client: httpx.Client, entry: str) -> None:
    for path, method in (
        ("/v1/identity/verifications", "POST"),
        ("/v1/proposals", "POST"),
        ("/v1/votes/agreements", "POST"),
        ("/v1/ledger/head", "GET"),
        ("/v1/notifications/preferences", "PUT"),
    ):
        granted = _preflight(client, entry + path, APP_ORIGIN, method)
        assert granted.status_code == 204, (path, granted.text)
        assert granted.headers["access-control-allow-origin"] == APP_ORIGIN, path
        assert method in granted.headers["access-control-allow-methods"], path
        allowed = granted.headers["access-control-allow-headers"].lower()
        for header in ("authorization", "content-type", "idempotency-key", "x-request-id"):
            assert header in allowed, (path, header)
        refused = _preflight(client, entry + path, OTHER_ORIGIN, method)
        assert "access-control-allow-origin" not in refused.headers, path
        assert refused.status_code == 403, path

    # The real requests that follow the preflight: a sign-in, then a protected read.
    started = client.post(
        f"{entry}/v1/identity/verifications",
        json={"provider": "sandbox"},
        headers={"Origin": APP_ORIGIN},
    )
    assert started.status_code == 201, started.text
    assert started.headers["access-control-allow-origin"] == APP_ORIGIN
    exposed = started.headers["access-control-expose-headers"]
    for header in ("Location", "Retry-After", "X-Request-ID", "ETag"):
        assert header in exposed
    done = client.post(
        f"{entry}/v1/identity/verifications/{started.json()['verification_id']}/complete",
        json={"persona": PERSONA},
        headers={"Origin": APP_ORIGIN},
    )
    assert done.status_code == 200, done.text
    token = done.json()["access_token"]
    me = client.get(
        f"{entry}/v1/identity/me",
        headers={"Origin": APP_ORIGIN, "Authorization": f"Bearer {token}"},
    )
    assert me.status_code == 200
    assert me.headers["access-control-allow-origin"] == APP_ORIGIN
    # From an origin not in the list the answer carries no grant (the browser hides it).
    other = client.get(
        f"{entry}/v1/identity/me",
        headers={"Origin": OTHER_ORIGIN, "Authorization": f"Bearer {token}"},
    )
    assert "access-control-allow-origin" not in other.headers
    assert "Origin" in other.headers["vary"]


def _assert_documents(client: httpx.Client, entry: str) -> None:
    document = client.get(f"{entry}/openapi.json")
    assert document.status_code == 200, document.text
    merged = document.json()
    assert merged == json.loads(PLATFORM_DOCUMENT.read_text())
    assert merged["openapi"] == "3.1.0"
    assert merged["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert merged["paths"]["/v1/votes/agreements"]["post"]["security"] == [{"bearerAuth": []}]
    for path in ("/v1/identity/me", "/v1/proposals", "/v1/votes/agreements", "/v1/ledger/head"):
        assert path in merged["paths"], path
    page = client.get(f"{entry}/docs")
    assert page.status_code == 200
    assert "SwaggerUIBundle" in page.text
    assert "cdn" not in page.text.lower()
    script = client.get(f"{entry}/docs/assets/swagger-ui-bundle.js")
    assert script.status_code == 200
    assert len(script.content) > 100_000
    # The browser fetches the document from the page's own origin: CORS for other origins too.
    granted = client.get(f"{entry}/openapi.json", headers={"Origin": APP_ORIGIN})
    assert granted.headers["access-control-allow-origin"] == APP_ORIGIN


@pytest.mark.timeout(900)
def test_a_browser_front_end_on_an_allowed_origin_can_call_the_api(runtime: Runtime) -> None:
    runtime.extra_env["PLATFORM_CORS_ORIGINS"] = f"{APP_ORIGIN},http://localhost:5173"
    with httpx.Client(trust_env=False, timeout=10.0) as client:
        runtime.start()
        runtime.wait_healthy(client, timeout=480)
        _assert_cors(client, runtime.entry_url)
        _assert_documents(client, runtime.entry_url)
