"""The app factory every service uses: lifespan (DB pool, NATS, token verifier), problem+json
errors, body limit, request ids, metrics and health endpoints."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from nats.aio.client import Client as NATS
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from services import nats as nats_mod
from services.apidocs import install_api_docs
from services.auth import JWKSCache, KeySource, TokenVerifier
from services.client import parse_networks
from services.config import ServiceSettings
from services.cors import CORSMiddleware
from services.db import create_engine, create_sessionmaker, is_connection_error
from services.http_cache import CachePolicy, HttpCacheMiddleware
from services.limits import InFlightLimitMiddleware
from services.observability import RequestContextMiddleware, configure_logging, metrics_body
from services.problem_language import ProblemLanguageMiddleware
from services.problems import (
    BodySizeLimitMiddleware,
    Problem,
    UnhandledErrorMiddleware,
    install_problem_handlers,
    problem_response,
)
from services.query_params import reject_unknown_query_parameters

log = logging.getLogger(__name__)

#: Extra start-up/shut-down work of a service, run inside the lifespan after the DB is ready.
LifespanHook = Callable[[FastAPI], contextlib.AbstractAsyncContextManager[None]]


@dataclass
class ServiceSpec:
    """What a service plugs into the common app."""

    title: str
    description: str
    version: str = "1.0.0"
    routers: Sequence[APIRouter] = ()
    openapi_tags: list[dict[str, Any]] = field(default_factory=list)
    #: Build the key source for verifying tokens; defaults to the JWKS at ``settings.jwks_url``.
    key_source: Callable[[FastAPI], KeySource] | None = None
    lifespan_hooks: Sequence[LifespanHook] = ()
    connect_nats: bool = True
    #: Public reads answered with ETag/Cache-Control and a per-process copy (services.http_cache).
    cache_policies: Sequence[CachePolicy] = ()


async def _keep_nats(app: FastAPI, url: str, name: str) -> None:
    """Connect to NATS, retrying in the background, so that the API serves (and ``/readyz`` says
    why it is not ready) even while NATS is down."""
    while True:
        try:
            app.state.nats = await asyncio.wait_for(nats_mod.connect(url, name=name), timeout=5.0)
            return
        except Exception as exc:
            log.warning("nats not reachable yet (%r); retrying", exc)
            await asyncio.sleep(1.0)


def create_service_app(settings: ServiceSettings, spec: ServiceSpec) -> FastAPI:
    """Build a service's FastAPI app around ``spec``."""
    configure_logging(settings.log_level, service=settings.service_name)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            pool_pre_ping=settings.db_pool_pre_ping,
        )
        app.state.engine = engine
        app.state.sessions = create_sessionmaker(engine)
        app.state.nats = None
        nats_task = None
        if spec.connect_nats:
            nats_task = asyncio.create_task(
                _keep_nats(app, settings.nats_url, f"{settings.service_name}-api")
            )
            # Usually NATS is up: give the first attempt a moment so we start out ready.
            await asyncio.wait({nats_task}, timeout=2.0)
        keys: KeySource = (
            spec.key_source(app)
            if spec.key_source
            else JWKSCache(settings.jwks_url, ttl=settings.jwks_cache_seconds)
        )
        app.state.token_verifier = TokenVerifier(
            keys,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            cache_size=settings.token_cache_size,
        )
        try:
            async with contextlib.AsyncExitStack() as stack:
                for hook in spec.lifespan_hooks:
                    await stack.enter_async_context(hook(app))
                yield
        finally:
            if nats_task is not None:
                nats_task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await nats_task
            nc: NATS | None = app.state.nats
            if nc is not None and not nc.is_closed:
                await nc.close()
            await engine.dispose()

    app = FastAPI(
        title=spec.title,
        description=spec.description,
        version=spec.version,
        lifespan=lifespan,
        # FastAPI's own pages load Swagger UI / ReDoc from a CDN: services.apidocs serves them
        # from a package instead.
        docs_url=None,
        redoc_url=None,
        # A GET with a query parameter its route does not declare is a 422 (services.query_params).
        dependencies=[Depends(reject_unknown_query_parameters)],
        openapi_tags=[
            *spec.openapi_tags,
            {"name": "operations", "description": "Health and metrics"},
        ],
    )
    app.state.settings = settings
    app.state.trusted_proxies = parse_networks(settings.trusted_proxies)
    install_problem_handlers(app)
    _install_unavailable_handler(app)
    _add_middleware(app, settings, spec)
    for router in spec.routers:
        app.include_router(router)
    _add_operations_routes(app, spec)
    install_api_docs(app)
    _add_problem_schema(app)
    return app


def _add_middleware(app: FastAPI, settings: ServiceSettings, spec: ServiceSpec) -> None:
    """The common middleware stack."""
    # Added innermost first: the request id is set before any of the others run, a preflight is
    # answered before it takes an in-flight slot (and every refusal, 503 and 413 included,
    # carries the CORS grant), and a request refused for overload is refused before its body
    # is read.
    app.add_middleware(UnhandledErrorMiddleware)
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(
        InFlightLimitMiddleware,
        limit=settings.in_flight_limit,
        max_wait=settings.max_queue_seconds,
    )
    # Outside the in-flight limit: a copy served from memory takes no request slot; inside the
    # CORS grant, so that a kept copy is granted like any answer.
    app.add_middleware(HttpCacheMiddleware, policies=spec.cache_policies)
    app.add_middleware(ProblemLanguageMiddleware, default=settings.problem_language)
    app.add_middleware(CORSMiddleware, origins=settings.cors_allow_origins)
    app.add_middleware(RequestContextMiddleware)


async def _ping_database(engine: AsyncEngine) -> None:
    # Without pre-ping, a connection the server dropped (it restarted) fails here once and
    # SQLAlchemy then discards the stale pool, so the next check, and the requests, reconnect.
    async with engine.connect() as conn:
        await conn.execute(text("SELECT 1"))


def _install_unavailable_handler(app: FastAPI) -> None:
    """Answer a request that failed because the database is unreachable (down, restarting) with
    503 ``database-unavailable`` and ``Retry-After`` (a connection lost during a commit leaves
    its outcome unknown, so a client retries only what is safe to retry). Other database
    errors stay 500 ``internal-error``."""
    last_logged = 0.0

    async def unavailable(request: Request, exc: Exception) -> Response:
        nonlocal last_logged
        if not is_connection_error(exc):
            raise exc
        now = time.monotonic()
        if now - last_logged > 10.0:  # one line per outage, not one traceback per request
            last_logged = now
            log.warning("database unreachable, answering 503: %r", exc)
        return problem_response(
            request.url.path,
            503,
            "database-unavailable",
            "Service temporarily unavailable",
            "The service cannot reach its database right now; try again shortly.",
            headers={"Retry-After": "1"},
        )

    for error in (DBAPIError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
        app.add_exception_handler(error, unavailable)


def _add_operations_routes(app: FastAPI, spec: ServiceSpec) -> None:
    @app.get(
        "/healthz",
        tags=["operations"],
        summary="Liveness",
        responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
    )
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: database and NATS reachable",
        responses={
            200: {
                "content": {
                    "application/json": {
                        "example": {"status": "ready", "checks": {"database": "ok", "nats": "ok"}}
                    }
                }
            },
            503: {
                "content": {
                    "application/json": {
                        "example": {
                            "status": "not_ready",
                            "checks": {"database": "ok", "nats": "not connected"},
                        }
                    }
                }
            },
        },
    )
    async def readyz(request: Request) -> JSONResponse:
        checks: dict[str, str] = {}
        try:
            # Connecting is bounded too: a server in crash recovery may accept TCP and stall.
            await asyncio.wait_for(_ping_database(request.app.state.engine), timeout=2.0)
            checks["database"] = "ok"
        except Exception as exc:
            checks["database"] = f"unreachable: {type(exc).__name__}"
        if spec.connect_nats:
            nc: NATS | None = request.app.state.nats
            checks["nats"] = "ok" if nc is not None and nc.is_connected else "not connected"
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not_ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        response_class=PlainTextResponse,
        responses={
            200: {
                "content": {
                    "text/plain": {
                        "example": 'http_requests_total{method="GET",route="/healthz",status="200"} 1.0'
                    }
                }
            }
        },
    )
    async def metrics() -> Response:
        body, content_type = metrics_body()
        return Response(body, media_type=content_type)


def _add_problem_schema(app: FastAPI) -> None:
    """Every document lists the Problem schema that all error responses refer to."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
            tags=app.openapi_tags,
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["Problem"] = Problem.model_json_schema()
        components.pop("HTTPValidationError", None)
        components.pop("ValidationError", None)
        for path in schema.get("paths", {}).values():
            for method, operation in path.items():
                responses = operation.get("responses", {})
                # Every GET may be refused for an unknown query parameter (services.query_params).
                if "422" in responses or method == "get":
                    responses["422"] = {
                        "description": "Validation error"
                        + (", or an unknown query parameter" if method == "get" else ""),
                        "content": {
                            "application/problem+json": {
                                "schema": {"$ref": "#/components/schemas/Problem"}
                            }
                        },
                    }
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]
