"""identity-svc's route dependencies, as ``Annotated`` aliases every route uses: the request's
session, the service's context, the signing-key ring, and who is calling. (The getters are
``async``: FastAPI runs a plain ``def`` dependency in its thread pool.)"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from identity_svc.bootstrap import IdentityContext
from identity_svc.keys import KeyRing
from services.auth import CurrentPrincipal, Principal, require_roles
from services.db import SessionDep
from services.internal_auth import PLATFORM_SERVICES, require_service

__all__ = [
    "AdminDep",
    "AnyService",
    "CtxDep",
    "CurrentCitizen",
    "KeysDep",
    "NotifyService",
    "SessionDep",
]


async def get_ctx(request: Request) -> IdentityContext:
    """The context ``main.create_app`` was built with."""
    ctx: IdentityContext = request.app.state.ctx
    return ctx


async def get_keys(request: Request) -> KeyRing:
    """The process's signing-key ring (built in the lifespan, once the database is there)."""
    keys: KeyRing = request.app.state.keys
    return keys


#: The service's context (settings, clock, providers, peppers, lifetimes).
CtxDep = Annotated[IdentityContext, Depends(get_ctx)]
#: The signing-key ring: signs new access tokens, publishes the JWKS.
KeysDep = Annotated[KeyRing, Depends(get_keys)]
#: The signed-in citizen (401 without a valid access token).
CurrentCitizen = CurrentPrincipal
#: A signed-in citizen holding the admin role (403 otherwise).
AdminDep = Annotated[Principal, Depends(require_roles("admin"))]
#: A request signed by notify-svc (docs/internal-api.md); the caller's name.
NotifyService = Annotated[str, Depends(require_service("notify-svc"))]
#: A request signed by any platform service; the caller's name.
AnyService = Annotated[str, Depends(require_service(*PLATFORM_SERVICES))]
