"""Forum opinions over HTTP: several per citizen, stance counts per person by their latest
published opinion, listings by stance, and the rules they share with comments."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from deliberation_helpers import Deliberation, events

from proposal_svc.config import ProposalSettings
from services.clock import ManualClock
from services_dev.testing.tokens import TestTokens


async def _opinions(client: httpx.AsyncClient, fid: str, **params: Any) -> dict[str, Any]:
    response = await client.get(f"/v1/forums/{fid}/opinions", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_stance_counts_take_each_citizens_latest_published_opinion(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    clock: ManualClock,
    proposal_settings: ProposalSettings,
) -> None:
    d = Deliberation(client, tokens)
    fid = await d.forum(clock)
    alice, bob, carol = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    response = await client.post(
        f"/v1/forums/{fid}/opinions",
        json={"stance": "pro", "body": "대여소가 늘면 좋겠습니다"},
        headers=d.citizen(alice),
    )
    assert response.status_code == 201, response.text
    first = response.json()
    assert response.headers["location"] == f"/v1/comments/{first['id']}"
    assert (first["kind"], first["forum_id"], first["stance"], first["proposal_id"]) == (
        "opinion",
        fid,
        "pro",
        None,
    )
    clock.advance(seconds=1)
    await d.opinion(fid, "pro", d.citizen(bob))
    clock.advance(seconds=1)
    changed = await d.opinion(fid, "con", d.citizen(alice), "생각해 보니 반대합니다")
    clock.advance(seconds=1)
    await d.opinion(fid, "neutral", d.citizen(carol))
    page = await _opinions(client, fid)
    assert page["counts"] == {"pro": 1, "con": 1, "neutral": 1, "participants": 3}
    assert len(page["items"]) == 4  # every opinion is listed; each person counted once
    pros = await _opinions(client, fid, stance="pro")
    assert pros["stance"] == "pro"
    assert [o["stance"] for o in pros["items"]] == ["pro", "pro"]
    assert pros["counts"] == page["counts"]
    # Alice deletes her latest opinion: her earlier one counts again.
    deleted = await client.delete(f"/v1/comments/{changed['id']}", headers=d.citizen(alice))
    assert deleted.status_code == 200
    assert (await _opinions(client, fid))["counts"] == {
        "pro": 2,
        "con": 0,
        "neutral": 1,
        "participants": 3,
    }
    # A held opinion does not count (nor its stance show a text).
    clock.advance(seconds=1)
    held = await d.opinion(fid, "con", d.citizen(bob), "씨발 반대")
    assert (held["status"], held["body"]) == ("held", None)
    assert (await _opinions(client, fid))["counts"]["con"] == 0
    posted = await events(proposal_settings, "opinion.")
    assert [e["data"]["stance"] for e in posted] == ["pro", "pro", "con", "neutral", "con"]
    assert posted[0]["data"]["target_type"] == "forum"
    assert all(str(alice) not in str(e) and "반대" not in str(e) for e in posted)


async def test_opinions_are_liked_reported_and_paged_like_comments(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock
) -> None:
    d = Deliberation(client, tokens)
    fid = await d.forum(clock)
    ids = []
    for stance in ["pro", "con", "pro", "neutral", "con"]:
        clock.advance(seconds=1)
        ids.append((await d.opinion(fid, stance, d.citizen()))["id"])
    liked = await client.put(f"/v1/comments/{ids[1]}/like", headers=d.citizen())
    assert liked.json()["like_count"] == 1
    first = await _opinions(client, fid, sort="liked", limit=2)
    assert [o["id"] for o in first["items"]] == [ids[1], ids[4]]
    rest = await _opinions(client, fid, sort="liked", limit=2, cursor=first["next_cursor"])
    assert [o["id"] for o in rest["items"]] == [ids[3], ids[2]]
    for _ in range(3):
        assert (await d.report(ids[0])).status_code == 201
    assert (await d.read(ids[0]))["status"] == "held"


async def test_only_open_forums_take_opinions(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock
) -> None:
    d = Deliberation(client, tokens)
    fid = await d.forum(clock)
    closed = await client.post(f"/v1/forums/{fid}/closure", headers=d.admin())
    assert closed.status_code == 200, closed.text
    refused = await client.post(
        f"/v1/forums/{fid}/opinions",
        json={"stance": "pro", "body": "늦었어요"},
        headers=d.citizen(),
    )
    assert refused.status_code == 409
    assert refused.json()["forum_status"] == "closed"
    missing = await client.post(
        f"/v1/forums/{uuid.uuid4()}/opinions",
        json={"stance": "pro", "body": "어디에"},
        headers=d.citizen(),
    )
    assert missing.status_code == 404
    assert (await client.get(f"/v1/forums/{uuid.uuid4()}/opinions")).status_code == 404
