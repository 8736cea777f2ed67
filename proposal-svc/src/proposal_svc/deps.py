"""proposal-svc's request dependencies, as ``Annotated`` aliases every route declares: the
session (whose transaction the request owns), the service's context, and the caller by role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from proposal_svc.bootstrap import ProposalContext
from services.auth import Principal, current_principal, require_roles
from services.db import SessionDep
from services.eligibility import require_eligible

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
    "OptionalCaller",
    "SessionDep",
    "get_ctx",
]


async def get_ctx(request: Request) -> ProposalContext:
    """The context ``main.create_app`` was built with."""
    ctx: ProposalContext = request.app.state.ctx
    return ctx


CtxDep = Annotated[ProposalContext, Depends(get_ctx)]


async def optional_caller(request: Request) -> Principal | None:
    """The verified caller when the request carries a token (401 for a bad one), else None."""
    if "authorization" not in request.headers:
        return None
    return await current_principal(request)


#: The caller if signed in (public reads that also answer "mine" when asked, e.g. ``author=me``).
OptionalCaller = Annotated[Principal | None, Depends(optional_caller)]

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
