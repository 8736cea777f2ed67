"""Casting agreements and ballots through the HTTP API: receipts, one vote per citizen per
target, refusals, tallies and reading one's own vote."""

from __future__ import annotations

import base64
import hashlib
import unicodedata
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from vote_helpers import (
    NOTHING,
    Sessions,
    Written,
    apply,
    citizen_reinstated,
    citizen_suspended,
    forum_closed,
    now,
    open_forum,
    open_proposal,
    proposal_closed,
    proposal_opened,
    written,
)

from services.canonical import VoteRecord, target_key, voter_tag
from services_dev.testing.tokens import TestTokens
from vote_svc.config import VoteSettings
from vote_svc.service import refusals

PROBLEM = "application/problem+json"


async def agree(
    client: httpx.AsyncClient, tokens: TestTokens, citizen: uuid.UUID, proposal_id: uuid.UUID
) -> httpx.Response:
    return await client.post(
        "/v1/votes/agreements",
        json={"proposal_id": str(proposal_id)},
        headers=tokens.headers(citizen),
    )


async def ballot(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    citizen: uuid.UUID,
    forum_id: uuid.UUID,
    choice: str,
) -> httpx.Response:
    return await client.post(
        f"/v1/votes/forums/{forum_id}/ballots",
        json={"choice": choice},
        headers=tokens.headers(citizen),
    )


def problem(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(f"/{slug}"), body
    return body


async def test_agreement_answers_a_receipt_that_verifies(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, vote_settings: VoteSettings
) -> None:
    proposal_id = await open_proposal(sessions)
    citizen = uuid.uuid4()
    response = await agree(client, tokens, citizen, proposal_id)
    assert response.status_code == 201, response.text
    body = response.json()
    assert set(body) == {"vote_id", "proposal_id", "cast_at", "receipt"}
    assert body["proposal_id"] == str(proposal_id)
    assert response.headers["location"] == f"/v1/votes/{body['vote_id']}"
    target = target_key("proposal", proposal_id)
    assert body["receipt"]["voter_tag"] == voter_tag(vote_settings.tag_key, citizen, target)

    mine = await client.get(f"/v1/votes/{body['vote_id']}", headers=tokens.headers(citizen))
    assert mine.status_code == 200, mine.text
    vote = mine.json()
    assert vote["receipt"]["record_hash"] == body["receipt"]["record_hash"]
    assert vote["ledger_receipt"] == f"/v1/ledger/receipts/{body['vote_id']}"
    raw = base64.b64decode(vote["receipt"]["record"])
    record = VoteRecord.decode(raw)
    assert hashlib.sha256(raw).hexdigest() == body["receipt"]["record_hash"] == record.hash()
    assert record.target == target
    assert record.choice == "agree" == vote["choice"]
    assert str(record.vote_id) == body["vote_id"] == vote["vote_id"]
    assert record.voter_tag == body["receipt"]["voter_tag"]
    assert record.cast_at == body["cast_at"] == vote["cast_at"]
    assert str(citizen) not in raw.decode()

    tally = await client.get(f"/v1/votes/tallies/proposals/{proposal_id}")
    assert tally.json() == {"proposal_id": str(proposal_id), "agreements": 1}
    assert await written(sessions) == Written(votes=1, tallied=1, outbox=2)


async def test_second_agreement_is_refused_with_the_first_vote(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposal_id = await open_proposal(sessions)
    citizen = uuid.uuid4()
    first = (await agree(client, tokens, citizen, proposal_id)).json()
    again = problem(await agree(client, tokens, citizen, proposal_id), 409, "already-voted")
    assert again["vote_id"] == first["vote_id"]
    assert again["proposal_id"] == str(proposal_id)
    assert again["receipt"] == first["receipt"]
    assert again["cast_at"] == first["cast_at"]
    assert await written(sessions) == Written(votes=1, tallied=1, outbox=2)


async def test_one_citizen_has_unlinkable_tags_across_proposals(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    citizen = uuid.uuid4()
    tags = set()
    for _ in range(3):
        proposal_id = await open_proposal(sessions)
        response = await agree(client, tokens, citizen, proposal_id)
        tags.add(response.json()["receipt"]["voter_tag"])
    assert len(tags) == 3


async def test_unknown_proposal_is_404(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    await open_proposal(sessions)
    problem(await agree(client, tokens, uuid.uuid4(), uuid.uuid4()), 404, "proposal-not-found")
    assert await written(sessions) == NOTHING


@pytest.mark.parametrize("status", ["closed", "withdrawn", "hidden"])
async def test_closed_proposal_is_409_saying_why(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, status: str
) -> None:
    proposal_id = await open_proposal(sessions)
    await apply(sessions, proposal_closed(proposal_id, status))
    body = problem(await agree(client, tokens, uuid.uuid4(), proposal_id), 409, "proposal-closed")
    assert body["target_status"] == status
    assert await written(sessions) == NOTHING
    # The tally of a closed proposal stays readable.
    tally = await client.get(f"/v1/votes/tallies/proposals/{proposal_id}")
    assert tally.json()["agreements"] == 0


async def test_proposal_past_its_closing_time_is_closed_without_an_event(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposal_id = await open_proposal(
        sessions, opened_at=now() - timedelta(days=31), closes_in=timedelta(days=30)
    )
    body = problem(await agree(client, tokens, uuid.uuid4(), proposal_id), 409, "proposal-closed")
    assert body["closes_at"].endswith("Z")
    assert await written(sessions) == NOTHING


async def test_suspended_citizen_cannot_vote_until_reinstated(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposal_id = await open_proposal(sessions)
    citizen = uuid.uuid4()
    await apply(sessions, citizen_suspended(citizen))
    problem(await agree(client, tokens, citizen, proposal_id), 403, "citizen-suspended")
    assert await written(sessions) == NOTHING
    # Others still vote.
    assert (await agree(client, tokens, uuid.uuid4(), proposal_id)).status_code == 201
    await apply(sessions, citizen_reinstated(citizen))
    assert (await agree(client, tokens, citizen, proposal_id)).status_code == 201


async def test_forum_ballots_are_counted_per_option(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    forum_id = await open_forum(sessions)
    empty = await client.get(f"/v1/votes/tallies/forums/{forum_id}")
    assert empty.json() == {
        "forum_id": str(forum_id),
        "participants": 0,
        "by_choice": {"찬성": 0, "반대": 0, "유보": 0},
    }
    choices = ["찬성"] * 3 + ["반대"] * 2
    for choice in choices:
        response = await ballot(client, tokens, uuid.uuid4(), forum_id, choice)
        assert response.status_code == 201, response.text
        assert response.json()["choice"] == choice
        assert response.json()["forum_id"] == str(forum_id)
    tally = await client.get(f"/v1/votes/tallies/forums/{forum_id}")
    assert tally.json() == {
        "forum_id": str(forum_id),
        "participants": 5,
        "by_choice": {"찬성": 3, "반대": 2, "유보": 0},
    }


async def test_ballot_choice_is_compared_in_nfc(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    forum_id = await open_forum(sessions)
    decomposed = unicodedata.normalize("NFD", "찬성")
    assert decomposed != "찬성"
    citizen = uuid.uuid4()
    response = await ballot(client, tokens, citizen, forum_id, decomposed)
    assert response.status_code == 201, response.text
    assert response.json()["choice"] == "찬성"
    mine = await client.get(
        f"/v1/votes/{response.json()['vote_id']}", headers=tokens.headers(citizen)
    )
    record = VoteRecord.decode(base64.b64decode(mine.json()["receipt"]["record"]))
    assert record.choice == "찬성"


async def test_second_ballot_is_refused_even_for_another_option(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    forum_id = await open_forum(sessions)
    citizen = uuid.uuid4()
    first = (await ballot(client, tokens, citizen, forum_id, "찬성")).json()
    again = problem(await ballot(client, tokens, citizen, forum_id, "반대"), 409, "already-voted")
    assert again["vote_id"] == first["vote_id"]
    assert again["forum_id"] == str(forum_id)
    assert again["choice"] == "찬성"
    tally = (await client.get(f"/v1/votes/tallies/forums/{forum_id}")).json()
    assert tally["by_choice"] == {"찬성": 1, "반대": 0, "유보": 0}


async def test_choice_outside_the_options_is_422(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    forum_id = await open_forum(sessions)
    body = problem(
        await ballot(client, tokens, uuid.uuid4(), forum_id, "모름"), 422, "invalid-choice"
    )
    assert body["options"] == ["찬성", "반대", "유보"]
    assert await written(sessions) == NOTHING


async def test_forum_outside_its_window_is_409(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    later = await open_forum(sessions, opens_at=now() + timedelta(days=1))
    body = problem(await ballot(client, tokens, uuid.uuid4(), later, "찬성"), 409, "forum-not-open")
    assert "opens_at" in body
    over = await open_forum(
        sessions, opens_at=now() - timedelta(days=2), closes_at=now() - timedelta(days=1)
    )
    problem(await ballot(client, tokens, uuid.uuid4(), over, "찬성"), 409, "forum-closed")
    closed = await open_forum(sessions)
    await apply(sessions, forum_closed(closed))
    problem(await ballot(client, tokens, uuid.uuid4(), closed, "찬성"), 409, "forum-closed")
    problem(
        await ballot(client, tokens, uuid.uuid4(), uuid.uuid4(), "찬성"), 404, "forum-not-found"
    )
    assert await written(sessions) == NOTHING


async def test_a_proposal_id_is_not_a_forum(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposal_id = await open_proposal(sessions)
    problem(
        await ballot(client, tokens, uuid.uuid4(), proposal_id, "agree"), 404, "forum-not-found"
    )
    problem(await client.get(f"/v1/votes/tallies/forums/{proposal_id}"), 404, "forum-not-found")


async def test_only_the_voter_reads_a_vote(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposal_id = await open_proposal(sessions)
    voter = uuid.uuid4()
    vote_id = (await agree(client, tokens, voter, proposal_id)).json()["vote_id"]
    other = await client.get(f"/v1/votes/{vote_id}", headers=tokens.headers(uuid.uuid4()))
    unknown = await client.get(f"/v1/votes/{uuid.uuid4()}", headers=tokens.headers(voter))
    # The same answer for someone else's vote and for no vote at all.
    assert (
        problem(other, 404, "vote-not-found").keys()
        == problem(unknown, 404, "vote-not-found").keys()
    )
    assert (
        await client.get(f"/v1/votes/{vote_id}", headers=tokens.headers(voter))
    ).status_code == 200


async def test_vote_ids_are_time_ordered_uuid7(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposal_id = await open_proposal(sessions)
    ids = [
        uuid.UUID((await agree(client, tokens, uuid.uuid4(), proposal_id)).json()["vote_id"])
        for _ in range(3)
    ]
    assert all(i.version == 7 for i in ids)
    assert ids == sorted(ids, key=lambda i: i.int >> 80)


async def test_a_target_opening_during_a_cast_is_settled_by_one_retry(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    sessions: Sessions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proposal_id = uuid.uuid4()
    explained = 0

    async def opens_meanwhile(*args: Any) -> None:
        # The proposal.opened event is handled between the cast and its explanation.
        nonlocal explained
        explained += 1
        await apply(sessions, proposal_opened(proposal_id))

    monkeypatch.setattr(refusals, "explain_refusal", opens_meanwhile)
    response = await agree(client, tokens, uuid.uuid4(), proposal_id)
    assert response.status_code == 201, response.text
    assert explained == 1
    assert await written(sessions) == Written(votes=1, tallied=1, outbox=2)


async def test_a_refusal_nothing_explains_twice_is_503_and_writes_nothing(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    sessions: Sessions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proposal_id = await open_proposal(sessions)
    await apply(sessions, proposal_closed(proposal_id))

    async def explains_nothing(*args: Any) -> None:
        return None

    monkeypatch.setattr(refusals, "explain_refusal", explains_nothing)
    response = problem(await agree(client, tokens, uuid.uuid4(), proposal_id), 503, "vote-retry")
    assert response["status"] == 503
    assert await written(sessions) == NOTHING


async def test_target_records_are_counted_from_rows(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    """The audit endpoint recounts rows, so a row deleted behind the service's back shows."""
    proposal_id = await open_proposal(sessions)
    cast = [
        (
            await client.post(
                "/v1/votes/agreements",
                json={"proposal_id": str(proposal_id)},
                headers=tokens.headers(),
            )
        ).json()
        for _ in range(3)
    ]
    body = (await client.get(f"/v1/votes/records/proposal/{proposal_id}")).json()
    assert body["tally"] == body["rows"] == 3
    assert sorted(r["vote_id"] for r in body["records"]) == sorted(c["vote_id"] for c in cast)
    assert {r["voter_tag"] for r in body["records"]} == {c["receipt"]["voter_tag"] for c in cast}
    async with sessions() as session, session.begin():
        await session.execute(text("DELETE FROM votes WHERE id = :id"), {"id": cast[0]["vote_id"]})
    after = (await client.get(f"/v1/votes/records/proposal/{proposal_id}")).json()
    assert (after["tally"], after["rows"]) == (3, 2)
    assert (await client.get(f"/v1/votes/records/proposal/{uuid.uuid4()}")).status_code == 404
    assert (await client.get(f"/v1/votes/records/ballot/{proposal_id}")).status_code == 422
