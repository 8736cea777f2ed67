"""What vote-svc's routes depend on, as ``Annotated`` aliases: a route names the alias in its
signature and FastAPI provides the value (the context, a session, the caller)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.auth import Principal, require_roles
from services.db import SessionDep
from services.eligibility import require_eligible
from services.internal_auth import require_service
from vote_svc.bootstrap import VoteContext
from vote_svc.hot_path import BallotBox

__all__ = [
    "BallotBoxDep",
    "CtxDep",
    "CurrentCitizen",
    "EligibleVoter",
    "NotifyService",
    "SessionDep",
]


async def _ctx(request: Request) -> VoteContext:
    ctx: VoteContext = request.app.state.ctx
    return ctx


async def _ballot_box(request: Request) -> BallotBox:
    # Read from the app's state on every request (a few attribute lookups): the engine and the
    # sessions exist only once the lifespan started them.
    state = request.app.state
    return BallotBox(
        ctx=state.ctx,
        engine=state.engine,
        sessions=state.sessions,
        learner=getattr(state, "target_learner", None),
    )


#: The context :func:`vote_svc.bootstrap.bootstrap` built (tag key, clock, settings).
CtxDep = Annotated[VoteContext, Depends(_ctx)]
#: The signed-in caller, who must hold the ``citizen`` role (401/403 otherwise).
CurrentCitizen = Annotated[Principal, Depends(require_roles("citizen"))]
#: A citizen the platform's eligibility rules let vote (403 ``ineligible-*`` otherwise): reads
#: the token's claims only, so the hot path stays without a database round trip for it.
EligibleVoter = Annotated[Principal, Depends(require_eligible("vote", require_roles("citizen")))]
#: What the hot path casts with: no session is opened for it (``vote_svc.hot_path``).
BallotBoxDep = Annotated[BallotBox, Depends(_ballot_box)]
#: The name of a service request signed by notify-svc (``/internal/*``).
NotifyService = Annotated[str, Depends(require_service("notify-svc"))]
