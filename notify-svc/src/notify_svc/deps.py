"""The dependencies of notify-svc's routes, as ``Annotated`` aliases (every route takes its
session, caller, clock reading and providers from here)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated

from fastapi import Depends, Path, Query, Request

from notify_svc.bootstrap import NotifyContext
from notify_svc.dispatch.providers import Providers
from services.auth import Principal, require_roles
from services.db import SessionDep
from services.problems import ProblemError

__all__ = [
    "AdminDep",
    "CitizenDep",
    "ContextDep",
    "Cursor",
    "DevLimit",
    "Limit",
    "NotificationId",
    "NowDep",
    "ProviderName",
    "ProvidersDep",
    "SessionDep",
    "TemplateCode",
    "query_only",
]


def query_only(*allowed: str) -> Callable[[Request], None]:
    """A dependency refusing query parameters other than ``allowed`` (422
    ``unknown-query-parameter``): a misspelt filter is an error, not silently ignored."""
    known = frozenset(allowed)

    def check(request: Request) -> None:
        unknown = sorted(set(request.query_params) - known)
        if unknown:
            raise ProblemError(
                422,
                "unknown-query-parameter",
                "Unknown query parameter",
                f"not a parameter of this endpoint: {', '.join(unknown)}",
                allowed=sorted(known),
            )

    return check


def _context(request: Request) -> NotifyContext:
    ctx: NotifyContext = request.app.state.ctx
    return ctx


def _now(ctx: Annotated[NotifyContext, Depends(_context)]) -> datetime:
    return ctx.clock.now()


def _providers(request: Request) -> Providers:
    providers: Providers = request.app.state.providers
    return providers


#: The service's context (``app.state.ctx``, built by ``bootstrap``).
ContextDep = Annotated[NotifyContext, Depends(_context)]
#: The time of the request, from the service's clock.
NowDep = Annotated[datetime, Depends(_now)]
#: The configured providers (built in the app's lifespan).
ProvidersDep = Annotated[Providers, Depends(_providers)]
#: A signed-in citizen.
CitizenDep = Annotated[Principal, Depends(require_roles("citizen"))]
#: A signed-in admin.
AdminDep = Annotated[Principal, Depends(require_roles("admin"))]

#: Page size of the citizen's and the operators' listings.
Limit = Annotated[int, Query(ge=1, le=100)]
#: Page size of the dev provider's messages.
DevLimit = Annotated[int, Query(ge=1, le=500)]
#: A ``next_cursor`` given back.
Cursor = Annotated[str | None, Query(max_length=500)]
#: A webhook's provider, as in its path.
ProviderName = Annotated[str, Path(max_length=40)]
#: A template code filter.
TemplateCode = Annotated[str | None, Query(max_length=64)]
#: A notification's id, as in its path.
NotificationId = Annotated[uuid.UUID, Path()]
