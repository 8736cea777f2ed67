"""Who may call the deliberation routes, as ``Annotated`` aliases of ``proposal_svc.deps`` (where
the checks of identity-svc's current roles and suspension apply to every route alike)."""

from __future__ import annotations

from proposal_svc.deps import CurrentCitizen, CurrentModerator, EligibleCommenter
from services.auth import CurrentPrincipal

__all__ = ["AnyCaller", "CurrentModerator", "Deliberator", "Poster"]

#: A citizen who posts (a comment, a reply, a forum opinion): verified, and let by the
#: platform's eligibility rules for ``comment`` (``PLATFORM_ELIGIBILITY``; 403 ``ineligible-*``).
Poster = EligibleCommenter
#: A citizen who likes, reports, or edits or deletes their own post: verified is enough (taking
#: part is posting; a minor may still report abuse).
Deliberator = CurrentCitizen
#: Any signed-in caller (the use case decides what they may see).
AnyCaller = CurrentPrincipal
