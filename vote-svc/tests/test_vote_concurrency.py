"""One person, one vote under concurrency: the database's unique constraint decides, and the
tallies (and the counts in the ``vote.tally_changed`` events) stay exact."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections import Counter

import httpx
from sqlalchemy import func, select
from vote_helpers import FORUM_OPTIONS, Sessions, Written, open_forum, open_proposal, written

from services_dev.testing.tokens import TestTokens
from vote_svc.models import OutboxMessage, Vote


async def _tally_counts(sessions: Sessions) -> list[int]:
    async with sessions() as session:
        envelopes = await session.scalars(
            select(OutboxMessage.envelope)
            .where(OutboxMessage.subject == "vote.tally_changed.v1")
            .order_by(OutboxMessage.seq)
        )
        return [int(e["data"]["count"]) for e in envelopes]


async def test_200_concurrent_agreements_by_one_citizen_make_one_vote(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposal_id = await open_proposal(sessions)
    headers = tokens.headers(uuid.uuid4())
    responses = await asyncio.gather(
        *(
            client.post(
                "/v1/votes/agreements", json={"proposal_id": str(proposal_id)}, headers=headers
            )
            for _ in range(200)
        )
    )
    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 1, 409: 199}, statuses
    (accepted,) = [r.json() for r in responses if r.status_code == 201]
    for refused in (r.json() for r in responses if r.status_code == 409):
        assert refused["type"].endswith("/already-voted")
        assert refused["vote_id"] == accepted["vote_id"]
        assert refused["receipt"] == accepted["receipt"]
    assert await written(sessions) == Written(votes=1, tallied=1, outbox=2)
    tally = await client.get(f"/v1/votes/tallies/proposals/{proposal_id}")
    assert tally.json()["agreements"] == 1


async def test_1000_citizens_at_once_make_1000_votes_and_a_tally_of_1000(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposal_id = await open_proposal(sessions)
    headers = [tokens.headers(uuid.uuid4()) for _ in range(1000)]
    responses = await asyncio.gather(
        *(
            client.post("/v1/votes/agreements", json={"proposal_id": str(proposal_id)}, headers=h)
            for h in headers
        )
    )
    assert Counter(r.status_code for r in responses) == {201: 1000}
    assert len({r.json()["vote_id"] for r in responses}) == 1000
    assert await written(sessions) == Written(votes=1000, tallied=1000, outbox=2000)
    tally = await client.get(f"/v1/votes/tallies/proposals/{proposal_id}")
    assert tally.json()["agreements"] == 1000
    # Every tally event carries the exact count after its vote: each of 1..1000 exactly once.
    assert sorted(await _tally_counts(sessions)) == list(range(1, 1001))


async def test_concurrent_ballots_count_exactly_per_option(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    forum_id = await open_forum(sessions)
    rng = random.Random(7)
    choices = [rng.choice(FORUM_OPTIONS) for _ in range(300)]
    citizens = [uuid.uuid4() for _ in choices]
    # Each citizen also tries a second, different ballot at the same time.
    attempts = [(c, choice) for c, choice in zip(citizens, choices, strict=True)] + [
        (c, FORUM_OPTIONS[(FORUM_OPTIONS.index(choice) + 1) % 3])
        for c, choice in zip(citizens, choices, strict=True)
    ]
    rng.shuffle(attempts)
    responses = await asyncio.gather(
        *(
            client.post(
                f"/v1/votes/forums/{forum_id}/ballots",
                json={"choice": choice},
                headers=tokens.headers(citizen),
            )
            for citizen, choice in attempts
        )
    )
    assert Counter(r.status_code for r in responses) == {201: 300, 409: 300}
    tally = (await client.get(f"/v1/votes/tallies/forums/{forum_id}")).json()
    async with sessions() as session:
        rows = dict(
            (await session.execute(select(Vote.choice, func.count()).group_by(Vote.choice))).all()
        )
    assert tally["participants"] == 300 == sum(tally["by_choice"].values())
    assert tally["by_choice"] == {option: rows.get(option, 0) for option in FORUM_OPTIONS}
    assert sorted(await _tally_counts(sessions)) == list(range(1, 301))
