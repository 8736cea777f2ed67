"""The citizen's own screens and the reference data: ``author=me``, ``district``, ``total``, the
forum list, ``Location`` on 201, whitespace-only texts, categories, districts, tiers."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import httpx
from proposal_helpers import BODY, propose
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc.models import Forum, Proposal
from services.clock import ManualClock
from services_dev.testing.tokens import TestTokens

Sessions = async_sessionmaker[AsyncSession]


async def _count(sessions: Sessions, model: type[Any]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_author_me_lists_only_my_proposals_with_a_total(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock
) -> None:
    me = uuid.uuid4()
    mine = []
    for i in range(3):
        clock.advance(minutes=1)  # newest first: distinct creation times
        mine.append((await propose(client, tokens, me, title=f"내 제안 {i}"))["id"])
    await propose(client, tokens, uuid.uuid4())
    listed = await client.get(
        "/v1/proposals", params={"author": "me", "limit": 2}, headers=tokens.headers(me)
    )
    assert listed.status_code == 200
    page = listed.json()
    assert [p["id"] for p in page["items"]] == mine[::-1][:2]
    assert page["total"] == 3
    rest = await client.get(
        "/v1/proposals",
        params={"author": "me", "cursor": page["next_cursor"]},
        headers=tokens.headers(me),
    )
    assert [p["id"] for p in rest.json()["items"]] == mine[:1]
    everyone = (await client.get("/v1/proposals")).json()
    assert everyone["total"] == 4


async def test_author_me_refusals(client: httpx.AsyncClient, tokens: TestTokens) -> None:
    for params, headers, status in [
        ({"author": "me"}, {}, 401),
        ({"author": "me"}, {"Authorization": "Bearer forged"}, 401),
        ({"author": str(uuid.uuid4())}, tokens.headers(), 422),
        ({"district": "부산진구"}, {}, 422),
    ]:
        response = await client.get("/v1/proposals", params=params, headers=headers)
        assert response.status_code == status, response.text
        assert response.headers["content-type"].startswith("application/problem+json")


async def test_districts_validate_proposals_and_filter_lists(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    by_name = await propose(client, tokens, district="마포구")
    by_code = await propose(client, tokens, district="11680")
    await propose(client, tokens, district=None)
    assert (by_name["district"], by_name["district_code"]) == ("마포구", "11440")
    assert (by_code["district"], by_code["district_code"]) == ("강남구", "11680")
    for value in ("마포구", "11440"):
        listed = (await client.get("/v1/proposals", params={"district": value})).json()
        assert [p["id"] for p in listed["items"]] == [by_name["id"]]
        assert listed["total"] == 1
        assert listed["items"][0]["district_code"] == "11440"
    before = await _count(sessions, Proposal)
    refused = await client.post(
        "/v1/proposals", json={**BODY, "district": "해운대구"}, headers=tokens.headers()
    )
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/unknown-district")
    assert await _count(sessions, Proposal) == before


async def test_whitespace_only_texts_are_422_and_write_nothing(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, clock: ManualClock
) -> None:
    pid = (await propose(client, tokens))["id"]
    before = await _count(sessions, Proposal)
    for field in ("title", "body", "category"):
        response = await client.post(
            "/v1/proposals", json={**BODY, field: " \t\u3000\n"}, headers=tokens.headers()
        )
        assert response.status_code == 422, (field, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
    assert await _count(sessions, Proposal) == before
    department = tokens.headers(roles=["citizen", "department"], department="교통실")
    blank_answer = await client.post(
        f"/v1/proposals/{pid}/answers",
        json={"kind": "department", "body": "   "},
        headers=department,
    )
    assert blank_answer.status_code == 422
    staff = tokens.headers(roles=["citizen", "mayor_office"])
    blank_forum = await client.post(
        "/v1/forums",
        json={
            "title": "  ",
            "mode": "online",
            "options": ["찬성", "반대"],
            "opens_at": clock.now().isoformat(),
            "closes_at": (clock.now() + timedelta(days=1)).isoformat(),
        },
        headers=staff,
    )
    assert blank_forum.status_code == 422
    assert await _count(sessions, Forum) == 0


async def test_every_201_has_a_location(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock
) -> None:
    created = await client.post("/v1/proposals", json=BODY, headers=tokens.headers())
    pid = created.json()["id"]
    assert created.headers["Location"] == f"/v1/proposals/{pid}"
    assert (await client.get(created.headers["Location"])).status_code == 200
    department = tokens.headers(roles=["citizen", "department"], department="교통실")
    answered = await client.post(
        f"/v1/proposals/{pid}/answers",
        json={"kind": "department", "body": "검토하겠습니다"},
        headers=department,
    )
    assert answered.status_code == 201
    assert answered.headers["Location"] == f"/v1/proposals/{pid}"
    adopted = await client.post(
        f"/v1/proposals/{pid}/adoption",
        json={"decision": "adopt", "reason": "timely", "rationale": "시의적절합니다"},
        headers=tokens.headers(roles=["citizen", "committee"]),
    )
    assert adopted.status_code == 201
    assert adopted.headers["Location"] == f"/v1/proposals/{pid}"
    forum = await client.post(
        "/v1/forums",
        json={
            "title": "12월 시민 공론장",
            "mode": "online",
            "options": ["찬성", "반대"],
            "opens_at": clock.now().isoformat(),
            "closes_at": (clock.now() + timedelta(days=1)).isoformat(),
        },
        headers=tokens.headers(roles=["citizen", "mayor_office"]),
    )
    assert forum.status_code == 201
    assert forum.headers["Location"] == f"/v1/forums/{forum.json()['id']}"


async def _forum(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock, opens_in_days: int
) -> dict[str, Any]:
    opens = clock.now() + timedelta(days=opens_in_days)
    response = await client.post(
        "/v1/forums",
        json={
            "title": f"시민 공론장 {opens_in_days}",
            "mode": "hybrid",
            "options": ["찬성", "반대"],
            "opens_at": opens.isoformat(),
            "closes_at": (opens + timedelta(days=7)).isoformat(),
        },
        headers=tokens.headers(roles=["citizen", "admin"]),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_forum_list_by_status_and_kind(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock
) -> None:
    monthly_open = await _forum(client, tokens, clock, 0)
    monthly_next = await _forum(client, tokens, clock, 10)
    pid = (await propose(client, tokens))["id"]
    staff = tokens.headers(roles=["citizen", "admin"])
    on_proposal = await client.post(
        "/v1/forums",
        json={
            "title": "제안 공론장",
            "mode": "online",
            "options": ["찬성", "반대"],
            "opens_at": (clock.now() - timedelta(days=1)).isoformat(),
            "closes_at": (clock.now() + timedelta(days=3)).isoformat(),
            "proposal_id": pid,
        },
        headers=staff,
    )
    assert on_proposal.json()["kind"] == "proposal"
    assert monthly_open["kind"] == "monthly"

    every = (await client.get("/v1/forums")).json()
    assert [f["id"] for f in every["items"]] == [
        monthly_next["id"],
        monthly_open["id"],
        on_proposal.json()["id"],
    ]
    assert every["total"] == 3
    monthly = (await client.get("/v1/forums", params={"kind": "monthly"})).json()
    assert {f["id"] for f in monthly["items"]} == {monthly_open["id"], monthly_next["id"]}
    scheduled = (await client.get("/v1/forums", params={"status": "scheduled"})).json()
    assert [f["id"] for f in scheduled["items"]] == [monthly_next["id"]]
    first = (await client.get("/v1/forums", params={"limit": 2})).json()
    rest = (
        await client.get("/v1/forums", params={"limit": 2, "cursor": first["next_cursor"]})
    ).json()
    assert [f["id"] for f in first["items"] + rest["items"]] == [f["id"] for f in every["items"]]
    assert rest["next_cursor"] is None
    for params in ({"status": "running"}, {"kind": "weekly"}, {"limit": 0}, {"cursor": "@@"}):
        refused = await client.get("/v1/forums", params=params)
        assert refused.status_code in (400, 422), params
        assert refused.headers["content-type"].startswith("application/problem+json")


async def test_reference_data(client: httpx.AsyncClient) -> None:
    categories = (await client.get("/v1/proposals/categories")).json()["items"]
    assert categories[0] == {"code": "transport", "label_ko": "교통", "label_en": "Transport"}
    assert len(categories) == 11
    districts = (await client.get("/v1/proposals/districts")).json()["items"]
    assert len(districts) == 25
    assert len({d["code"] for d in districts}) == 25
    assert {"code": "11440", "name_ko": "마포구", "name_en": "Mapo-gu"} in districts
    tiers = (await client.get("/v1/proposals/tiers")).json()
    assert [(t["name"], t["threshold"], t["due_days"]) for t in tiers["items"]] == [
        ("department_answer", 50, 30),
        ("forum", 100, 30),
        ("mayor_answer", 1000, 30),
    ]
    assert tiers["budget_link"] == {"participants": 1000, "review_days": 90}
