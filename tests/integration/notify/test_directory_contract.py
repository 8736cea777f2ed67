"""notify-svc's own suite reads people from a stand-in of identity-svc's and vote-svc's internal
endpoints (notify-svc/tests/standin_directory.py). This holds it to the real services: the same
citizens, staff and forum in both, the same questions through notify-svc's signed directory
client, the same answers (contacts, and every page of every listing)."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from notify_fixtures import signed_directory
from notify_helpers import Citizens, Forums
from standin_directory import StandInDirectory

from notify_svc.config import NotifySettings
from notify_svc.directory import Contact, HttpDirectory, Page

Fetch = Callable[[str | None], Awaitable[Page]]


async def every_page(fetch: Fetch) -> list[list[uuid.UUID]]:
    """The ids of each page, following ``next_cursor`` to the end."""
    pages: list[list[uuid.UUID]] = []
    cursor: str | None = None
    while True:
        page = await fetch(cursor)
        pages.append(page.citizen_ids)
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


async def answers(
    directory: HttpDirectory, citizens: list[uuid.UUID], forum_id: uuid.UUID
) -> tuple[list[Contact], list[list[list[uuid.UUID]]]]:
    """What notify-svc learns from ``directory`` about these citizens and this forum."""
    contacts = [await directory.contact(c) for c in citizens]
    listings = [
        await every_page(lambda c: directory.staff("department", None, c, 1)),
        await every_page(lambda c: directory.staff("department", "교통실", c, 1)),
        await every_page(lambda c: directory.staff("mayor_office", None, c, 2)),
        await every_page(lambda c: directory.staff("admin", None, c, 2)),
        await every_page(lambda c: directory.forum_participants(forum_id, c, 2)),
        await every_page(lambda c: directory.forum_participants(uuid.uuid4(), c, 2)),
    ]
    return contacts, listings


async def test_the_stand_in_directory_answers_as_identity_and_vote_do(
    identity: Citizens,
    votes: Forums,
    directory: HttpDirectory,
    notify_settings: NotifySettings,
) -> None:
    stand_in = StandInDirectory(notify_settings.service_key_bytes)
    plain = await identity.citizen(phone="010-2222-3333")
    traffic = [await identity.citizen(roles=["department"], department="교통실") for _ in range(3)]
    welfare = await identity.citizen(roles=["department"], department="복지정책실")
    mayor_office = await identity.citizen(roles=["mayor_office"])
    forum_id = await votes.forum([plain, *traffic, mayor_office])

    await stand_in.citizen("010-2222-3333", citizen_id=plain)
    for citizen_id in traffic:
        await stand_in.citizen(citizen_id=citizen_id, roles=["department"], department="교통실")
    await stand_in.citizen(citizen_id=welfare, roles=["department"], department="복지정책실")
    await stand_in.citizen(citizen_id=mayor_office, roles=["mayor_office"])
    await stand_in.forum([plain, *traffic, mayor_office], forum_id=forum_id)

    everyone = [plain, *traffic, welfare, mayor_office, uuid.uuid4()]
    real = await answers(directory, everyone, forum_id)
    async with signed_directory(
        notify_settings, identity=stand_in.transport, vote=stand_in.transport
    ) as standing_in:
        assert await answers(standing_in, everyone, forum_id) == real

    contacts, listings = real
    assert contacts[0] == Contact(plain, "01022223333", "active")
    assert contacts[-1].status == "unknown"
    assert [len(pages) for pages in listings] == [4, 3, 1, 1, 3, 1]
    assert sorted(c for page in listings[0] for c in page) == sorted([*traffic, welfare])
