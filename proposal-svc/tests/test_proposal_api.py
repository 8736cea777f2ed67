"""proposal-svc over HTTP: the contract of API.md, roles, pagination, and bad input."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from proposal_helpers import BODY, propose

from proposal_svc.config import ProposalSettings
from services.clock import ManualClock
from services.db import to_plain_url
from services_dev.testing.tokens import TestTokens


async def _count(settings: ProposalSettings, table: str) -> int:
    conn = await asyncpg.connect(to_plain_url(settings.database_url))
    try:
        return int(await conn.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await conn.close()


async def test_create_and_read_a_proposal(client: httpx.AsyncClient, tokens: TestTokens) -> None:
    author = uuid.uuid4()
    created = await propose(client, tokens, author, title="  따릉이 대여소를 늘려주세요  ")
    assert created["title"] == "따릉이 대여소를 늘려주세요"  # trimmed and NFC
    assert created["status"] == "open"
    assert created["agreement_count"] == 0
    assert created["tiers_reached"] == []
    assert created["obligations"] == []
    assert created["answers"] == []
    assert created["similar"] == []
    fetched = (await client.get(f"/v1/proposals/{created['id']}")).json()
    assert {k: v for k, v in fetched.items() if k != "similar"} == {
        k: v for k, v in created.items() if k != "similar"
    }
    timeline = (await client.get(f"/v1/proposals/{created['id']}/timeline")).json()
    assert [e["kind"] for e in timeline["entries"]] == ["submitted", "opened"]


async def test_similar_proposals_are_found_at_creation(
    client: httpx.AsyncClient, tokens: TestTokens
) -> None:
    first = await propose(
        client, tokens, title="따릉이 대여소 확대 요청", body="따릉이 대여소를 확대해 주세요."
    )
    second = await propose(client, tokens)
    assert [s["id"] for s in second["similar"]] == [first["id"]]
    assert 0 < second["similar"][0]["score"] <= 1
    found = (
        await client.get("/v1/proposals/similar", params={"text": "따릉이 대여소를 늘려주세요"})
    ).json()
    assert {s["id"] for s in found["items"]} == {first["id"], second["id"]}
    unrelated = (
        await client.get("/v1/proposals/similar", params={"text": "어린이집 보육교사 처우 개선"})
    ).json()
    assert unrelated["items"] == []


async def test_nfc_normalisation(client: httpx.AsyncClient, tokens: TestTokens) -> None:
    decomposed = unicodedata.normalize("NFD", "따릉이 정류장")  # as some keyboards send it
    assert decomposed != "따릉이 정류장"
    created = await propose(client, tokens, title=decomposed)
    assert created["title"] == "따릉이 정류장"


async def test_listing_filters_sorts_and_pages(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock
) -> None:
    ids = []
    for i in range(5):
        clock.advance(minutes=1)
        category = "transport" if i % 2 == 0 else "environment"
        ids.append((await propose(client, tokens, title=f"제안 {i}", category=category))["id"])
    page1 = (await client.get("/v1/proposals", params={"limit": 2})).json()
    assert [p["id"] for p in page1["items"]] == [ids[4], ids[3]]
    page2 = (
        await client.get("/v1/proposals", params={"limit": 2, "cursor": page1["next_cursor"]})
    ).json()
    page3 = (
        await client.get("/v1/proposals", params={"limit": 2, "cursor": page2["next_cursor"]})
    ).json()
    assert [p["id"] for p in page2["items"] + page3["items"]] == [ids[2], ids[1], ids[0]]
    assert page3["next_cursor"] is None
    transport = (await client.get("/v1/proposals", params={"category": "transport"})).json()
    assert [p["id"] for p in transport["items"]] == [ids[4], ids[2], ids[0]]
    search = (await client.get("/v1/proposals", params={"q": "제안 3"})).json()
    assert [p["id"] for p in search["items"]] == [ids[3]]
    by_agreements = (
        await client.get("/v1/proposals", params={"sort": "agreements", "limit": 10})
    ).json()
    assert len(by_agreements["items"]) == 5
    bad_cursor = await client.get("/v1/proposals", params={"cursor": "garbage"})
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["type"].endswith("/invalid-cursor")
    bad_sort = await client.get("/v1/proposals", params={"sort": "random"})
    assert bad_sort.status_code == 422


async def test_withdraw_only_by_author(client: httpx.AsyncClient, tokens: TestTokens) -> None:
    author = uuid.uuid4()
    created = await propose(client, tokens, author)
    other = await client.post(f"/v1/proposals/{created['id']}/withdrawal", headers=tokens.headers())
    assert other.status_code == 403
    mine = await client.post(
        f"/v1/proposals/{created['id']}/withdrawal", headers=tokens.headers(author)
    )
    assert mine.status_code == 200
    assert mine.json()["status"] == "withdrawn"
    again = await client.post(
        f"/v1/proposals/{created['id']}/withdrawal", headers=tokens.headers(author)
    )
    assert again.status_code == 409


async def test_hide_keeps_reason_in_timeline(client: httpx.AsyncClient, tokens: TestTokens) -> None:
    created = await propose(client, tokens)
    citizen = await client.post(
        f"/v1/proposals/{created['id']}/hide",
        json={"reason": "개인정보 노출"},
        headers=tokens.headers(),
    )
    assert citizen.status_code == 403
    hidden = await client.post(
        f"/v1/proposals/{created['id']}/hide",
        json={"reason": "개인정보 노출"},
        headers=tokens.headers(roles=["citizen", "admin"]),
    )
    assert hidden.status_code == 200
    assert hidden.json()["status"] == "hidden"
    assert "개인정보 노출" in hidden.json()["body"]
    entries = (await client.get(f"/v1/proposals/{created['id']}/timeline")).json()["entries"]
    assert entries[-1]["kind"] == "status_changed"
    assert entries[-1]["data"]["reason"] == "개인정보 노출"
    listed = (await client.get("/v1/proposals")).json()["items"]
    assert created["id"] not in [p["id"] for p in listed]


async def test_answers_need_the_right_role(client: httpx.AsyncClient, tokens: TestTokens) -> None:
    created = await propose(client, tokens)
    url = f"/v1/proposals/{created['id']}/answers"
    body = {"kind": "mayor", "body": "답변"}
    assert (await client.post(url, json=body, headers=tokens.headers())).status_code == 403
    department = tokens.headers(roles=["citizen", "department"], department="교통실")
    assert (await client.post(url, json=body, headers=department)).status_code == 403
    answered = await client.post(
        url, json={"kind": "department", "body": "검토 중입니다"}, headers=department
    )
    assert answered.status_code == 201
    assert answered.json()["answers"][0]["department"] == "교통실"


async def test_forums_staff_create_get_close(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock
) -> None:
    body: dict[str, Any] = {
        "title": "12월 시민 공론장",
        "mode": "hybrid",
        "options": ["찬성", "반대"],
        "opens_at": (clock.now() - timedelta(minutes=1)).isoformat(),
        "closes_at": (clock.now() + timedelta(days=7)).isoformat(),
    }
    assert (await client.post("/v1/forums", json=body, headers=tokens.headers())).status_code == 403
    staff = tokens.headers(roles=["citizen", "mayor_office"])
    created = await client.post("/v1/forums", json=body, headers=staff)
    assert created.status_code == 201
    forum = created.json()
    assert forum["status"] == "open"
    assert (await client.get(f"/v1/forums/{forum['id']}")).json() == forum
    closed = await client.post(f"/v1/forums/{forum['id']}/closure", headers=staff)
    assert closed.json()["status"] == "closed"
    assert (
        await client.post(f"/v1/forums/{forum['id']}/closure", headers=staff)
    ).status_code == 409
    backwards = {**body, "closes_at": body["opens_at"]}
    assert (await client.post("/v1/forums", json=backwards, headers=staff)).status_code == 422
    duplicate_options = {**body, "options": ["찬성", "찬성"]}
    assert (
        await client.post("/v1/forums", json=duplicate_options, headers=staff)
    ).status_code == 422


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/v1/proposals", BODY),
        ("POST", "/v1/proposals/{pid}/withdrawal", None),
        ("POST", "/v1/proposals/{pid}/hide", {"reason": "x"}),
        ("POST", "/v1/proposals/{pid}/answers", {"kind": "department", "body": "x"}),
        (
            "POST",
            "/v1/proposals/{pid}/adoption",
            {"decision": "adopt", "reason": "timely", "rationale": "x"},
        ),
        (
            "POST",
            "/v1/forums",
            {
                "title": "t",
                "mode": "online",
                "options": ["a", "b"],
                "opens_at": "2030-01-01T00:00:00Z",
                "closes_at": "2030-01-02T00:00:00Z",
            },
        ),
    ],
)
async def test_unauthenticated_and_forged_tokens_write_nothing(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    proposal_settings: ProposalSettings,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    created = await propose(client, tokens)
    before = (
        await _count(proposal_settings, "timeline_entries"),
        await _count(proposal_settings, "outbox"),
    )
    url = path.format(pid=created["id"])
    anonymous = await client.request(method, url, json=body)
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == "application/problem+json"
    forged = TestTokens().issue(
        roles=["citizen", "admin", "committee", "department", "mayor_office"]
    )
    rejected = await client.request(
        method, url, json=body, headers={"Authorization": f"Bearer {forged}"}
    )
    assert rejected.status_code == 401
    after = (
        await _count(proposal_settings, "timeline_entries"),
        await _count(proposal_settings, "outbox"),
    )
    assert after == before


async def test_bad_bodies_and_unknown_ids(
    client: httpx.AsyncClient, tokens: TestTokens, proposal_settings: ProposalSettings
) -> None:
    headers = tokens.headers()
    cases = [
        (b'{"title": ', 400),
        (b'{"title": 1, "body": "b", "category": "transport"}', 422),
        (b'{"title": "t", "body": "b", "category": "space"}', 422),
        (b'{"title": "t", "body": "b", "category": "transport", "author_id": "x"}', 422),
        (b'{"title": "' + "가".encode() * 200 + b'", "body": "b", "category": "transport"}', 422),
        (
            b'{"title": "t", "body": "' + b"x" * (2 * 1024 * 1024) + b'", "category": "transport"}',
            413,
        ),
    ]
    for content, status in cases:
        response = await client.post(
            "/v1/proposals",
            content=content,
            headers={**headers, "content-type": "application/json"},
        )
        assert response.status_code == status, (content[:40], response.text)
        assert response.headers["content-type"] == "application/problem+json"
    assert await _count(proposal_settings, "proposals") == 0
    unknown = uuid.uuid4()
    for path in (
        f"/v1/proposals/{unknown}",
        f"/v1/proposals/{unknown}/timeline",
        f"/v1/forums/{unknown}",
    ):
        assert (await client.get(path)).status_code == 404
    committee = tokens.headers(roles=["citizen", "committee"])
    adoption = await client.post(
        f"/v1/proposals/{unknown}/adoption",
        json={"decision": "adopt", "reason": "timely", "rationale": "x"},
        headers=committee,
    )
    assert adoption.status_code == 404
    assert (await client.get("/v1/proposals/not-a-uuid")).status_code == 422
