"""ledger-svc app factory."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable

from fastapi import FastAPI

from ledger_svc.api import router
from ledger_svc.backend import LedgerBackend, LocalBackend
from ledger_svc.config import LedgerSettings, get_settings
from ledger_svc.ledger import LedgerContext
from services.app import ServiceSpec, create_service_app
from services.auth import KeySource


def build_backend(settings: LedgerSettings) -> LedgerBackend:
    """The configured backend."""
    if settings.backend == "local":
        return LocalBackend()
    raise RuntimeError("LEDGER_BACKEND=fabric arrives with the Fabric issue; use local")


def create_app(
    settings: LedgerSettings | None = None,
    *,
    key_source: Callable[[FastAPI], KeySource] | None = None,
) -> FastAPI:
    """Build ledger-svc."""
    settings = settings or get_settings()

    @contextlib.asynccontextmanager
    async def ledger_lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.ledger = LedgerContext(backend=build_backend(settings), kek=settings.kek)
        yield

    return create_service_app(
        settings,
        ServiceSpec(
            title="ledger-svc",
            description=(
                "The verifiable vote ledger: every vote's canonical record in an append-only Merkle "
                "log (RFC 9162 hashing), signed tree heads, inclusion receipts, consistency proofs, "
                "public recounts and a tamper audit against vote-svc."
            ),
            routers=[router],
            openapi_tags=[
                {"name": "ledger", "description": "Receipts, heads, proofs, recounts, audits"}
            ],
            key_source=key_source,
            lifespan_hooks=[ledger_lifespan],
        ),
    )
