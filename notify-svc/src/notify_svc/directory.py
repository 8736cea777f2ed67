"""Who to tell and how to reach them, from the services that own the answers: identity-svc
(a citizen's phone number and status; the staff holding a role), vote-svc (a forum's
participants) and proposal-svc (a proposal's followers). Every request is signed with notify-svc's service key (services.internal_auth).

Phone numbers exist only in the :class:`Contact` returned here, in memory, for the duration of
one send: they are never logged (see :func:`notify_svc.providers.base.mask_phone`), never stored
and never put into an exception.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Protocol

import httpx

from services.internal_auth import ServiceAuth

#: The name notify-svc signs as; identity-svc, vote-svc and proposal-svc allow it on their internal endpoints.
CALLER = "notify-svc"


class DirectoryUnavailable(Exception):
    """The directory could not answer now (network, 5xx, 429, or our own credentials refused);
    the caller tries again later. The message never contains personal data."""


@dataclass(frozen=True)
class Contact:
    """How to reach one citizen right now."""

    citizen_id: uuid.UUID
    #: Digits only; None when identity-svc never captured a number. Keep in memory only.
    phone: str | None
    #: ``active`` or ``suspended`` (or ``unknown`` for a citizen identity-svc does not know).
    status: str

    def __repr__(self) -> str:  # never print the number, even in a traceback
        shown = "set" if self.phone else "none"
        return f"Contact(citizen_id={self.citizen_id}, phone=<{shown}>, status={self.status!r})"


@dataclass(frozen=True)
class Page:
    """One page of citizen ids and the cursor of the next (None: the last page)."""

    citizen_ids: list[uuid.UUID]
    next_cursor: str | None


class Directory(Protocol):
    """What the dispatcher needs to know about people."""

    async def contact(self, citizen_id: uuid.UUID) -> Contact: ...

    async def staff(
        self, role: str, department: str | None, cursor: str | None, limit: int
    ) -> Page: ...

    async def forum_participants(
        self, forum_id: uuid.UUID, cursor: str | None, limit: int
    ) -> Page: ...

    async def proposal_followers(
        self, proposal_id: uuid.UUID, cursor: str | None, limit: int
    ) -> Page: ...


class HttpDirectory:
    """The directory over identity-svc's, vote-svc's and proposal-svc's internal HTTP
    endpoints."""

    def __init__(
        self,
        *,
        identity_url: str,
        vote_url: str,
        proposal_url: str = "http://127.0.0.1:8002",
        key: bytes,
        timeout: float = 5.0,
        identity_transport: httpx.AsyncBaseTransport | None = None,
        vote_transport: httpx.AsyncBaseTransport | None = None,
        proposal_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``*_transport`` replace the network (tests run the services in-process)."""
        auth = ServiceAuth(CALLER, key)
        self._identity = httpx.AsyncClient(
            base_url=identity_url.rstrip("/"),
            auth=auth,
            timeout=timeout,
            trust_env=False,
            transport=identity_transport,
        )
        self._vote = httpx.AsyncClient(
            base_url=vote_url.rstrip("/"),
            auth=auth,
            timeout=timeout,
            trust_env=False,
            transport=vote_transport,
        )
        self._proposal = httpx.AsyncClient(
            base_url=proposal_url.rstrip("/"),
            auth=auth,
            timeout=timeout,
            trust_env=False,
            transport=proposal_transport,
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._identity.aclose()
        await self._vote.aclose()
        await self._proposal.aclose()

    @staticmethod
    async def _get(
        client: httpx.AsyncClient, path: str, params: dict[str, Any] | None = None
    ) -> httpx.Response:
        try:
            response = await client.get(path, params=params)
        except httpx.HTTPError as exc:
            raise DirectoryUnavailable(f"{client.base_url}: {type(exc).__name__}") from None
        if response.status_code == 404:
            return response
        if response.status_code != 200:
            # 401/403 (a key mismatch) is an operator's problem, not the citizen's: keep the
            # message queued and retry rather than drop it.
            raise DirectoryUnavailable(
                f"{client.base_url}{path.split('?')[0]} answered {response.status_code}"
            )
        return response

    async def contact(self, citizen_id: uuid.UUID) -> Contact:
        """The citizen's phone and status (404 from identity-svc → no phone, ``unknown``)."""
        response = await self._get(self._identity, f"/internal/v1/citizens/{citizen_id}/contact")
        if response.status_code == 404:
            return Contact(citizen_id, None, "unknown")
        body = response.json()
        phone = body.get("phone")
        return Contact(
            citizen_id,
            phone if isinstance(phone, str) and phone else None,
            str(body.get("status", "unknown")),
        )

    async def staff(
        self, role: str, department: str | None, cursor: str | None, limit: int
    ) -> Page:
        """Active citizens holding ``role`` (in ``department`` when given)."""
        params: dict[str, Any] = {"role": role, "limit": limit}
        if department:
            params["department"] = department
        if cursor:
            params["cursor"] = cursor
        response = await self._get(self._identity, "/internal/v1/citizens", params)
        if response.status_code == 404:
            return Page([], None)
        return _page(response.json())

    async def forum_participants(self, forum_id: uuid.UUID, cursor: str | None, limit: int) -> Page:
        """Citizens who cast a ballot in the forum (none if vote-svc never heard of it)."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await self._get(
            self._vote, f"/internal/v1/forums/{forum_id}/participants", params
        )
        if response.status_code == 404:
            return Page([], None)
        return _page(response.json())

    async def proposal_followers(
        self, proposal_id: uuid.UUID, cursor: str | None, limit: int
    ) -> Page:
        """Citizens following the proposal (none if proposal-svc never heard of it)."""
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        response = await self._get(
            self._proposal, f"/internal/v1/proposals/{proposal_id}/followers", params
        )
        if response.status_code == 404:
            return Page([], None)
        return _page(response.json())


def _page(body: dict[str, Any]) -> Page:
    ids = [uuid.UUID(str(item["citizen_id"])) for item in body.get("items", [])]
    next_cursor = body.get("next_cursor")
    return Page(ids, str(next_cursor) if next_cursor else None)
