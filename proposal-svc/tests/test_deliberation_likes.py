"""Likes under concurrency, through the app against the real database: one like per citizen
(the primary key decides), and the count is exact however many arrive at once."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter

import asyncpg
import httpx
import pytest
from deliberation_helpers import Deliberation

from proposal_svc.config import ProposalSettings
from services.db import to_plain_url
from services_dev.testing.tokens import TestTokens


@pytest.fixture
def proposal_settings(proposal_settings: ProposalSettings) -> ProposalSettings:
    # The storms are more requests than the API serves at once (its pool): they wait for a slot
    # instead of being shed with 503 after 2 s, however busy the test machine is.
    return proposal_settings.model_copy(update={"max_queue_seconds": 60.0})


async def _stored(settings: ProposalSettings, comment_id: str) -> tuple[int, int]:
    """``(like rows, like_count)`` of a comment, as the database holds them."""
    conn = await asyncpg.connect(to_plain_url(settings.database_url))
    try:
        rows = await conn.fetchval(
            "SELECT count(*) FROM comment_likes WHERE comment_id = $1", uuid.UUID(comment_id)
        )
        count = await conn.fetchval(
            "SELECT like_count FROM comments WHERE id = $1", uuid.UUID(comment_id)
        )
        return int(rows), int(count)
    finally:
        await conn.close()


async def test_200_concurrent_likes_by_one_citizen_make_one_like(
    client: httpx.AsyncClient, tokens: TestTokens, proposal_settings: ProposalSettings
) -> None:
    d = Deliberation(client, tokens)
    comment = await d.comment(await d.proposal())
    headers = d.citizen()
    responses = await asyncio.gather(
        *(client.put(f"/v1/comments/{comment['id']}/like", headers=headers) for _ in range(200))
    )
    assert Counter(r.status_code for r in responses) == {200: 200}
    assert {(r.json()["liked"], r.json()["like_count"]) for r in responses} == {(True, 1)}
    assert await _stored(proposal_settings, comment["id"]) == (1, 1)
    assert (await d.read(comment["id"]))["like_count"] == 1
    unliked = await asyncio.gather(
        *(client.delete(f"/v1/comments/{comment['id']}/like", headers=headers) for _ in range(50))
    )
    assert {(r.status_code, r.json()["liked"], r.json()["like_count"]) for r in unliked} == {
        (200, False, 0)
    }
    assert await _stored(proposal_settings, comment["id"]) == (0, 0)


async def test_100_citizens_liking_at_once_make_100_likes(
    client: httpx.AsyncClient, tokens: TestTokens, proposal_settings: ProposalSettings
) -> None:
    d = Deliberation(client, tokens)
    comment = await d.comment(await d.proposal())
    citizens = [d.citizen() for _ in range(100)]
    responses = await asyncio.gather(
        *(client.put(f"/v1/comments/{comment['id']}/like", headers=h) for h in citizens)
    )
    assert Counter(r.status_code for r in responses) == {200: 100}
    # Each like saw the count its own increment made: 1..100, each once.
    assert sorted(r.json()["like_count"] for r in responses) == list(range(1, 101))
    assert await _stored(proposal_settings, comment["id"]) == (100, 100)
    # Half take it back while the other half like again (a no-op): 50 remain.
    mixed = await asyncio.gather(
        *(
            client.delete(f"/v1/comments/{comment['id']}/like", headers=h)
            if i % 2
            else client.put(f"/v1/comments/{comment['id']}/like", headers=h)
            for i, h in enumerate(citizens)
        )
    )
    assert Counter(r.status_code for r in mixed) == {200: 100}
    assert await _stored(proposal_settings, comment["id"]) == (50, 50)


async def test_only_published_comments_of_others_are_liked(
    client: httpx.AsyncClient, tokens: TestTokens
) -> None:
    d = Deliberation(client, tokens)
    author = uuid.uuid4()
    comment = await d.comment(await d.proposal(), headers=d.citizen(author))
    path = f"/v1/comments/{comment['id']}/like"
    own = await client.put(path, headers=d.citizen(author))
    assert own.status_code == 403
    assert own.json()["type"].endswith("/own-comment")
    hidden = await client.post(
        f"/v1/comments/{comment['id']}/hide",
        json={"reason": "운영 원칙 위반"},
        headers=d.moderator(),
    )
    assert hidden.status_code == 200, hidden.text
    refused = await client.put(path, headers=d.citizen())
    assert refused.status_code == 409
    assert refused.json()["comment_status"] == "hidden"
    missing = await client.put(f"/v1/comments/{uuid.uuid4()}/like", headers=d.citizen())
    assert missing.status_code == 404
