"""Statistics of obligations (due, on time, late, overdue, open, median days) per department,
tier, category, district and month, and agreements per proposal district."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import httpx
from proposal_helpers import propose

from proposal_svc.config import ProposalSettings
from services.clock import ManualClock
from services.db import to_plain_url
from services_dev.testing.tokens import TestTokens


async def _sql(settings: ProposalSettings, sql: str, *args: Any) -> None:
    conn = await asyncpg.connect(to_plain_url(settings.database_url))
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


async def _owe(
    settings: ProposalSettings, proposal_id: str, kind: str, created: datetime, days: int
) -> None:
    await _sql(
        settings,
        "INSERT INTO obligations (id, proposal_id, kind, created_at, due_at) "
        "VALUES ($1, $2, $3, $4, $5)",
        uuid.uuid4(),
        uuid.UUID(proposal_id),
        kind,
        created,
        created + timedelta(days=days),
    )


async def _answer(
    client: httpx.AsyncClient, tokens: TestTokens, proposal_id: str, department: str
) -> None:
    response = await client.post(
        f"/v1/proposals/{proposal_id}/answers",
        json={"kind": "department", "body": "검토했습니다"},
        headers=tokens.headers(roles=["citizen", "department"], department=department),
    )
    assert response.status_code == 201, response.text


def _by_key(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["key"]: item for item in body["items"]}


async def test_obligations_per_department_tier_district_and_month(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    clock: ManualClock,
    proposal_settings: ProposalSettings,
) -> None:
    start = clock.now()
    on_time = await propose(client, tokens, district="마포구")
    late = await propose(client, tokens, district="마포구", title="늦게 답한 제안")
    overdue = await propose(client, tokens, district="강남구", title="답이 없는 제안")
    waiting = await propose(client, tokens, district=None, title="아직 기한 전인 제안")
    await _owe(proposal_settings, on_time["id"], "department_answer", start, 30)
    await _owe(proposal_settings, late["id"], "department_answer", start, 5)
    await _owe(proposal_settings, overdue["id"], "department_answer", start, 5)
    await _owe(proposal_settings, overdue["id"], "forum", start, 5)
    await _owe(proposal_settings, waiting["id"], "department_answer", start, 60)
    clock.advance(days=10)
    await _answer(client, tokens, on_time["id"], "교통실")
    await _answer(client, tokens, late["id"], "교통실")

    response = await client.get("/v1/statistics/obligations", params={"by": "department"})
    assert response.status_code == 200, response.text
    departments = _by_key(response.json())
    assert departments["교통실"] == {
        "key": "교통실",
        "total": 2,
        "due": 1,
        "fulfilled_on_time": 1,
        "fulfilled_late": 1,
        "overdue": 0,
        "open": 0,
        "median_days_to_fulfil": 10.0,
    }
    unassigned = departments["(unassigned)"]
    assert (unassigned["total"], unassigned["overdue"], unassigned["open"]) == (2, 1, 1)
    assert unassigned["median_days_to_fulfil"] is None
    assert "forum" not in departments  # the forum obligation is nobody's answer

    tiers = _by_key((await client.get("/v1/statistics/obligations?by=tier")).json())
    assert tiers["department_answer"]["total"] == 4
    assert tiers["forum"]["overdue"] == 1
    districts = _by_key((await client.get("/v1/statistics/obligations?by=district")).json())
    assert districts["마포구"]["fulfilled_on_time"] == 1
    assert districts["강남구"]["overdue"] == 2
    assert districts["(unassigned)"]["open"] == 1
    months = (await client.get("/v1/statistics/obligations?by=month")).json()["items"]
    assert sum(m["total"] for m in months) == 5
    assert all(len(m["key"]) == 7 for m in months)  # YYYY-MM
    categories = _by_key((await client.get("/v1/statistics/obligations?by=category")).json())
    assert categories["transport"]["total"] == 5


async def test_agreements_per_proposal_district(
    client: httpx.AsyncClient, tokens: TestTokens, proposal_settings: ProposalSettings
) -> None:
    a = await propose(client, tokens, district="마포구")
    await propose(client, tokens, district="마포구", title="두 번째")
    hidden = await propose(client, tokens, district="종로구", title="숨김")
    await _sql(
        proposal_settings,
        "UPDATE proposals SET agreement_count = 7 WHERE id = $1",
        uuid.UUID(a["id"]),
    )
    await _sql(
        proposal_settings,
        "UPDATE proposals SET agreement_count = 9, status = 'hidden' WHERE id = $1",
        uuid.UUID(hidden["id"]),
    )
    body = (await client.get("/v1/statistics/agreements?by=district")).json()
    assert body == {
        "by": "district",
        "items": [{"key": "마포구", "proposals": 2, "agreements": 7}],
    }


async def test_unknown_dimensions_are_problems(client: httpx.AsyncClient) -> None:
    for path in ("/v1/statistics/obligations?by=voter", "/v1/statistics/agreements?by=age"):
        response = await client.get(path)
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
