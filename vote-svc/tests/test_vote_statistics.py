"""Statistics of agreements: the voter's age band and residency recorded with each vote, the
k = 10 suppression of the breakdowns, and the signing rate per hour."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import text
from vote_helpers import Sessions, open_proposal

from services_dev.testing.tokens import TestTokens
from vote_svc.hot_path import age_band


async def _agree(
    client: httpx.AsyncClient, tokens: TestTokens, proposal_id: uuid.UUID, **claims: Any
) -> None:
    response = await client.post(
        "/v1/votes/agreements",
        json={"proposal_id": str(proposal_id)},
        headers={"Authorization": f"Bearer {tokens.issue(claims=claims)}"},
    )
    assert response.status_code == 201, response.text


def test_age_bands_are_identitys() -> None:
    assert [age_band(a) for a in (None, 13, 14, 17, 18, 29, 30, 45, 69, 70, 101)] == [
        None,
        "under_14",
        "14_17",
        "14_17",
        "18_29",
        "18_29",
        "30_39",
        "40_49",
        "60_69",
        "70_plus",
        "70_plus",
    ]


async def test_each_vote_keeps_the_tokens_age_band_and_residency_not_the_age(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposal_id = await open_proposal(sessions)
    await _agree(client, tokens, proposal_id, age=34, residency="worker")
    await _agree(client, tokens, proposal_id)
    async with sessions() as session:
        rows = (await session.execute(text("SELECT age_band, residency FROM votes"))).all()
    assert sorted(rows, key=str) == sorted([("30_39", "worker"), (None, None)], key=str)


async def test_breakdowns_publish_only_cells_of_at_least_ten_people(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposal_id = await open_proposal(sessions)
    voters = [(35, "resident")] * 12 + [(25, "resident")] * 10 + [(45, "student")] * 3
    await asyncio.gather(
        *(_agree(client, tokens, proposal_id, age=a, residency=r) for a, r in voters)
    )
    response = await client.get(f"/v1/votes/statistics/proposals/{proposal_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["agreements"] == 25
    assert body["k"] == 10
    ages = {c["key"]: c for c in body["by_age_band"]}
    assert ages["30_39"] == {"key": "30_39", "count": 12, "suppressed": False}
    assert ages["18_29"]["count"] == 10
    assert ages["40_49"] == {"key": "40_49", "count": None, "suppressed": True}
    assert ages["under_14"]["suppressed"]  # zero is suppressed too, not shown as 0
    assert list(ages)[-1] == "unknown"
    residencies = {c["key"]: c["count"] for c in body["by_residency"]}
    # 3 students alone would be 25 - 22: the next smallest published cell... is none here
    # (worker 0 and unknown 0 are suppressed already), so resident stays.
    assert residencies == {"resident": 22, "worker": None, "student": None, "unknown": None}


async def test_a_lone_small_cell_takes_the_next_smallest_with_it(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposal_id = await open_proposal(sessions)
    async with sessions() as session, session.begin():
        for n, (band, residency) in enumerate(
            [("30_39", "resident")] * 30 + [("40_49", "resident")] * 11
        ):
            await _insert_vote(session, proposal_id, band, residency, datetime.now(UTC), n)
        await session.execute(
            text(
                "INSERT INTO tallies (target_type, target_id, vote_count, by_choice) "
                "VALUES ('proposal', :t, 41, '{\"agree\": 41}')"
            ),
            {"t": proposal_id},
        )
    body = (await client.get(f"/v1/votes/statistics/proposals/{proposal_id}")).json()
    ages = {c["key"]: c["count"] for c in body["by_age_band"]}
    assert ages["30_39"] == 30
    assert ages["40_49"] == 11
    assert all(ages[k] is None for k in ages if k not in ("30_39", "40_49"))


async def _insert_vote(
    session: Any,
    proposal_id: uuid.UUID,
    band: str | None,
    residency: str | None,
    cast_at: datetime,
    n: int,
) -> None:
    await session.execute(
        text(
            "INSERT INTO votes (id, target_type, target_id, citizen_id, choice, cast_at, "
            "voter_tag, record_hash, record, age_band, residency) VALUES (:id, 'proposal', :t, "
            ":c, 'agree', :at, :tag, :hash, '\\x00', :band, :res)"
        ),
        {
            "id": uuid.uuid4(),
            "t": proposal_id,
            "c": uuid.uuid4(),
            "at": cast_at,
            "tag": f"{n:064x}",
            "hash": f"{n:064x}",
            "band": band,
            "res": residency,
        },
    )


async def test_signing_history_counts_agreements_per_hour_with_gaps_as_zero(
    client: httpx.AsyncClient, sessions: Sessions
) -> None:
    proposal_id = await open_proposal(sessions)
    start = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
    moments = [start + timedelta(minutes=m) for m in (1, 5, 59)] + [
        start + timedelta(hours=2, minutes=30)
    ]
    async with sessions() as session, session.begin():
        for n, moment in enumerate(moments):
            await _insert_vote(session, proposal_id, None, None, moment, n)
    response = await client.get(f"/v1/votes/tallies/proposals/{proposal_id}/history")
    assert response.status_code == 200, response.text
    assert response.json() == {
        "proposal_id": str(proposal_id),
        "interval": "hour",
        "items": [
            {"hour": "2026-11-24T12:00:00Z", "agreements": 3, "total": 3},
            {"hour": "2026-11-24T13:00:00Z", "agreements": 0, "total": 3},
            {"hour": "2026-11-24T14:00:00Z", "agreements": 1, "total": 4},
        ],
    }
    empty = await open_proposal(sessions)
    assert (await client.get(f"/v1/votes/tallies/proposals/{empty}/history")).json()["items"] == []


async def test_unknown_proposals_and_bad_ids_are_problems(client: httpx.AsyncClient) -> None:
    for path in ("/v1/votes/statistics/proposals/{}", "/v1/votes/tallies/proposals/{}/history"):
        unknown = await client.get(path.format(uuid.uuid4()))
        assert unknown.status_code == 404
        assert unknown.headers["content-type"] == "application/problem+json"
        assert unknown.json()["type"].endswith("/proposal-not-found")
        bad = await client.get(path.format("not-a-uuid"))
        assert bad.status_code == 422
        assert bad.headers["content-type"] == "application/problem+json"
