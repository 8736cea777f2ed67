"""The caller's roles and suspension as identity-svc holds them *now*, not as their token said.

An access token lives up to 15 minutes and carries the roles current when it was issued. For the
actions where that matters -- a staff action after a role was granted or withdrawn, a citizen
writing (proposing, commenting) after being suspended -- a service asks identity-svc at each
request, over the signed internal API (``GET /internal/v1/citizens/{id}/status``,
docs/internal-api.md), and uses its answer instead of the token's claims. The token still proves
who is calling; identity-svc says what they may do.

This costs one loopback request per guarded request, so it guards writes and staff routes, not
the public reads nor the agreement hot path (vote-svc refuses suspended voters from its read
model of identity's suspension events, docs/votes.md). When identity-svc cannot be reached the
guarded request is refused with 503 ``identity-unavailable`` and ``Retry-After``: we do not fall
back to the token's roles, which is exactly what this is for.

A service adds :func:`live_status_lifespan` to its ``ServiceSpec.lifespan_hooks`` and uses
:func:`require_live_roles` (or the ready-made :data:`LiveCitizen`) as a route dependency.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import httpx
from fastapi import Depends, FastAPI, Request

from services.auth import CurrentPrincipal, Principal, Role
from services.config import ServiceSettings
from services.internal_auth import ServiceAuth
from services.problems import ProblemError

log = logging.getLogger(__name__)

STATUS_PATH = "/internal/v1/citizens/{citizen_id}/status"


@dataclass(frozen=True)
class CitizenStatus:
    """What identity-svc says of a citizen at this moment."""

    citizen_id: uuid.UUID
    status: Literal["active", "suspended"]
    roles: frozenset[str]
    department: str | None


class IdentityUnavailable(ProblemError):
    """identity-svc did not answer (or answered nonsense): the guarded action cannot be decided."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            503,
            "identity-unavailable",
            "Identity service unavailable",
            detail,
            headers={"Retry-After": "2"},
        )


class IdentityStatusClient:
    """Asks identity-svc for citizens' current status, signing as ``caller``."""

    def __init__(
        self,
        base_url: str,
        *,
        caller: str,
        key: bytes,
        timeout: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._client = httpx.AsyncClient(
            base_url=base_url,
            auth=ServiceAuth(caller, key),
            timeout=timeout,
            transport=transport,
        )

    async def status(self, citizen_id: uuid.UUID) -> CitizenStatus | None:
        """The citizen's status, None when identity-svc does not know them, or
        :class:`IdentityUnavailable`."""
        try:
            response = await self._client.get(STATUS_PATH.format(citizen_id=citizen_id))
        except httpx.HTTPError as exc:
            raise IdentityUnavailable(f"identity-svc unreachable: {type(exc).__name__}") from exc
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            log.error("identity-svc answered %d to a status request", response.status_code)
            raise IdentityUnavailable(f"identity-svc answered {response.status_code}")
        try:
            body: dict[str, Any] = response.json()
            state = body["status"]
            if state not in ("active", "suspended"):
                raise ValueError(state)
            return CitizenStatus(
                citizen_id=uuid.UUID(body["citizen_id"]),
                status=state,
                roles=frozenset(str(r) for r in body["roles"]),
                department=body.get("department"),
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise IdentityUnavailable("identity-svc answered an unreadable status") from exc

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()


@contextlib.asynccontextmanager
async def live_status_lifespan(app: FastAPI) -> AsyncIterator[None]:
    """A ``ServiceSpec.lifespan_hooks`` entry: one status client per API process, built from the
    app's settings (``identity_url``, the service's own ``service_key``)."""
    settings: ServiceSettings = app.state.settings
    if getattr(app.state, "identity_status", None) is not None:  # given by a test
        yield
        return
    client = IdentityStatusClient(
        settings.identity_url, caller=settings.service_name, key=settings.service_key_bytes
    )
    app.state.identity_status = client
    try:
        yield
    finally:
        app.state.identity_status = None
        await client.aclose()


def require_live_roles(*roles: Role) -> Callable[..., Awaitable[Principal]]:
    """A dependency: the verified caller with the roles and department identity-svc holds now;
    403 ``citizen-suspended`` for a suspended citizen, 403 ``forbidden`` without one of
    ``roles`` (as :func:`services.auth.require_roles`), 401 for a citizen identity-svc does not
    know, 503 ``identity-unavailable`` when it cannot say."""

    async def dependency(request: Request, principal: CurrentPrincipal) -> Principal:
        client: IdentityStatusClient = request.app.state.identity_status
        status = await client.status(principal.citizen_id)
        if status is None:
            raise ProblemError(
                401,
                "citizen-unknown",
                "Unknown citizen",
                "the token's citizen is not known to identity-svc",
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        if status.status == "suspended":
            raise ProblemError(
                403,
                "citizen-suspended",
                "Account suspended",
                "this account is suspended and cannot do this",
            )
        live = dataclasses.replace(principal, roles=status.roles, department=status.department)
        if not live.has_any(*roles):
            raise ProblemError(
                403,
                "forbidden",
                "Forbidden",
                f"this action needs one of the roles: {', '.join(roles)}",
                required_roles=list(roles),
            )
        request.state.principal = live
        return live

    return dependency


#: A verified, currently active citizen (any role), as identity-svc says now.
LiveCitizen = Annotated[Principal, Depends(require_live_roles("citizen"))]
