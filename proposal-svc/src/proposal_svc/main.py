"""proposal-svc app factory.

Only the common operations endpoints exist so far (``/healthz``, ``/readyz``, ``/metrics``);
the domain endpoints come with their issue. Nothing here pretends to implement them.
"""

from __future__ import annotations

from fastapi import FastAPI

from proposal_svc.config import ProposalSettings, get_settings
from services.app import ServiceSpec, create_service_app


def create_app(settings: ProposalSettings | None = None) -> FastAPI:
    """Build proposal-svc."""
    return create_service_app(
        settings or get_settings(),
        ServiceSpec(
            title="proposal-svc",
            description="Proposals, agreement tiers and their obligations, forums (공론장), committee adoption, budget link, similar-proposal search. Endpoints arrive with the participation-core issue.",
        ),
    )
