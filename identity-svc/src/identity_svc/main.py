"""identity-svc app factory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from identity_svc.api import router, wellknown
from identity_svc.bootstrap import IdentityContext, bootstrap
from identity_svc.config import IdentitySettings
from identity_svc.internal import router as internal_router
from identity_svc.keys import KeyRing
from services.app import ServiceSpec, create_service_app
from services.auth import KeySource


def create_app(ctx: IdentityContext | IdentitySettings | None = None) -> FastAPI:
    """Build identity-svc around ``ctx`` (default: :func:`~identity_svc.bootstrap.bootstrap`'s
    context from the environment). Settings alone are accepted too and bootstrapped with the
    system clock, for callers that have nothing else to put in a context."""
    if not isinstance(ctx, IdentityContext):
        ctx = bootstrap(ctx)
    settings = ctx.settings

    @contextlib.asynccontextmanager
    async def identity_lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The key ring reads through the lifespan's sessions, so it is built here, not in the
        # context; it creates the first signing key if there is none.
        keys = ctx.key_ring(app.state.sessions)
        await keys.load()
        app.state.keys = keys
        yield
        await ctx.providers.aclose()

    def key_source(app: FastAPI) -> KeySource:
        return _LazyKeys(app)

    app = create_service_app(
        settings,
        ServiceSpec(
            title="identity-svc",
            description=(
                "Real-name verification and accounts: one account per real person (deduplicated "
                "by a keyed hash of the CI across providers), ES256 access tokens, rotating refresh "
                "tokens, staff roles."
            ),
            routers=[router, wellknown, internal_router],
            openapi_tags=[
                {
                    "name": "verification",
                    "description": "Real-name verification through a provider",
                },
                {"name": "tokens", "description": "Access and refresh tokens, JWKS"},
                {"name": "citizens", "description": "The signed-in citizen"},
                {"name": "admin", "description": "Roles and suspensions (admin role)"},
                {
                    "name": "internal",
                    "description": (
                        "Service-to-service reads for notify-svc, signed per request with a "
                        "shared key (docs/internal-api.md); not routed by the public entry point"
                    ),
                },
            ],
            key_source=key_source,
            lifespan_hooks=[identity_lifespan],
        ),
    )
    app.state.ctx = ctx
    # Who may call /internal/* (services.internal_auth.require_service reads it).
    app.state.internal_keys = settings.internal_key_bytes
    return app


class _LazyKeys:
    """identity-svc verifies its own tokens against its key ring, built in the lifespan."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app

    async def get_key(self, kid: str) -> object:
        keys: KeyRing = self._app.state.keys
        return await keys.get_key(kid)
