"""Overload is answered, not queued without bound: at most ``max_in_flight`` requests are
served at once, the next ones wait up to ``max_queue_seconds`` and then get 503 problem+json
with Retry-After; and the database pool opens no connections beyond its size."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import APIRouter, FastAPI, Request
from sqlalchemy import text
from starlette.types import Message, Receive, Scope, Send

from services.app import ServiceSpec, create_service_app
from services.config import ServiceSettings
from services.db import SessionDep
from services.limits import InFlightLimitMiddleware
from services_dev.testing import running_app

router = APIRouter()


@router.get("/slow")
async def slow(request: Request) -> dict[str, bool]:
    gate: asyncio.Event = request.app.state.gate
    request.app.state.entered += 1
    await gate.wait()
    return {"ok": True}


@router.get("/backend")
async def backend(session: SessionDep) -> dict[str, int]:
    pid = await session.scalar(text("SELECT pg_backend_pid() FROM pg_sleep(0.05)"))
    assert isinstance(pid, int)
    return {"pid": pid}


def _app(service_env: dict[str, str], **settings: Any) -> FastAPI:
    app = create_service_app(
        ServiceSettings(
            service_name="test-svc",
            database_url=service_env["database_url"],
            **settings,
        ),
        ServiceSpec(title="test-svc", description="t", routers=[router], connect_nats=False),
    )
    app.state.gate = asyncio.Event()
    app.state.entered = 0
    return app


async def _until(condition: Any, within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.01)


def test_the_default_bound_is_the_pool() -> None:
    settings = ServiceSettings()
    assert settings.db_max_overflow == 0
    assert settings.in_flight_limit == settings.db_pool_size
    assert ServiceSettings(db_pool_size=7, db_max_overflow=2).in_flight_limit == 9
    assert ServiceSettings(max_in_flight=0).in_flight_limit == 0


async def test_requests_beyond_the_bound_get_503_after_the_queue_wait(
    service_env: dict[str, str],
) -> None:
    app = _app(service_env, max_in_flight=2, max_queue_seconds=0.2)
    async with running_app(app) as client:
        busy = [asyncio.create_task(client.get("/slow")) for _ in range(2)]
        await _until(lambda: app.state.entered == 2)
        started = time.monotonic()
        refused = await client.get("/slow")
        waited = time.monotonic() - started
        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "1"
        body = refused.json()
        assert body["type"] == "https://democracy.seoul.example/problems/overloaded"
        assert body["request_id"] == refused.headers["x-request-id"]
        assert 0.15 <= waited < 2.0
        assert app.state.entered == 2  # the refused request never reached the endpoint
        # Probes and metrics are not counted nor refused.
        assert (await client.get("/healthz")).status_code == 200
        metrics = await client.get("/metrics")
        assert "http_requests_shed_total" in metrics.text
        app.state.gate.set()
        assert [(await task).status_code for task in busy] == [200, 200]
        assert (await client.get("/slow")).status_code == 200


async def test_a_waiting_request_gets_the_next_free_slot(service_env: dict[str, str]) -> None:
    app = _app(service_env, max_in_flight=1, max_queue_seconds=10)
    async with running_app(app) as client:
        first = asyncio.create_task(client.get("/slow"))
        await _until(lambda: app.state.entered == 1)
        second = asyncio.create_task(client.get("/slow"))
        await asyncio.sleep(0.1)
        assert app.state.entered == 1  # waiting for the slot, not in the endpoint
        app.state.gate.set()
        assert (await first).status_code == 200
        assert (await second).status_code == 200
        assert app.state.entered == 2


async def test_no_bound_when_zero(service_env: dict[str, str]) -> None:
    app = _app(service_env, max_in_flight=0, max_queue_seconds=0)
    async with running_app(app) as client:
        busy = [asyncio.create_task(client.get("/slow")) for _ in range(50)]
        await _until(lambda: app.state.entered == 50)
        app.state.gate.set()
        assert {(await task).status_code for task in busy} == {200}


async def _asgi_get(app: Any, path: str = "/x") -> int:
    scope: Scope = {"type": "http", "method": "GET", "path": path, "headers": []}
    statuses: list[int] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    await app(scope, receive, send)
    return statuses[0]


async def test_slots_are_not_lost_when_waiters_give_up_or_are_cancelled() -> None:
    gate = asyncio.Event()

    async def endpoint(scope: Scope, receive: Receive, send: Send) -> None:
        await gate.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    limiter = InFlightLimitMiddleware(endpoint, limit=2, max_wait=0.3)
    holders = [asyncio.create_task(_asgi_get(limiter)) for _ in range(2)]
    await _until(lambda: limiter.in_flight == 2)
    cancelled = asyncio.create_task(_asgi_get(limiter))
    timed_out = asyncio.create_task(_asgi_get(limiter))
    await asyncio.sleep(0.05)
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    assert await timed_out == 503
    gate.set()
    assert [await h for h in holders] == [200, 200]
    assert limiter.in_flight == 0
    # Both slots are free again: two requests in at once, none refused.
    gate.clear()
    again = [asyncio.create_task(_asgi_get(limiter)) for _ in range(2)]
    await _until(lambda: limiter.in_flight == 2)
    gate.set()
    assert [await t for t in again] == [200, 200]
    assert limiter.in_flight == 0


@pytest.fixture
async def pooled(service_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    # No in-flight bound here: the pool alone must hold the line.
    app = _app(service_env, db_pool_size=2, max_in_flight=0)
    async with running_app(app) as client:
        yield client


async def test_the_pool_opens_no_connection_beyond_its_size(pooled: httpx.AsyncClient) -> None:
    """Twelve concurrent requests share the two pooled connections (they wait for one) instead
    of opening overflow connections that are closed again after each use."""
    answers = await asyncio.gather(*(pooled.get("/backend") for _ in range(12)))
    assert {a.status_code for a in answers} == {200}
    assert len({a.json()["pid"] for a in answers}) <= 2
