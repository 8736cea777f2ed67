"""notify-svc app factory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI

from notify_svc import kinds
from notify_svc.api import dev_router, router
from notify_svc.bootstrap import NotifyContext, bootstrap
from notify_svc.registry import build_providers
from services.app import ServiceSpec, create_service_app
from services.auth import KeySource


def create_app(
    ctx: NotifyContext | None = None,
    *,
    key_source: KeySource | None = None,
    http_client: httpx.AsyncClient | None = None,
) -> FastAPI:
    """Build notify-svc around ``ctx`` (default: :func:`~notify_svc.bootstrap.bootstrap`'s, from
    the environment), kept as ``app.state.ctx``. ``key_source`` replaces identity-svc's JWKS and
    ``http_client`` the providers' HTTP client (tests pass their own).

    The AlimTalk templates are rendered and checked first: a template that Kakao would refuse
    stops the service from starting.
    """
    kinds.validate_startup()
    ctx = ctx or bootstrap()
    settings = ctx.settings

    @contextlib.asynccontextmanager
    async def providers(app: FastAPI) -> AsyncIterator[None]:
        async with build_providers(
            settings, app.state.sessions, client=http_client, clock=ctx.clock
        ) as built:
            app.state.providers = built
            yield

    routers = [router, dev_router] if settings.dev_endpoints else [router]
    app = create_service_app(
        settings,
        ServiceSpec(
            title="notify-svc",
            description=(
                "Tells citizens about each step of their proposals (tiers reached with the "
                "answer's due date, answers, status changes, forums) and staff about overdue "
                "obligations: KakaoTalk AlimTalk first, SMS/LMS when it fails, exactly once per "
                "event, recipient and channel. Citizens choose channels, opt out and consent to "
                "night-time messages; providers report deliveries through signed webhooks."
            ),
            routers=routers,
            openapi_tags=[
                {"name": "notifications", "description": "What a citizen was sent"},
                {"name": "preferences", "description": "Channels, opt-out, night-time consent"},
                {"name": "webhooks", "description": "Delivery reports from providers"},
                {"name": "administration", "description": "Dead letters (admin)"},
                {"name": "development", "description": "The dev provider's messages"},
            ],
            key_source=(lambda _app: key_source) if key_source is not None else None,
            lifespan_hooks=[providers],
        ),
    )
    app.state.ctx = ctx
    return app
