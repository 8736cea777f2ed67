"""vote-svc app factory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from services.app import ServiceSpec, create_service_app
from services.auth import KeySource
from vote_svc.api import router
from vote_svc.bootstrap import VoteContext, bootstrap
from vote_svc.caching import CACHE_POLICIES
from vote_svc.integrity.api import router as integrity_router
from vote_svc.internal import router as internal_router
from vote_svc.targets import HttpTargetSource, TargetLearner, TargetSource


def create_app(
    ctx: VoteContext | None = None,
    *,
    key_source: KeySource | None = None,
    target_source: TargetSource | None = None,
) -> FastAPI:
    """Build vote-svc around ``ctx`` (default: :func:`~vote_svc.bootstrap.bootstrap` from the
    environment). ``key_source`` replaces identity-svc's JWKS (tests pass their own keys);
    ``target_source`` replaces proposal-svc's internal API (``vote_svc.targets``)."""
    ctx = ctx or bootstrap()
    settings = ctx.settings

    @contextlib.asynccontextmanager
    async def target_lookups(app: FastAPI) -> AsyncIterator[None]:
        # Votes on a target the read model does not hold yet ask proposal-svc (read-your-writes).
        source = target_source or HttpTargetSource(
            proposal_url=settings.proposal_url,
            key=settings.service_key_bytes,
            timeout=settings.target_lookup_timeout,
        )
        app.state.target_learner = TargetLearner(source, ctx.clock)
        try:
            yield
        finally:
            if target_source is None:
                await source.aclose()

    app = create_service_app(
        ctx.settings,
        ServiceSpec(
            title="vote-svc",
            description=(
                "Agreements (공감) with proposals and ballots in forums: one per verified citizen "
                "per target, enforced by a database unique constraint under any concurrency. "
                "Every accepted vote gets a receipt (the hash of its canonical record and the "
                "voter's per-target tag) and is published as `vote.cast` for the ledger."
            ),
            routers=[router, integrity_router, internal_router],
            cache_policies=CACHE_POLICIES,
            openapi_tags=[
                {"name": "votes", "description": "Casting agreements and ballots, and receipts"},
                {"name": "tallies", "description": "Public counts per proposal and forum"},
                {
                    "name": "statistics",
                    "description": "Who agreed, by age band and residency (k-anonymous)",
                },
                {
                    "name": "integrity",
                    "description": (
                        "Anomaly signals on votes: the public report per proposal (aggregates, "
                        "k >= 10) and the staff's review queue (docs/integrity.md)"
                    ),
                },
                {
                    "name": "internal",
                    "description": (
                        "Service-to-service reads for notify-svc, signed per request with a "
                        "shared key (docs/internal-api.md); not routed by the public entry point"
                    ),
                },
            ],
            key_source=(lambda _app: key_source) if key_source is not None else None,
            lifespan_hooks=[target_lookups],
        ),
    )
    app.state.ctx = ctx
    # Who may call /internal/* (services.internal_auth.require_service reads it).
    app.state.internal_keys = ctx.internal_keys
    return app
