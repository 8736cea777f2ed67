"""``GET /v1/votes/mine``: my agreements and ballots newest first, by target, paged, with the
ledger status learnt from ``ledger.batch_committed``."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from vote_helpers import apply, now, open_forum, open_proposal

from services.events import LedgerBatchCommitted
from services_dev.testing.tokens import TestTokens
from vote_svc.models import LedgerRecording

Sessions = async_sessionmaker[AsyncSession]


async def _agree(
    client: httpx.AsyncClient, tokens: TestTokens, citizen: uuid.UUID, pid: uuid.UUID
) -> str:
    response = await client.post(
        "/v1/votes/agreements", json={"proposal_id": str(pid)}, headers=tokens.headers(citizen)
    )
    assert response.status_code == 201, response.text
    vote_id: str = response.json()["vote_id"]
    return vote_id


def _committed(vote_ids: list[str], seq: int = 1) -> LedgerBatchCommitted:
    return LedgerBatchCommitted(
        batch_seq=seq,
        first_index=0,
        size=len(vote_ids),
        tree_size=len(vote_ids),
        root="00" * 32,
        batch_root="00" * 32,
        backend="local",
        tx_id="local-1",
        committed_at=now(),
        vote_ids=[uuid.UUID(v) for v in vote_ids],
    )


async def test_my_votes_newest_first_with_their_ledger_status(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    me, other = uuid.uuid4(), uuid.uuid4()
    first, second = await open_proposal(sessions), await open_proposal(sessions)
    forum = await open_forum(sessions)
    a = await _agree(client, tokens, me, first)
    b = await _agree(client, tokens, me, second)
    await _agree(client, tokens, other, first)
    ballot = await client.post(
        f"/v1/votes/forums/{forum}/ballots", json={"choice": "찬성"}, headers=tokens.headers(me)
    )
    c = ballot.json()["vote_id"]

    page = (await client.get("/v1/votes/mine", headers=tokens.headers(me))).json()
    assert [i["vote_id"] for i in page["items"]] == [c, b, a]
    assert page["next_cursor"] is None
    assert {i["ledger_status"] for i in page["items"]} == {"pending"}
    assert page["items"][0]["target_type"] == "forum"
    assert page["items"][0]["choice"] == "찬성"
    assert page["items"][1]["receipt"].keys() == {"record_hash", "voter_tag"}

    await apply(sessions, _committed([a, c]))
    await apply(sessions, _committed([a, c]))  # a redelivery changes nothing
    page = (await client.get("/v1/votes/mine", headers=tokens.headers(me))).json()
    assert [(i["vote_id"], i["ledger_status"]) for i in page["items"]] == [
        (c, "recorded"),
        (b, "pending"),
        (a, "recorded"),
    ]
    assert page["items"][0]["ledger_batch"] == 1

    # "Did I agree with this?" without casting.
    mine = await client.get(
        "/v1/votes/mine", params={"target_id": str(first)}, headers=tokens.headers(me)
    )
    assert [i["vote_id"] for i in mine.json()["items"]] == [a]
    none = await client.get(
        "/v1/votes/mine",
        params={"target_type": "proposal", "target_id": str(uuid.uuid4())},
        headers=tokens.headers(me),
    )
    assert none.json() == {"items": [], "next_cursor": None}
    proposals = await client.get(
        "/v1/votes/mine", params={"target_type": "proposal"}, headers=tokens.headers(me)
    )
    assert [i["vote_id"] for i in proposals.json()["items"]] == [b, a]


async def test_my_votes_are_paged(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    me = uuid.uuid4()
    cast = [await _agree(client, tokens, me, await open_proposal(sessions)) for _ in range(5)]
    seen: list[str] = []
    cursor = ""
    while True:
        page = (
            await client.get(
                "/v1/votes/mine", params={"limit": 2, "cursor": cursor}, headers=tokens.headers(me)
            )
        ).json()
        seen += [i["vote_id"] for i in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == cast[::-1]


async def test_my_votes_refusals(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    cases: list[tuple[dict[str, str | int], dict[str, str], int]] = [
        ({}, {}, 401),
        ({}, {"Authorization": "Bearer nope"}, 401),
        ({}, tokens.headers(roles=["department"]), 403),
        ({"cursor": "!!"}, tokens.headers(), 400),
        ({"target_type": "comment"}, tokens.headers(), 422),
        ({"target_id": "not-a-uuid"}, tokens.headers(), 422),
        ({"limit": 0}, tokens.headers(), 422),
    ]
    for params, headers, status in cases:
        response = await client.get("/v1/votes/mine", params=params, headers=headers)
        assert response.status_code == status, (params, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LedgerRecording)) == 0
