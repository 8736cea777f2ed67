"""ledger-svc app factory."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator, Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from ledger_svc.api import CACHE_POLICIES, router
from ledger_svc.backend import LocalBackend
from ledger_svc.bootstrap import LedgerContext, bootstrap
from ledger_svc.deps import ContextDep
from services.app import ServiceSpec, create_service_app
from services.auth import KeySource

# The common /readyz checks the database and NATS; ledger-svc adds its backend ("fabric": "ok" or
# "unreachable: <peer>: <why>"). This route is registered before the common one, so it answers,
# and asks the common one for its checks. A Fabric outage makes the service *degraded*, not
# unready: receipts, heads, proofs and the audit of what is anchored are served from the database,
# and the votes wait in NATS to be anchored when Fabric returns. Answering 503 would take every
# API pod out of its Service (and stall rollouts) for an outage of a downstream network, so the
# answer stays 200 with "status": "degraded" and the reason; a database or NATS failure is 503.
readiness_router = APIRouter()


@readiness_router.get("/readyz", include_in_schema=False)
async def ledger_readyz(request: Request, ctx: ContextDep) -> JSONResponse:
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
    backend = ctx.backend
    if backend.name != LocalBackend.name:  # the local backend is the database, checked already
        body["checks"][backend.name] = await backend.readiness()
        if body["checks"][backend.name] != "ok":
            body["status"] = "degraded"
    return JSONResponse(body, status_code=200)


def create_app(
    ctx: LedgerContext | None = None,
    *,
    key_source: Callable[[FastAPI], KeySource] | None = None,
) -> FastAPI:
    """Build ledger-svc around ``ctx`` (default: :func:`~ledger_svc.bootstrap.bootstrap`'s). A
    context built here has its backend closed when the app stops; a given one stays its
    caller's to close."""
    owned = ctx is None
    context = ctx or bootstrap()

    @contextlib.asynccontextmanager
    async def ledger_lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owned:
                await context.backend.aclose()

    app = create_service_app(
        context.settings,
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
            cache_policies=CACHE_POLICIES,
        ),
    )
    app.state.ctx = context
    return app
