"""identity-svc's internal status endpoint as a service's tests need it: a stand-in that speaks
the documented contract (``GET /internal/v1/citizens/{id}/status``, signed requests checked
with ``services.internal_auth``; docs/internal-api.md) over an in-process transport, so that a
service's own tests exercise :mod:`services.live_principal` without importing identity-svc.
identity-svc's tests check the real endpoint; cross-service tests in ``tests/`` run both.

Give it to :class:`~services_dev.testing.tokens.TestTokens` and every citizen a token is issued
for is registered as active with that token's roles; tests then grant, withdraw or suspend.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from fastapi import Depends, FastAPI

from services.internal_auth import (
    PLATFORM_SERVICES,
    decode_service_key,
    dev_service_key,
    require_service,
)
from services.live_principal import IdentityStatusClient
from services.problems import ProblemError, install_problem_handlers


class StandInIdentity:
    """Citizens' current roles and status, served as identity-svc serves them."""

    __test__ = False

    def __init__(self, callers: tuple[str, ...] = PLATFORM_SERVICES) -> None:
        self.citizens: dict[uuid.UUID, dict[str, Any]] = {}
        #: Citizen ids asked about, in order.
        self.asked: list[uuid.UUID] = []
        self._callers = callers
        self.app = self._build()

    def register(
        self, citizen_id: uuid.UUID, roles: list[str], department: str | None = None
    ) -> None:
        """An active citizen holding ``roles`` (kept as is if already known)."""
        self.citizens.setdefault(
            citizen_id,
            {"status": "active", "roles": sorted({"citizen", *roles}), "department": department},
        )

    def grant(self, citizen_id: uuid.UUID, roles: list[str], department: str | None = None) -> None:
        """What an admin's ``PUT /v1/identity/citizens/{id}/roles`` does."""
        self.citizens[citizen_id] = {
            **self.citizens.get(citizen_id, {"status": "active"}),
            "roles": sorted({"citizen", *roles}),
            "department": department,
        }

    def suspend(self, citizen_id: uuid.UUID, suspended: bool = True) -> None:
        """Suspend (or reinstate) a known citizen."""
        self.citizens[citizen_id]["status"] = "suspended" if suspended else "active"

    def client(self, caller: str) -> IdentityStatusClient:
        """A status client signing as ``caller`` (with its development key), talking to us."""
        return IdentityStatusClient(
            "http://identity-svc",
            caller=caller,
            key=decode_service_key(dev_service_key(caller)),
            transport=httpx.ASGITransport(app=self.app),
        )

    def _build(self) -> FastAPI:
        app = FastAPI()
        install_problem_handlers(app)
        app.state.internal_keys = {
            caller: decode_service_key(dev_service_key(caller)) for caller in self._callers
        }

        # Not an ``Annotated`` alias: it would be a string here (postponed annotations) that
        # FastAPI cannot resolve from inside this method.
        signed = Depends(require_service(*self._callers))

        @app.get("/internal/v1/citizens/{citizen_id}/status")
        async def status(citizen_id: uuid.UUID, _: str = signed) -> dict[str, Any]:
            self.asked.append(citizen_id)
            if citizen_id not in self.citizens:
                raise ProblemError(404, "citizen-not-found", "Citizen not found")
            return {"citizen_id": str(citizen_id), **self.citizens[citizen_id]}

        return app
