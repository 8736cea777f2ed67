"""The dependencies of ledger-svc's routes, as ``Annotated`` aliases: a route names what it needs
(``session: SessionDep``, ``ctx: ContextDep``) and FastAPI provides it."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ledger_svc.bootstrap import LedgerContext
from services.db import SessionDep

__all__ = ["ContextDep", "SessionDep"]


def _context(request: Request) -> LedgerContext:
    """The context the app was built with (``main.create_app``)."""
    context: LedgerContext = request.app.state.ctx
    return context


#: The service's context: settings, clock, backend.
ContextDep = Annotated[LedgerContext, Depends(_context)]
