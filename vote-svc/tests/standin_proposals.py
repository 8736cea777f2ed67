"""A stand-in for proposal-svc's internal target endpoints (``GET /internal/v1/targets/{proposals,
forums}/{id}``), served in-process by a small app of vote-svc's own tests.

It speaks the contract of docs/internal-api.md: the same paths and JSON
(``VoteTargetInternal``), requests checked with ``services.internal_auth.require_service
("vote-svc")``, 404 problems for what it never heard of. The real proposal-svc is behind the same
client in tests/integration/votes/test_vote_target_lookup.py.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI

from services.internal_auth import decode_service_key, dev_service_key, require_service
from services.problems import ProblemError, install_problem_handlers
from vote_svc.targets import HttpTargetSource

VoteService = Annotated[str, Depends(require_service("vote-svc"))]


class StandInProposals:
    """The targets proposal-svc would answer with; ``source`` is vote-svc's client wired to it.

    ``calls`` counts the requests per target; ``delay`` holds each answer back that long (to make
    concurrent misses overlap); ``fail`` answers 500 instead.
    """

    def __init__(self, key: bytes | None = None) -> None:
        self.targets: dict[tuple[str, uuid.UUID], dict[str, Any]] = {}
        self.calls: dict[uuid.UUID, int] = {}
        self.delay = 0.0
        self.fail = False
        self.app = _app(self)
        self.source = HttpTargetSource(
            proposal_url="http://proposal-svc.test",
            key=key or decode_service_key(dev_service_key("vote-svc")),
            transport=httpx.ASGITransport(app=self.app),
        )

    def proposal(
        self,
        opened_at: datetime,
        *,
        proposal_id: uuid.UUID | None = None,
        days: int = 30,
        closed_at: datetime | None = None,
        status: str = "open",
    ) -> uuid.UUID:
        """A proposal opened at ``opened_at`` (closed at ``closed_at`` with ``status``)."""
        proposal_id = proposal_id or uuid.uuid4()
        self.targets[("proposal", proposal_id)] = {
            "target_type": "proposal",
            "target_id": str(proposal_id),
            "status": status if closed_at else "open",
            "opens_at": opened_at.isoformat(),
            "closes_at": (opened_at + timedelta(days=days)).isoformat(),
            "options": None,
            "opened_at": opened_at.isoformat(),
            "closed_at": closed_at.isoformat() if closed_at else None,
            "closed_status": status if closed_at else None,
        }
        return proposal_id

    def forum(
        self,
        opens_at: datetime,
        options: list[str],
        *,
        opened: bool = True,
        days: int = 14,
    ) -> uuid.UUID:
        """A forum taking ballots from ``opens_at`` (``opened=False``: still scheduled)."""
        forum_id = uuid.uuid4()
        self.targets[("forum", forum_id)] = {
            "target_type": "forum",
            "target_id": str(forum_id),
            "status": "open" if opened else "scheduled",
            "opens_at": opens_at.isoformat(),
            "closes_at": (opens_at + timedelta(days=days)).isoformat(),
            "options": options,
            "opened_at": opens_at.isoformat() if opened else None,
            "closed_at": None,
            "closed_status": None,
        }
        return forum_id


def _app(standin: StandInProposals) -> FastAPI:
    app = FastAPI(title="proposal-svc internal targets stand-in")
    install_problem_handlers(app)
    app.state.internal_keys = {"vote-svc": decode_service_key(dev_service_key("vote-svc"))}

    async def answer(kind: str, target_id: uuid.UUID) -> dict[str, Any]:
        standin.calls[target_id] = standin.calls.get(target_id, 0) + 1
        if standin.delay:
            await asyncio.sleep(standin.delay)
        if standin.fail:
            raise ProblemError(500, "internal-error", "Internal error")
        found = standin.targets.get((kind, target_id))
        if found is None:
            raise ProblemError(404, f"{kind}-not-found", f"{kind.title()} not found")
        return found

    @app.get("/internal/v1/targets/proposals/{proposal_id}")
    async def proposal(proposal_id: uuid.UUID, _: VoteService) -> dict[str, Any]:
        return await answer("proposal", proposal_id)

    @app.get("/internal/v1/targets/forums/{forum_id}")
    async def forum(forum_id: uuid.UUID, _: VoteService) -> dict[str, Any]:
        return await answer("forum", forum_id)

    return app
