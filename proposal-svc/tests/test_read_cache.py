"""Kept copies of proposal-svc's public reads (proposal_svc/caching.py): ETag and 304, and a copy
is never answered after a commit that changed what it shows (tally, tiers, answers, overdue
obligations, the list)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from proposal_helpers import propose
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc import service
from proposal_svc.bootstrap import ProposalContext
from services.clock import ManualClock
from services.db import transaction
from services_dev.testing.tokens import TestTokens

Sessions = async_sessionmaker[AsyncSession]


async def test_a_proposal_page_is_revalidated_by_etag_and_fresh_after_every_change(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    sessions: Sessions,
    ctx: ProposalContext,
    clock: ManualClock,
) -> None:
    created = await propose(client, tokens)
    url = f"/v1/proposals/{created['id']}"
    first = await client.get(url)
    assert first.headers["cache-control"] == "public, max-age=2, stale-while-revalidate=10"
    etag = first.headers["etag"]
    assert (await client.get(url, headers={"If-None-Match": etag})).status_code == 304

    async with transaction(sessions) as session:
        await service.tallies.apply_proposal_tally(session, ctx, uuid.UUID(created["id"]), 50)
    reached = await client.get(url, headers={"If-None-Match": etag})
    assert reached.status_code == 200
    assert reached.json()["agreement_count"] == 50
    assert [t["threshold"] for t in reached.json()["tiers_reached"]] == [50]
    obligations = reached.json()["obligations"]
    assert obligations
    assert not any(o["overdue"] for o in obligations)

    # Nothing is written when a due date passes; the page still says so at once.
    clock.advance(days=400)
    overdue = (await client.get(url)).json()["obligations"]
    assert all(o["overdue"] for o in overdue)

    department = tokens.headers(roles=["citizen", "department"], department="교통실")
    answer = {"kind": "department", "body": "검토 중입니다"}
    assert (await client.post(f"{url}/answers", json=answer, headers=department)).status_code == 201
    answered = (await client.get(url)).json()
    assert [a["body"] for a in answered["answers"]] == ["검토 중입니다"]


async def test_the_list_shows_a_new_proposal_and_a_new_count_at_once(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, ctx: ProposalContext
) -> None:
    first = await propose(client, tokens, title="첫 번째 제안입니다")
    listed = await client.get("/v1/proposals")
    assert [p["id"] for p in listed.json()["items"]] == [first["id"]]
    assert listed.headers["etag"]
    second = await propose(client, tokens, title="두 번째 제안입니다")
    relisted = await client.get("/v1/proposals", headers={"If-None-Match": listed.headers["etag"]})
    assert relisted.status_code == 200
    assert {p["id"] for p in relisted.json()["items"]} == {second["id"], first["id"]}
    async with transaction(sessions) as session:
        await service.tallies.apply_proposal_tally(session, ctx, uuid.UUID(first["id"]), 7)
    by_count = (await client.get("/v1/proposals", params={"sort": "agreements"})).json()
    assert by_count["items"][0]["agreement_count"] == 7


async def test_a_forum_page_is_kept_until_it_closes(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock
) -> None:
    staff = tokens.headers(roles=["citizen", "mayor_office"])
    body = {
        "title": "12월 시민 공론장",
        "mode": "online",
        "options": ["찬성", "반대"],
        "opens_at": (clock.now() - timedelta(minutes=1)).isoformat(),
        "closes_at": (clock.now() + timedelta(days=7)).isoformat(),
    }
    forum = (await client.post("/v1/forums", json=body, headers=staff)).json()
    url = f"/v1/forums/{forum['id']}"
    etag = (await client.get(url)).headers["etag"]
    assert (await client.get(url, headers={"If-None-Match": etag})).status_code == 304
    assert (await client.post(f"{url}/closure", headers=staff)).status_code == 200
    closed = await client.get(url, headers={"If-None-Match": etag})
    assert closed.status_code == 200
    assert closed.json()["status"] == "closed"
