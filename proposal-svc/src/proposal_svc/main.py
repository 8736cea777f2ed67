"""proposal-svc app factory."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from proposal_svc import similarity
from proposal_svc.api import forums, proposals
from proposal_svc.config import ProposalSettings, get_settings
from proposal_svc.service import ProposalContext
from services.app import ServiceSpec, create_service_app
from services.auth import KeySource
from services.clock import Clock, SystemClock
from services.db import transaction


def create_app(
    settings: ProposalSettings | None = None,
    *,
    clock: Clock | None = None,
    key_source: Callable[[FastAPI], KeySource] | None = None,
) -> FastAPI:
    """Build proposal-svc."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def proposal_lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.proposals = ProposalContext(settings=settings, clock=clock or SystemClock())
        # Fail at start, not silently at every search, when the database cannot see Hangul
        # trigrams (a C ctype), and load the Korean model before the first request needs it.
        async with transaction(app.state.sessions) as session:
            await similarity.check_trigram_support(session)
        await asyncio.to_thread(similarity.default_analyzer().load)
        yield

    return create_service_app(
        settings,
        ServiceSpec(
            title="proposal-svc",
            description=(
                "Citizen proposals and their public journey: agreement tiers that create obligations "
                "with due dates, deliberation forums (공론장), committee adoption, budget-linked "
                "projects, similar-proposal search on Korean text, and a public timeline."
            ),
            routers=[proposals, forums],
            openapi_tags=[
                {
                    "name": "proposals",
                    "description": "Proposals, answers, adoption, timeline, search",
                },
                {"name": "forums", "description": "Deliberation forums"},
            ],
            key_source=key_source,
            lifespan_hooks=[proposal_lifespan],
        ),
    )
