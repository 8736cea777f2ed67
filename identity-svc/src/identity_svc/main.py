"""identity-svc app factory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

from fastapi import FastAPI

from identity_svc.api import router, wellknown
from identity_svc.config import IdentitySettings, get_settings
from identity_svc.internal import router as internal_router
from identity_svc.keys import KeyRing
from identity_svc.providers import IdentityProvider, ProviderRegistry, SandboxProvider
from identity_svc.service import IdentityContext
from services.app import ServiceSpec, create_service_app
from services.auth import KeySource


def build_providers(settings: IdentitySettings) -> ProviderRegistry:
    """The providers this deployment offers (the sandbox ones never in production)."""
    providers: list[IdentityProvider] = []
    if settings.sandbox_active:
        providers += [SandboxProvider("sandbox"), SandboxProvider("sandbox_pass")]
    return ProviderRegistry(providers)


def create_app(settings: IdentitySettings | None = None) -> FastAPI:
    """Build identity-svc."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def identity_lifespan(app: FastAPI) -> AsyncIterator[None]:
        keys = KeyRing(
            app.state.sessions,
            settings.kek,
            grace=timedelta(
                seconds=settings.retired_key_grace_seconds + settings.access_token_ttl_seconds
            ),
        )
        await keys.load()
        app.state.identity = IdentityContext(
            settings=settings, providers=build_providers(settings), keys=keys
        )
        yield

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
    # Who may call /internal/* (services.internal_auth.require_service reads it).
    app.state.internal_keys = settings.internal_key_bytes
    return app


class _LazyKeys:
    """identity-svc verifies its own tokens against its key ring, built in the lifespan."""

    def __init__(self, app: FastAPI) -> None:
        self._app = app

    async def get_key(self, kid: str) -> object:
        context: IdentityContext = self._app.state.identity
        return await context.keys.get_key(kid)
