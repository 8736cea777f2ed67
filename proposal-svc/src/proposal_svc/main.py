"""proposal-svc app factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from proposal_svc import similarity
from proposal_svc.api import forums, proposals
from proposal_svc.bootstrap import ProposalContext, bootstrap
from proposal_svc.caching import CACHE_POLICIES
from proposal_svc.deliberation import api as deliberation
from proposal_svc.follows import api as follows
from proposal_svc.internal import router as internal_targets
from proposal_svc.milestones import api as milestones
from proposal_svc.opendata import api as opendata
from proposal_svc.opendata import api_statistics
from proposal_svc.reference.routes import reference_routes
from services.app import ServiceSpec, create_service_app
from services.auth import KeySource
from services.db import transaction
from services.live_principal import live_status_lifespan


def create_app(
    ctx: ProposalContext | None = None,
    *,
    key_source: Callable[[FastAPI], KeySource] | None = None,
) -> FastAPI:
    """Build proposal-svc around ``ctx`` (default: :func:`~proposal_svc.bootstrap.bootstrap`'s,
    from the environment); the routes find it as ``app.state.ctx``."""
    if ctx is None:
        ctx = bootstrap()

    @contextlib.asynccontextmanager
    async def proposal_lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Fail at start, not silently at every search, when the database cannot see Hangul
        # trigrams (a C ctype), and load the Korean model before the first request needs it.
        async with transaction(app.state.sessions) as session:
            await similarity.check_trigram_support(session)
        await asyncio.to_thread(similarity.default_analyzer().load)
        yield

    app = create_service_app(
        ctx.settings,
        ServiceSpec(
            title="proposal-svc",
            description=(
                "Citizen proposals and their public journey: agreement tiers that create obligations "
                "with due dates, deliberation forums (공론장), committee adoption, budget-linked "
                "projects, similar-proposal search on Korean text, and a public timeline."
            ),
            # Follows and reference data first: their static paths under /v1/proposals before
            # /{proposal_id}.
            routers=[
                reference_routes,
                *follows.ROUTERS,
                proposals,
                forums,
                *deliberation.ROUTERS,
                internal_targets,
                milestones.router,
                opendata.router,
                api_statistics.router,
            ],
            cache_policies=CACHE_POLICIES,
            openapi_tags=[
                {
                    "name": "proposals",
                    "description": "Proposals, answers, adoption, timeline, search",
                },
                {"name": "forums", "description": "Deliberation forums"},
                *deliberation.OPENAPI_TAGS,
                *follows.OPENAPI_TAGS,
                {
                    "name": "reference",
                    "description": "Categories, Seoul's districts and the tiers, for forms and filters",
                },
                {
                    "name": "milestones",
                    "description": "Implementation tracking of adopted proposals",
                },
                {"name": "open data", "description": "Bulk CSV and JSON, daily snapshots"},
                {"name": "statistics", "description": "Obligations kept, agreements per district"},
            ],
            key_source=key_source,
            # The status client of services.live_principal (staff routes, writing).
            lifespan_hooks=[proposal_lifespan, live_status_lifespan],
        ),
    )
    app.state.ctx = ctx
    # Who may call /internal/* (services.internal_auth.require_service reads it).
    app.state.internal_keys = ctx.settings.internal_key_bytes
    return app
