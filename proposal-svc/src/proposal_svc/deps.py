"""proposal-svc's request dependencies, as ``Annotated`` aliases every route declares: the
session (whose transaction the request owns), the service's context, and the caller by role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from proposal_svc.bootstrap import ProposalContext
from services.auth import Principal, require_roles
from services.db import SessionDep
from services.eligibility import require_eligible
from services.internal_auth import require_service

__all__ = [
    "CtxDep",
    "CurrentAdmin",
    "CurrentAnswerer",
    "CurrentCitizen",
    "CurrentCommittee",
    "CurrentForumStaff",
    "CurrentModerator",
    "EligibleCommenter",
    "EligibleProposer",
    "SessionDep",
    "VoteService",
    "get_ctx",
]


async def get_ctx(request: Request) -> ProposalContext:
    """The context ``main.create_app`` was built with."""
    ctx: ProposalContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[ProposalContext, Depends(get_ctx)]

#: A verified citizen (submits, withdraws).
CurrentCitizen = Annotated[Principal, Depends(require_roles("citizen"))]
#: A citizen the platform's eligibility rules let propose (403 ``ineligible-*`` otherwise).
EligibleProposer = Annotated[
    Principal, Depends(require_eligible("propose", require_roles("citizen")))
]
#: A citizen the platform's eligibility rules let comment (comments, replies, forum opinions).
EligibleCommenter = Annotated[
    Principal, Depends(require_eligible("comment", require_roles("citizen")))
]
#: A moderator (hides).
CurrentAdmin = Annotated[Principal, Depends(require_roles("admin"))]
#: A department or the mayor's office (answers; which kind of answer needs which role is the
#: use case's rule).
CurrentAnswerer = Annotated[Principal, Depends(require_roles("department", "mayor_office"))]
#: A member of the committee (adoption).
CurrentCommittee = Annotated[Principal, Depends(require_roles("committee"))]
#: Staff who run forums.
CurrentForumStaff = Annotated[Principal, Depends(require_roles("admin", "mayor_office"))]
#: Moderators of comments and opinions, and admins (who grant the role and may do what it does).
CurrentModerator = Annotated[Principal, Depends(require_roles("moderator", "admin"))]
#: The name of a service request signed by vote-svc (``/internal/v1/targets/*``).
VoteService = Annotated[str, Depends(require_service("vote-svc"))]
