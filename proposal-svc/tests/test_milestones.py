"""Implementation tracking: staff publish milestones on adopted or budget-linked proposals only,
dropping a budget-linked project needs a reason, the timeline shows them and an event is staged;
refusals write nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from proposal_helpers import propose

from proposal_svc.config import ProposalSettings
from services.clock import ManualClock
from services.db import to_plain_url
from services_dev.testing.tokens import TestTokens

MILESTONE = {
    "title": "대여소 12곳 설치 공사 착수",
    "status": "in_progress",
    "progress": 40,
    "budget_krw": 360_000_000,
    "note": "마포구 6곳 완료",
}


def _staff(tokens: TestTokens) -> dict[str, str]:
    return tokens.headers(roles=["citizen", "department"], department="교통실")


async def _fetch(settings: ProposalSettings, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(to_plain_url(settings.database_url))
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


async def _adopted(client: httpx.AsyncClient, tokens: TestTokens) -> str:
    created = await propose(client, tokens)
    decided = await client.post(
        f"/v1/proposals/{created['id']}/adoption",
        json={"decision": "adopt", "reason": "timely", "rationale": "시의적절한 제안입니다."},
        headers=tokens.headers(roles=["citizen", "committee"]),
    )
    assert decided.status_code == 201, decided.text
    assert decided.json()["status"] == "adopted"
    proposal_id: str = created["id"]
    return proposal_id


async def _budget_linked(
    client: httpx.AsyncClient, tokens: TestTokens, settings: ProposalSettings
) -> str:
    created = await propose(client, tokens)
    await _fetch(
        settings,
        "UPDATE proposals SET status = 'budget_linked' WHERE id = $1",
        uuid.UUID(created["id"]),
    )
    proposal_id: str = created["id"]
    return proposal_id


async def test_staff_publish_milestones_the_timeline_shows_and_an_event_announces(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    proposal_settings: ProposalSettings,
    clock: ManualClock,
) -> None:
    proposal_id = await _adopted(client, tokens)
    url = f"/v1/proposals/{proposal_id}/milestones"
    first = await client.post(url, json=MILESTONE, headers=_staff(tokens))
    assert first.status_code == 201, first.text
    body = first.json()
    assert body["status"] == "in_progress"
    assert body["department"] == "교통실"
    assert body["published_by_role"] == "department"
    clock.advance(minutes=1)  # published later: listed after it
    done = await client.post(
        url,
        json={"title": "설치 완료", "status": "done", "note": ""},
        headers=tokens.headers(roles=["citizen", "mayor_office"]),
    )
    assert done.status_code == 201, done.text
    assert done.json()["progress"] == 100
    listed = (await client.get(url)).json()
    assert [m["title"] for m in listed["items"]] == ["대여소 12곳 설치 공사 착수", "설치 완료"]
    entries = (await client.get(f"/v1/proposals/{proposal_id}/timeline")).json()["entries"]
    published = [e for e in entries if e["kind"] == "milestone_published"]
    assert [e["data"]["status"] for e in published] == ["in_progress", "done"]
    assert published[0]["data"]["budget_krw"] == 360_000_000
    assert published[0]["actor_role"] == "department"
    rows = await _fetch(
        proposal_settings,
        "SELECT envelope FROM outbox WHERE subject LIKE '%milestone_published%' ORDER BY 1",
    )
    assert len(rows) == 2
    envelopes = [
        json.loads(r["envelope"]) if isinstance(r["envelope"], str) else r["envelope"] for r in rows
    ]
    data = {e["data"]["milestone_id"]: e["data"] for e in envelopes}[body["id"]]
    assert data["milestone_title"] == MILESTONE["title"]
    assert data["proposal_id"] == proposal_id
    assert "published_by" not in data


async def test_only_adopted_or_budget_linked_proposals_have_milestones(
    client: httpx.AsyncClient, tokens: TestTokens, proposal_settings: ProposalSettings
) -> None:
    open_one = await propose(client, tokens)
    refused = await client.post(
        f"/v1/proposals/{open_one['id']}/milestones", json=MILESTONE, headers=_staff(tokens)
    )
    assert refused.status_code == 409
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/proposal-not-implementable")
    linked = await _budget_linked(client, tokens, proposal_settings)
    ok = await client.post(
        f"/v1/proposals/{linked}/milestones", json=MILESTONE, headers=_staff(tokens)
    )
    assert ok.status_code == 201
    assert await _fetch(proposal_settings, "SELECT id FROM milestones") != []
    assert len(await _fetch(proposal_settings, "SELECT id FROM milestones")) == 1


async def test_dropping_a_budget_linked_project_needs_a_reason(
    client: httpx.AsyncClient, tokens: TestTokens, proposal_settings: ProposalSettings
) -> None:
    linked = await _budget_linked(client, tokens, proposal_settings)
    url = f"/v1/proposals/{linked}/milestones"
    dropped = {"title": "사업 중단", "status": "dropped", "note": "부지 미확보"}
    refused = await client.post(url, json=dropped, headers=_staff(tokens))
    assert refused.status_code == 422
    assert refused.json()["type"].endswith("/reason-required")
    blank = await client.post(url, json={**dropped, "reason": "  "}, headers=_staff(tokens))
    assert blank.status_code == 422
    assert await _fetch(proposal_settings, "SELECT id FROM milestones") == []
    ok = await client.post(
        url, json={**dropped, "reason": "부지 협의 결렬"}, headers=_staff(tokens)
    )
    assert ok.status_code == 201
    assert ok.json()["reason"] == "부지 협의 결렬"
    # An adopted (not budget-linked) proposal's step may be dropped without one.
    adopted = await _adopted(client, tokens)
    plain = await client.post(
        f"/v1/proposals/{adopted}/milestones", json=dropped, headers=_staff(tokens)
    )
    assert plain.status_code == 201


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({**MILESTONE, "status": "finished"}, 422),
        ({**MILESTONE, "progress": 101}, 422),
        ({**MILESTONE, "budget_krw": -1}, 422),
        ({k: v for k, v in MILESTONE.items() if k != "note"}, 422),
        ({**MILESTONE, "extra": 1}, 422),
        ({**MILESTONE, "title": ""}, 422),
    ],
)
async def test_bad_bodies_roles_and_ids_write_nothing(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    proposal_settings: ProposalSettings,
    body: dict[str, Any],
    status: int,
) -> None:
    proposal_id = await _adopted(client, tokens)
    url = f"/v1/proposals/{proposal_id}/milestones"
    bad = await client.post(url, json=body, headers=_staff(tokens))
    assert bad.status_code == status, bad.text
    assert bad.headers["content-type"] == "application/problem+json"
    citizen = await client.post(url, json=MILESTONE, headers=tokens.headers())
    assert citizen.status_code == 403
    anonymous = await client.post(url, json=MILESTONE)
    assert anonymous.status_code == 401
    malformed = await client.post(
        url, content=b"{", headers={**_staff(tokens), "content-type": "application/json"}
    )
    assert malformed.status_code in (400, 422)
    unknown = await client.post(
        f"/v1/proposals/{uuid.uuid4()}/milestones", json=MILESTONE, headers=_staff(tokens)
    )
    assert unknown.status_code == 404
    assert (await client.get(f"/v1/proposals/{uuid.uuid4()}/milestones")).status_code == 404
    assert await _fetch(proposal_settings, "SELECT id FROM milestones") == []
