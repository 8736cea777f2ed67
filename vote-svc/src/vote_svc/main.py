"""vote-svc app factory."""

from __future__ import annotations

from fastapi import FastAPI

from services.app import ServiceSpec, create_service_app
from services.auth import KeySource
from vote_svc.api import router
from vote_svc.bootstrap import VoteContext, bootstrap
from vote_svc.integrity.api import router as integrity_router
from vote_svc.internal import router as internal_router


def create_app(ctx: VoteContext | None = None, *, key_source: KeySource | None = None) -> FastAPI:
    """Build vote-svc around ``ctx`` (default: :func:`~vote_svc.bootstrap.bootstrap` from the
    environment). ``key_source`` replaces identity-svc's JWKS (tests pass their own keys)."""
    ctx = ctx or bootstrap()
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
            openapi_tags=[
                {"name": "votes", "description": "Casting agreements and ballots, and receipts"},
                {"name": "tallies", "description": "Public counts per proposal and forum"},
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
        ),
    )
    app.state.ctx = ctx
    # Who may call /internal/* (services.internal_auth.require_service reads it).
    app.state.internal_keys = ctx.internal_keys
    return app
