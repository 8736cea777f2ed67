"""Who may call the deliberation routes, as ``Annotated`` dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from proposal_svc.deps import CurrentCitizen, CurrentModerator
from services.auth import CurrentPrincipal, Principal

__all__ = ["AnyCaller", "CurrentModerator", "Deliberator", "may_deliberate"]


async def may_deliberate(citizen: CurrentCitizen) -> Principal:
    """A citizen who may post, like and report: verified (``proposal_svc.deps.CurrentCitizen``,
    which is where a suspended citizen is refused once it asks identity-svc's current status).
    Eligibility rules (a minimum age, residency...) plug in here, the one dependency every
    deliberation write goes through: raise a 403 problem to refuse."""
    return citizen


#: A citizen who may take part in deliberation (post, edit, delete, like, report).
Deliberator = Annotated[Principal, Depends(may_deliberate)]
#: Any signed-in caller (the use case decides what they may see).
AnyCaller = CurrentPrincipal
