"""The rate limits of casting: per citizen and per client network (behind the trusted proxy),
429 problem+json with Retry-After, nothing written, other citizens and networks unaffected."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from test_vote_api import PROBLEM, agree
from vote_helpers import Sessions, Written, open_forum, open_proposal, written

from services.ratelimit import RateRule
from services_dev.testing import running_app
from services_dev.testing.tokens import TestTokens
from vote_svc.bootstrap import bootstrap
from vote_svc.config import VoteSettings
from vote_svc.main import create_app


@pytest.fixture
async def limited(
    vote_settings: VoteSettings, tokens: TestTokens
) -> AsyncIterator[httpx.AsyncClient]:
    """vote-svc with 3 votes per citizen per hour and 5 per network per hour."""
    settings = vote_settings.model_copy(
        update={
            "citizen_rate_limits": [RateRule(limit=3, seconds=3600)],
            "network_rate_limits": [RateRule(limit=5, seconds=3600, sliding=True)],
        }
    )
    async with running_app(create_app(bootstrap(settings), key_source=tokens)) as client:
        yield client


async def _agree_from(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    citizen: uuid.UUID,
    proposal_id: uuid.UUID,
    address: str,
) -> httpx.Response:
    # In-process the peer is 127.0.0.1, a trusted proxy: its X-Forwarded-For is believed, as
    # Caddy's is.
    return await client.post(
        "/v1/votes/agreements",
        json={"proposal_id": str(proposal_id)},
        headers={**tokens.headers(citizen), "X-Forwarded-For": address},
    )


def _rate_limited(response: httpx.Response) -> dict[str, object]:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, object] = response.json()
    assert str(body["type"]).endswith("/rate-limited")
    assert body["bucket"] == "vote.cast"
    assert int(response.headers["retry-after"]) == body["retry_after"]
    # A full sliding window may wait into the next one: up to two windows.
    assert 0 < int(response.headers["retry-after"]) <= 2 * 3600
    return body


async def test_the_fourth_vote_of_a_citizen_in_the_hour_is_refused_and_writes_nothing(
    limited: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposals = [await open_proposal(sessions) for _ in range(4)]
    forum = await open_forum(sessions)
    citizen = uuid.uuid4()
    for i, proposal_id in enumerate(proposals[:2]):
        response = await _agree_from(limited, tokens, citizen, proposal_id, f"203.0.113.{i}")
        assert response.status_code == 201, response.text
    # A forum ballot counts in the same bucket.
    ballot = await limited.post(
        f"/v1/votes/forums/{forum}/ballots",
        json={"choice": "찬성"},
        headers={**tokens.headers(citizen), "X-Forwarded-For": "198.51.100.1"},
    )
    assert ballot.status_code == 201, ballot.text
    before = await written(sessions)
    body = _rate_limited(await agree(limited, tokens, citizen, proposals[2]))
    assert (body["limit"], body["window_seconds"]) == (3, 3600)
    assert await written(sessions) == before
    # Another citizen is not affected.
    other = await agree(limited, tokens, uuid.uuid4(), proposals[3])
    assert other.status_code == 201, other.text


async def test_the_sixth_vote_from_one_network_in_the_hour_is_refused(
    limited: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposal_id = await open_proposal(sessions)
    # Five citizens on five addresses of one /24.
    for i in range(5):
        response = await _agree_from(limited, tokens, uuid.uuid4(), proposal_id, f"203.0.113.{i}")
        assert response.status_code == 201, response.text
    before = await written(sessions)
    assert before == Written(votes=5, tallied=5, outbox=10)
    body = _rate_limited(
        await _agree_from(limited, tokens, uuid.uuid4(), proposal_id, "203.0.113.200")
    )
    assert (body["limit"], body["window_seconds"]) == (5, 3600)
    assert await written(sessions) == before
    # A citizen on another network is not affected; nor is one the header lies for (the
    # right-most untrusted hop is the client, not what it claimed before it).
    elsewhere = await _agree_from(limited, tokens, uuid.uuid4(), proposal_id, "198.51.100.7")
    assert elsewhere.status_code == 201, elsewhere.text
    claimed = await _agree_from(
        limited, tokens, uuid.uuid4(), proposal_id, "203.0.113.9, 192.0.2.10"
    )
    assert claimed.status_code == 201, claimed.text
