"""Follows: following and unfollowing, the proposer and agreeing citizens following, the
preference, ``followed=me``, and notify-svc's signed page of followers."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
from proposal_helpers import propose
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc.bootstrap import ProposalContext
from proposal_svc.consumers import apply_tallies
from proposal_svc.follows.models import Follow, FollowPreference
from services.consumer import Delivered
from services.db import transaction
from services.events import VoteTallyChanged, to_envelope
from services.internal_auth import ServiceAuth, decode_service_key, dev_service_key
from services_dev.testing.tokens import TestTokens

Sessions = async_sessionmaker[AsyncSession]


def _signed(client: httpx.AsyncClient, caller: str = "notify-svc") -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=client._transport,
        base_url=str(client.base_url),
        auth=ServiceAuth(caller, decode_service_key(dev_service_key(caller))),
    )


async def _followers(client: httpx.AsyncClient, pid: str, **params: str) -> httpx.Response:
    async with _signed(client) as signed:
        return await signed.get(f"/internal/v1/proposals/{pid}/followers", params=params)


async def _follow_rows(sessions: Sessions) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Follow)) or 0)


async def _agree(
    sessions: Sessions, ctx: ProposalContext, pairs: list[tuple[uuid.UUID, str]]
) -> None:
    batch = []
    for count, (citizen, pid) in enumerate(pairs, start=1):
        event = VoteTallyChanged(
            target_type="proposal",
            target_id=uuid.UUID(pid),
            count=count,
            changed_at=datetime.now(UTC),
            citizen_id=citizen,
        )
        batch.append(Delivered(event, to_envelope(event)))
    async with transaction(sessions) as session:
        await apply_tallies(ctx, session, batch)


async def test_follow_and_unfollow_are_idempotent_and_list_under_followed_me(
    client: httpx.AsyncClient, tokens: TestTokens
) -> None:
    pid = (await propose(client, tokens))["id"]
    other = (await propose(client, tokens))["id"]
    me = uuid.uuid4()
    for _ in range(2):
        put = await client.put(f"/v1/proposals/{pid}/follow", headers=tokens.headers(me))
        assert put.status_code == 200, put.text
        assert put.json() == {"proposal_id": pid, "following": True}
    listed = await client.get(
        "/v1/proposals", params={"followed": "me"}, headers=tokens.headers(me)
    )
    assert listed.status_code == 200
    assert [p["id"] for p in listed.json()["items"]] == [pid]
    assert listed.json()["total"] == 1
    assert other not in [p["id"] for p in listed.json()["items"]]
    for _ in range(2):
        gone = await client.delete(f"/v1/proposals/{pid}/follow", headers=tokens.headers(me))
        assert gone.status_code == 204
    listed = await client.get(
        "/v1/proposals", params={"followed": "me"}, headers=tokens.headers(me)
    )
    assert listed.json()["items"] == []
    assert listed.json()["total"] == 0


async def test_follow_refusals_write_nothing(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    pid = (await propose(client, tokens))["id"]
    before = await _follow_rows(sessions)
    cases = [
        (client.put(f"/v1/proposals/{pid}/follow"), 401),
        (client.put(f"/v1/proposals/{pid}/follow", headers={"Authorization": "Bearer x"}), 401),
        (
            client.put(f"/v1/proposals/{pid}/follow", headers=tokens.headers(roles=["department"])),
            403,
        ),
        (client.put(f"/v1/proposals/{uuid.uuid4()}/follow", headers=tokens.headers()), 404),
        (client.put("/v1/proposals/not-a-uuid/follow", headers=tokens.headers()), 422),
        (client.delete(f"/v1/proposals/{uuid.uuid4()}/follow", headers=tokens.headers()), 404),
        (client.delete(f"/v1/proposals/{pid}/follow"), 401),
        (client.get("/v1/proposals", params={"followed": "me"}), 401),
        (client.get("/v1/proposals", params={"followed": "you"}, headers=tokens.headers()), 422),
    ]
    for request, status in cases:
        response = await request
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await _follow_rows(sessions) == before


async def test_the_proposer_follows_their_proposal(
    client: httpx.AsyncClient, tokens: TestTokens
) -> None:
    author = uuid.uuid4()
    pid = (await propose(client, tokens, author))["id"]
    page = (await _followers(client, pid)).json()
    assert page == {"items": [{"citizen_id": str(author)}], "next_cursor": None}


async def test_agreeing_follows_unless_opted_out_or_left(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, ctx: ProposalContext
) -> None:
    author = uuid.uuid4()
    pid = (await propose(client, tokens, author))["id"]
    agrees, opted_out, left = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    prefs = await client.get("/v1/proposals/follow-preferences", headers=tokens.headers(opted_out))
    assert prefs.json() == {"follow_agreed": True}
    put = await client.put(
        "/v1/proposals/follow-preferences",
        json={"follow_agreed": False},
        headers=tokens.headers(opted_out),
    )
    assert put.status_code == 200
    assert put.json() == {"follow_agreed": False}
    prefs = await client.get("/v1/proposals/follow-preferences", headers=tokens.headers(opted_out))
    assert prefs.json() == {"follow_agreed": False}
    # Left before the tally consumer applied the agreement: it does not follow again.
    await client.delete(f"/v1/proposals/{pid}/follow", headers=tokens.headers(left))
    await _agree(sessions, ctx, [(agrees, pid), (opted_out, pid), (left, pid), (agrees, pid)])
    ids = {item["citizen_id"] for item in (await _followers(client, pid)).json()["items"]}
    assert ids == {str(author), str(agrees)}
    # An agreement on a proposal proposal-svc never heard of is skipped, not a failure.
    await _agree(sessions, ctx, [(agrees, str(uuid.uuid4()))])


async def test_preference_refusals(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    url = "/v1/proposals/follow-preferences"
    me = tokens.headers()
    assert (await client.get(url)).status_code == 401
    assert (await client.put(url, json={"follow_agreed": False})).status_code == 401
    bodies: list[object] = [{}, {"follow_agreed": "maybe"}, {"follow_agreed": False, "x": 1}, []]
    for body in bodies:
        response = await client.put(url, json=body, headers=me)
        assert response.status_code == 422, response.text
    broken = await client.put(url, content=b"{", headers={**me, "Content-Type": "application/json"})
    assert broken.status_code in (400, 422)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(FollowPreference)) == 0


async def test_followers_are_paged_by_citizen_id(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, ctx: ProposalContext
) -> None:
    author = uuid.uuid4()
    pid = (await propose(client, tokens, author))["id"]
    citizens = [uuid.uuid4() for _ in range(6)]
    await _agree(sessions, ctx, [(c, pid) for c in citizens])
    seen: list[str] = []
    cursor = ""
    while True:
        page = (await _followers(client, pid, limit="4", cursor=cursor)).json()
        seen += [item["citizen_id"] for item in page["items"]]
        if page["next_cursor"] is None:
            break
        cursor = page["next_cursor"]
    assert seen == sorted(str(c) for c in [author, *citizens])


async def test_followers_need_notify_svc_signature(
    client: httpx.AsyncClient, tokens: TestTokens
) -> None:
    pid = (await propose(client, tokens))["id"]
    url = f"/internal/v1/proposals/{pid}/followers"
    unsigned = await client.get(url, headers=tokens.headers())
    assert unsigned.status_code == 401
    assert unsigned.json()["type"].endswith("service-auth-required")
    async with _signed(client, "vote-svc") as other:
        response = await other.get(url)
    assert response.status_code in (401, 403)
    assert (await _followers(client, str(uuid.uuid4()))).status_code == 404
    assert (await _followers(client, pid, cursor="!!")).status_code == 400
    assert (await _followers(client, pid, limit="0")).status_code == 422
