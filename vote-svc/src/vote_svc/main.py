"""vote-svc app factory.

Only the common operations endpoints exist so far (``/healthz``, ``/readyz``, ``/metrics``);
the domain endpoints come with their issue. Nothing here pretends to implement them.
"""

from __future__ import annotations

from fastapi import FastAPI

from services.app import ServiceSpec, create_service_app
from vote_svc.config import VoteSettings, get_settings


def create_app(settings: VoteSettings | None = None) -> FastAPI:
    """Build vote-svc."""
    return create_service_app(
        settings or get_settings(),
        ServiceSpec(
            title="vote-svc",
            description="Agreements and forum ballots, one per verified citizen per target, with receipts. Endpoints arrive with the participation-core issue.",
        ),
    )
