"""proposal-svc's request dependencies, as ``Annotated`` aliases every route declares: the
session (whose transaction the request owns), the service's context, and the caller by role."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from proposal_svc.bootstrap import ProposalContext
from services.auth import Principal, current_principal, require_roles
from services.db import SessionDep
from services.eligibility import require_eligible
from services.internal_auth import require_service
from services.live_principal import require_live_roles

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
    "VoteService",
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

#: A verified citizen (withdraws, follows, likes, reports): the token's roles.
CurrentCitizen = Annotated[Principal, Depends(require_roles("citizen"))]

# Writing a proposal or a comment, and every staff action, act on identity-svc's *current* roles
# and suspension (services.live_principal: one signed loopback request to identity-svc per such
# request), not on the token's, which may be 15 minutes old: a suspended citizen is refused at
# once (403 citizen-suspended), a role granted or withdrawn counts from the next request.

#: A citizen the platform's eligibility rules let propose (403 ``ineligible-*`` otherwise), not
#: suspended now.
EligibleProposer = Annotated[
    Principal, Depends(require_eligible("propose", require_live_roles("citizen")))
]
#: A citizen the platform's eligibility rules let comment (comments, replies, forum opinions),
#: not suspended now.
EligibleCommenter = Annotated[
    Principal, Depends(require_eligible("comment", require_live_roles("citizen")))
]
#: A moderator (hides).
CurrentAdmin = Annotated[Principal, Depends(require_live_roles("admin"))]
#: A department or the mayor's office (answers; which kind of answer needs which role is the
#: use case's rule, on the current roles and department).
CurrentAnswerer = Annotated[Principal, Depends(require_live_roles("department", "mayor_office"))]
#: A member of the committee (adoption).
CurrentCommittee = Annotated[Principal, Depends(require_live_roles("committee"))]
#: Staff who run forums.
CurrentForumStaff = Annotated[Principal, Depends(require_live_roles("admin", "mayor_office"))]
#: Moderators of comments and opinions, and admins (who grant the role and may do what it does).
CurrentModerator = Annotated[Principal, Depends(require_live_roles("moderator", "admin"))]
#: The name of a service request signed by vote-svc (``/internal/v1/targets/*``).
VoteService = Annotated[str, Depends(require_service("vote-svc"))]
