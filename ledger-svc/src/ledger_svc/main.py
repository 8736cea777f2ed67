"""ledger-svc app factory.

Only the common operations endpoints exist so far (``/healthz``, ``/readyz``, ``/metrics``);
the domain endpoints come with their issue. Nothing here pretends to implement them.
"""

from __future__ import annotations

from fastapi import FastAPI

from ledger_svc.config import LedgerSettings, get_settings
from services.app import ServiceSpec, create_service_app


def create_app(settings: LedgerSettings | None = None) -> FastAPI:
    """Build ledger-svc."""
    return create_service_app(
        settings or get_settings(),
        ServiceSpec(
            title="ledger-svc",
            description="The verifiable vote ledger: Merkle log, signed tree heads, receipts, recounts and tamper audits (local and Fabric backends). Endpoints arrive with the ledger issues.",
        ),
    )
