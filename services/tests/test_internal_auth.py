"""Service-to-service request signing: every refusal, the happy path, replay and tampering."""

from __future__ import annotations

import base64
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from pydantic import SecretStr

from services.internal_auth import (
    DEV_NOTIFY_SERVICE_KEY,
    MAX_SKEW_SECONDS,
    NonceCache,
    ServiceAuth,
    decode_service_key,
    decode_service_keys,
    require_service,
    signature_headers,
)
from services.problems import install_problem_handlers

NOTIFY_KEY = b"n" * 32
LEDGER_KEY = b"l" * 32

NotifyOnly = Annotated[str, Depends(require_service("notify-svc"))]


def build_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    app.state.internal_keys = {"notify-svc": NOTIFY_KEY, "ledger-svc": LEDGER_KEY}

    @app.get("/internal/v1/things/{thing}")
    async def read(thing: str, caller: NotifyOnly, request: Request) -> dict[str, Any]:
        return {"caller": caller, "thing": thing, "query": dict(request.query_params)}

    @app.post("/internal/v1/things")
    async def write(caller: NotifyOnly, request: Request) -> dict[str, Any]:
        return {"caller": caller, "body": (await request.body()).decode()}

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://identity-svc") as c:
        yield c


@pytest.fixture
async def notify(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """The same app, called by notify-svc through ServiceAuth."""
    client.auth = ServiceAuth("notify-svc", NOTIFY_KEY)
    return client


def signed(
    path: str, body: bytes = b"", method: str = "GET", caller: str = "notify-svc", **kw: Any
) -> dict[str, str]:
    key = kw.pop("key", NOTIFY_KEY)
    return signature_headers(caller, key, method, path.encode(), body, **kw)


def assert_refused(response: httpx.Response, status: int, slug: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/" + slug)
    if status == 401:
        assert response.headers["www-authenticate"].startswith("Service-HMAC")


async def test_a_signed_get_is_let_through_with_its_caller(notify: httpx.AsyncClient) -> None:
    response = await notify.get(
        "/internal/v1/things/6a0f", params={"role": "department", "department": "교통실"}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "caller": "notify-svc",
        "thing": "6a0f",
        "query": {"role": "department", "department": "교통실"},
    }


async def test_a_signed_post_body_is_let_through(notify: httpx.AsyncClient) -> None:
    response = await notify.post("/internal/v1/things", json={"n": 1})
    assert response.status_code == 200, response.text
    assert response.json() == {"caller": "notify-svc", "body": '{"n":1}'}


async def test_service_auth_signs_every_request_afresh(notify: httpx.AsyncClient) -> None:
    first = await notify.get("/internal/v1/things/a")
    second = await notify.get("/internal/v1/things/a")
    assert first.status_code == second.status_code == 200
    assert first.request.headers["x-service-nonce"] != second.request.headers["x-service-nonce"]


@pytest.mark.parametrize(
    "missing",
    ["X-Service-Caller", "X-Service-Timestamp", "X-Service-Nonce", "X-Service-Signature"],
)
async def test_a_missing_header_is_401_required(client: httpx.AsyncClient, missing: str) -> None:
    headers = signed("/internal/v1/things/a")
    del headers[missing]
    response = await client.get("/internal/v1/things/a", headers=headers)
    assert_refused(response, 401, "service-auth-required")


async def test_no_headers_at_all_is_401_required(client: httpx.AsyncClient) -> None:
    assert_refused(await client.get("/internal/v1/things/a"), 401, "service-auth-required")


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("X-Service-Nonce", "not-hex-not-hex-not-hex-not-hex!"),
        ("X-Service-Nonce", "abcd"),
        ("X-Service-Nonce", "ABCDEF0123456789ABCDEF0123456789"),
        ("X-Service-Timestamp", "-1"),
        ("X-Service-Timestamp", "1.5"),
        ("X-Service-Timestamp", "soon"),
        ("X-Service-Signature", "c2lnbmF0dXJl"),
        ("X-Service-Signature", "+" * 43),
        ("X-Service-Caller", "Notify Svc"),
        ("X-Service-Caller", ""),
    ],
)
async def test_a_malformed_header_is_401_invalid(
    client: httpx.AsyncClient, header: str, value: str
) -> None:
    headers = {**signed("/internal/v1/things/a"), header: value}
    response = await client.get("/internal/v1/things/a", headers=headers)
    assert_refused(response, 401, "service-auth-invalid")


async def test_an_unknown_caller_is_401_invalid(client: httpx.AsyncClient) -> None:
    headers = signed("/internal/v1/things/a", caller="proposal-svc")
    response = await client.get("/internal/v1/things/a", headers=headers)
    assert_refused(response, 401, "service-auth-invalid")
    assert "unknown caller" in response.json()["detail"]


async def test_a_wrong_key_is_401_invalid(client: httpx.AsyncClient) -> None:
    headers = signed("/internal/v1/things/a", key=LEDGER_KEY)
    response = await client.get("/internal/v1/things/a", headers=headers)
    assert_refused(response, 401, "service-auth-invalid")
    assert "signature" in response.json()["detail"]


@pytest.mark.parametrize("offset", [-MAX_SKEW_SECONDS - 5, MAX_SKEW_SECONDS + 5, -86400])
async def test_a_timestamp_outside_the_window_is_401_invalid(
    client: httpx.AsyncClient, offset: int
) -> None:
    headers = signed("/internal/v1/things/a", timestamp=int(time.time()) + offset)
    response = await client.get("/internal/v1/things/a", headers=headers)
    assert_refused(response, 401, "service-auth-invalid")
    assert "clock" in response.json()["detail"]


@pytest.mark.parametrize("offset", [-MAX_SKEW_SECONDS + 5, MAX_SKEW_SECONDS - 5])
async def test_a_timestamp_inside_the_window_is_accepted(
    client: httpx.AsyncClient, offset: int
) -> None:
    headers = signed("/internal/v1/things/a", timestamp=int(time.time()) + offset)
    assert (await client.get("/internal/v1/things/a", headers=headers)).status_code == 200


async def test_a_replayed_request_is_401_invalid(client: httpx.AsyncClient) -> None:
    headers = signed("/internal/v1/things/a")
    assert (await client.get("/internal/v1/things/a", headers=headers)).status_code == 200
    replay = await client.get("/internal/v1/things/a", headers=headers)
    assert_refused(replay, 401, "service-auth-invalid")
    assert "replay" in replay.json()["detail"]


async def test_a_refused_forgery_does_not_burn_the_callers_nonce(client: httpx.AsyncClient) -> None:
    """Only verified requests enter the replay cache: a forger cannot pre-empt nonces."""
    headers = signed("/internal/v1/things/a")
    forged = {**headers, "X-Service-Signature": "A" * 43}
    assert (await client.get("/internal/v1/things/a", headers=forged)).status_code == 401
    assert (await client.get("/internal/v1/things/a", headers=headers)).status_code == 200


async def test_a_tampered_body_is_401_invalid(client: httpx.AsyncClient) -> None:
    headers = signed("/internal/v1/things", b'{"n":1}', method="POST")
    response = await client.post("/internal/v1/things", content=b'{"n":2}', headers=headers)
    assert_refused(response, 401, "service-auth-invalid")
    ok = await client.post("/internal/v1/things", content=b'{"n":1}', headers=headers)
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("signed_method", "signed_for", "sent_method", "sent_to"),
    [
        ("GET", "/internal/v1/things/a?limit=1", "GET", "/internal/v1/things/a?limit=2"),
        ("GET", "/internal/v1/things/a", "GET", "/internal/v1/things/b"),
        ("GET", "/internal/v1/things/a", "GET", "/internal/v1/things/a?extra=1"),
        ("PUT", "/internal/v1/things", "POST", "/internal/v1/things"),
    ],
)
async def test_a_request_signed_for_another_target_is_401_invalid(
    client: httpx.AsyncClient, signed_method: str, signed_for: str, sent_method: str, sent_to: str
) -> None:
    headers = signed(signed_for, method=signed_method)
    response = await client.request(sent_method, sent_to, headers=headers)
    assert_refused(response, 401, "service-auth-invalid")


async def test_a_known_caller_not_allowed_here_is_403(client: httpx.AsyncClient) -> None:
    client.auth = ServiceAuth("ledger-svc", LEDGER_KEY)
    response = await client.get("/internal/v1/things/a")
    assert_refused(response, 403, "service-not-allowed")


def test_service_auth_works_with_a_sync_client_too() -> None:
    headers: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        headers.update(request.headers)
        return httpx.Response(204)

    with httpx.Client(
        transport=httpx.MockTransport(handler), auth=ServiceAuth("notify-svc", NOTIFY_KEY)
    ) as sync:
        sync.get("http://vote-svc/internal/v1/forums/f/participants?limit=5")
    expected = signature_headers(
        "notify-svc",
        NOTIFY_KEY,
        "GET",
        b"/internal/v1/forums/f/participants?limit=5",
        timestamp=int(headers["x-service-timestamp"]),
        nonce=headers["x-service-nonce"],
    )
    assert headers["x-service-signature"] == expected["X-Service-Signature"]
    assert headers["x-service-caller"] == "notify-svc"


def test_the_signature_is_base64url_of_hmac_sha256_over_the_documented_string() -> None:
    import hashlib
    import hmac

    headers = signature_headers(
        "notify-svc",
        NOTIFY_KEY,
        "get",
        b"/internal/v1/citizens?role=admin",
        b"",
        timestamp=1795521600,
        nonce="0123456789abcdef0123456789abcdef",
    )
    message = (
        "GET\n/internal/v1/citizens?role=admin\n1795521600\n0123456789abcdef0123456789abcdef\n"
        + hashlib.sha256(b"").hexdigest()
    )
    digest = hmac.new(NOTIFY_KEY, message.encode(), hashlib.sha256).digest()
    assert headers["X-Service-Signature"] == base64.urlsafe_b64encode(digest).decode().rstrip("=")
    assert "=" not in headers["X-Service-Signature"]


def test_service_auth_refuses_short_keys_and_bad_names() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ServiceAuth("notify-svc", b"short")
    with pytest.raises(ValueError, match="service name"):
        ServiceAuth("Notify Svc", NOTIFY_KEY)


def test_nonce_cache_forgets_after_the_window_and_stays_bounded() -> None:
    cache = NonceCache(window=60, size=3)
    assert cache.first_use("notify-svc", "a" * 32, timestamp=1000, now=1000.0)
    assert not cache.first_use("notify-svc", "a" * 32, timestamp=1000, now=1059.0)
    # Another caller's identical nonce is a different request.
    assert cache.first_use("ledger-svc", "a" * 32, timestamp=1000, now=1001.0)
    # Once the timestamp left the window the timestamp check refuses it; the cache lets go.
    assert cache.first_use("notify-svc", "b" * 32, timestamp=1100, now=1100.0)
    assert len(cache) == 1
    for n in "cdef":
        assert cache.first_use("notify-svc", n * 32, timestamp=1100 + ord(n), now=1100.0)
    assert len(cache) == 3


def test_dev_key_is_32_bytes_and_refused_in_production() -> None:
    assert len(decode_service_key(DEV_NOTIFY_SERVICE_KEY)) == 32
    dev = {"notify-svc": SecretStr(DEV_NOTIFY_SERVICE_KEY)}
    assert decode_service_keys(dev, setting="X_INTERNAL_KEYS", production=False) == {
        "notify-svc": decode_service_key(DEV_NOTIFY_SERVICE_KEY)
    }
    with pytest.raises(ValueError, match="X_INTERNAL_KEYS must be set in production"):
        decode_service_keys(dev, setting="X_INTERNAL_KEYS", production=True)
    own = {"notify-svc": SecretStr(base64.b64encode(b"k" * 32).decode())}
    assert decode_service_keys(own, setting="X", production=True) == {"notify-svc": b"k" * 32}


@pytest.mark.parametrize(
    ("caller", "key", "match"),
    [
        ("notify-svc", "not base64!", "base64"),
        ("notify-svc", base64.b64encode(b"short").decode(), "at least 32 bytes"),
        ("Notify Svc", base64.b64encode(b"k" * 32).decode(), "not a service name"),
    ],
)
def test_malformed_key_settings_are_refused_without_showing_the_key(
    caller: str, key: str, match: str
) -> None:
    with pytest.raises(ValueError, match=match) as refused:
        decode_service_keys({caller: SecretStr(key)}, setting="X", production=False)
    assert key not in str(refused.value)
