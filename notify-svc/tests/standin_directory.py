"""A stand-in for the internal endpoints notify-svc reads (identity-svc's contact and staff
look-ups, vote-svc's forum participants, proposal-svc's followers of a proposal), served by a small app of notify-svc's own tests.

It speaks the contract of docs/internal-api.md -- the same paths, the signed requests checked
with ``services.internal_auth.require_service("notify-svc")``, the same JSON, 404s for what the
service never heard of, keyset pages ordered by citizen id with ``services.paging`` cursors -- so
that notify-svc's suite runs without importing another service. The real services are behind
the same client in tests/integration/notify, which also checks that this stand-in answers as
they do (test_directory_contract.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, Query

from services.internal_auth import require_service
from services.paging import decode_cursor, encode_cursor
from services.problems import ProblemError, install_problem_handlers

#: The number a new citizen has unless the test gives another.
PHONE = "010-1234-5678"

NotifyService = Annotated[str, Depends(require_service("notify-svc"))]
PageLimit = Annotated[int, Query(ge=1, le=500)]
PageCursor = Annotated[str | None, Query(max_length=64)]


@dataclass
class Person:
    """What identity-svc knows of a citizen, as far as notify-svc can ask."""

    phone: str | None
    status: str = "active"
    roles: list[str] = field(default_factory=lambda: ["citizen"])
    department: str | None = None


def _digits(phone: str | None) -> str | None:
    # identity-svc keeps the verified number as digits only.
    return "".join(c for c in phone if c.isdigit()) if phone else None


def _page(ids: Iterable[uuid.UUID], cursor: str | None, limit: int) -> dict[str, Any]:
    after = decode_cursor(cursor)
    ordered = sorted(i for i in ids if after is None or i > after)
    page, more = ordered[:limit], len(ordered) > limit
    return {
        "items": [{"citizen_id": str(i)} for i in page],
        "next_cursor": encode_cursor(page[-1]) if more else None,
    }


class StandInDirectory:
    """The people and forums the stand-in knows; ``transport`` serves its app in-process."""

    def __init__(self, service_key: bytes) -> None:
        self.people: dict[uuid.UUID, Person] = {}
        self.forums: dict[uuid.UUID, list[uuid.UUID]] = {}
        self.followers: dict[uuid.UUID, list[uuid.UUID]] = {}
        #: How many follower pages were asked for.
        self.follower_pages = 0
        self.app = _app(self, {"notify-svc": service_key})
        self.transport = httpx.ASGITransport(app=self.app)

    async def citizen(
        self,
        phone: str | None = PHONE,
        *,
        citizen_id: uuid.UUID | None = None,
        roles: list[str] | None = None,
        department: str | None = None,
        status: str = "active",
    ) -> uuid.UUID:
        """A new verified citizen with ``phone`` (and staff ``roles``); their id."""
        citizen_id = citizen_id or uuid.uuid4()
        held = ["citizen", *(roles or [])]
        self.people[citizen_id] = Person(_digits(phone), status, held, department)
        return citizen_id

    async def forum(
        self, participants: list[uuid.UUID], *, forum_id: uuid.UUID | None = None
    ) -> uuid.UUID:
        """A forum in which each of ``participants`` cast a ballot; its id."""
        forum_id = forum_id or uuid.uuid4()
        self.forums[forum_id] = list(dict.fromkeys(participants))
        return forum_id

    def follow(self, proposal_id: uuid.UUID, citizens: Iterable[uuid.UUID]) -> None:
        """``citizens`` follow the proposal (proposal-svc then knows it)."""
        known = self.followers.setdefault(proposal_id, [])
        known.extend(c for c in citizens if c not in known)

    def staff(self, role: str, department: str | None) -> list[uuid.UUID]:
        """Active citizens holding ``role`` (in ``department`` when given)."""
        return [
            citizen_id
            for citizen_id, person in self.people.items()
            if role in person.roles
            and person.status == "active"
            and (department is None or person.department == department)
        ]


def _app(directory: StandInDirectory, keys: Mapping[str, bytes]) -> FastAPI:
    app = FastAPI(title="internal endpoints stand-in")
    install_problem_handlers(app)
    app.state.internal_keys = dict(keys)

    @app.get("/internal/v1/citizens/{citizen_id}/contact")
    async def contact(citizen_id: uuid.UUID, _: NotifyService) -> dict[str, Any]:
        person = directory.people.get(citizen_id)
        if person is None:
            raise ProblemError(404, "citizen-not-found", "Citizen not found", str(citizen_id))
        status = "suspended" if person.status == "suspended" else "active"
        return {"citizen_id": str(citizen_id), "phone": person.phone, "status": status}

    @app.get("/internal/v1/citizens")
    async def staff(
        _: NotifyService,
        role: str,
        department: str | None = None,
        cursor: PageCursor = None,
        limit: PageLimit = 100,
    ) -> dict[str, Any]:
        return _page(directory.staff(role, department), cursor, limit)

    @app.get("/internal/v1/forums/{forum_id}/participants")
    async def participants(
        forum_id: uuid.UUID, _: NotifyService, cursor: PageCursor = None, limit: PageLimit = 100
    ) -> dict[str, Any]:
        voters = directory.forums.get(forum_id)
        if voters is None:
            raise ProblemError(404, "forum-not-found", "Forum not found", str(forum_id))
        return _page(voters, cursor, limit)

    @app.get("/internal/v1/proposals/{proposal_id}/followers")
    async def followers(
        proposal_id: uuid.UUID, _: NotifyService, cursor: PageCursor = None, limit: PageLimit = 100
    ) -> dict[str, Any]:
        # The contract of proposal-svc's endpoint (built concurrently): 404 for an unknown
        # proposal, pages of {"citizen_id"} with an opaque next_cursor.
        found = directory.followers.get(proposal_id)
        if found is None:
            raise ProblemError(404, "proposal-not-found", "Proposal not found", str(proposal_id))
        directory.follower_pages += 1
        return _page(found, cursor, limit)

    return app
