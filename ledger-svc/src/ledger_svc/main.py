"""ledger-svc app factory."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from ledger_svc.api import router
from ledger_svc.backend import FabricBackend, LedgerBackend, LocalBackend
from ledger_svc.config import LedgerSettings, get_settings
from ledger_svc.fabric import RetryPolicy, Timeouts
from ledger_svc.ledger import LedgerContext
from services.app import ServiceSpec, create_service_app
from services.auth import KeySource


def build_backend(settings: LedgerSettings) -> LedgerBackend:
    """The configured backend (Fabric: nothing is dialled until first use)."""
    if settings.backend == "local":
        return LocalBackend()
    assert settings.fabric_profile is not None  # checked by the settings
    return FabricBackend.connect(
        str(settings.fabric_profile),
        org=settings.fabric_org,
        timeouts=Timeouts(
            evaluate=settings.fabric_evaluate_timeout,
            endorse=settings.fabric_endorse_timeout,
            submit=settings.fabric_submit_timeout,
            commit=settings.fabric_commit_timeout,
        ),
        retry=RetryPolicy(budget_seconds=settings.fabric_retry_seconds),
        page_size=settings.fabric_page_size,
    )


# The common /readyz checks the database and NATS; ledger-svc adds its backend ("fabric": "ok" or
# "unreachable: <peer>: <why>"). This route is registered before the common one, so it answers,
# and asks the common one for its checks. A Fabric outage makes the service *degraded*, not
# unready: receipts, heads, proofs and the audit of what is anchored are served from the database,
# and the votes wait in NATS to be anchored when Fabric returns. Answering 503 would take every
# API pod out of its Service (and stall rollouts) for an outage of a downstream network, so the
# answer stays 200 with "status": "degraded" and the reason; a database or NATS failure is 503.
readiness_router = APIRouter()


@readiness_router.get("/readyz", include_in_schema=False)
async def ledger_readyz(request: Request) -> JSONResponse:
    common = next(
        route
        for route in request.app.router.routes
        if isinstance(route, APIRoute)
        and route.path == "/readyz"
        and route.endpoint is not ledger_readyz
    )
    answer: JSONResponse = await common.endpoint(request)
    body = json.loads(bytes(answer.body))
    if answer.status_code != 200:
        return JSONResponse(body, status_code=answer.status_code)
    backend: LedgerBackend = request.app.state.ledger.backend
    if backend.name != LocalBackend.name:  # the local backend is the database, checked already
        body["checks"][backend.name] = await backend.readiness()
        if body["checks"][backend.name] != "ok":
            body["status"] = "degraded"
    return JSONResponse(body, status_code=200)


def create_app(
    settings: LedgerSettings | None = None,
    *,
    key_source: Callable[[FastAPI], KeySource] | None = None,
) -> FastAPI:
    """Build ledger-svc."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def ledger_lifespan(app: FastAPI) -> AsyncIterator[None]:
        backend = build_backend(settings)
        app.state.ledger = LedgerContext(backend=backend, kek=settings.kek)
        try:
            yield
        finally:
            await backend.aclose()

    return create_service_app(
        settings,
        ServiceSpec(
            title="ledger-svc",
            description=(
                "The verifiable vote ledger: every vote's canonical record in an append-only Merkle "
                "log (RFC 9162 hashing), signed tree heads, inclusion receipts, consistency proofs, "
                "public recounts and a tamper audit against vote-svc."
            ),
            routers=[readiness_router, router],
            openapi_tags=[
                {"name": "ledger", "description": "Receipts, heads, proofs, recounts, audits"}
            ],
            key_source=key_source,
            lifespan_hooks=[ledger_lifespan],
        ),
    )
