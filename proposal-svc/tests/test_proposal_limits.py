"""Proposals are rate-limited per citizen and per client network, with the counters in
PostgreSQL: two API instances on one database count the same hits; the N+1th submission is 429
problem+json with Retry-After and writes nothing; another citizen is not affected."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from proposal_helpers import BODY, proposal_app
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc.bootstrap import bootstrap
from proposal_svc.config import ProposalSettings
from proposal_svc.models import Proposal
from services.clock import ManualClock
from services.outbox import OutboxMessage
from services.ratelimit import RateRule
from services_dev.testing import running_app
from services_dev.testing.tokens import TestTokens

Pair = tuple[httpx.AsyncClient, httpx.AsyncClient]


@pytest.fixture
async def two_apis(
    proposal_settings: ProposalSettings, clock: ManualClock, tokens: TestTokens
) -> AsyncIterator[Pair]:
    """Two instances of the API (each its own engine and pool) on one database, 5 proposals
    per citizen and 8 per network per hour."""
    settings = proposal_settings.model_copy(
        update={
            "proposal_rate_limits": [RateRule(limit=5, seconds=3600)],
            "proposal_network_rate_limits": [RateRule(limit=8, seconds=3600)],
        }
    )

    async with (
        running_app(proposal_app(bootstrap(settings, clock=clock), tokens)) as a,
        running_app(proposal_app(bootstrap(settings, clock=clock), tokens)) as b,
    ):
        yield a, b


async def _submit(
    client: httpx.AsyncClient, tokens: TestTokens, author: uuid.UUID, address: str, n: int
) -> httpx.Response:
    return await client.post(
        "/v1/proposals",
        json={**BODY, "title": f"{BODY['title']} {n}"},
        headers={**tokens.headers(author), "X-Forwarded-For": address},
    )


async def _written(sessions: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    async with sessions() as session:
        proposals = await session.scalar(select(func.count()).select_from(Proposal))
        outbox = await session.scalar(select(func.count()).select_from(OutboxMessage))
        return proposals or 0, outbox or 0


async def test_a_citizens_sixth_proposal_in_the_hour_is_refused_across_two_apis(
    two_apis: Pair, tokens: TestTokens, sessions: async_sessionmaker[AsyncSession]
) -> None:
    citizen = uuid.uuid4()
    # Alternating between the two instances: they share one count.
    for n in range(5):
        response = await _submit(two_apis[n % 2], tokens, citizen, f"203.0.113.{n}", n)
        assert response.status_code == 201, response.text
    before = await _written(sessions)
    for n in range(5, 12):
        refused = await _submit(two_apis[n % 2], tokens, citizen, "198.51.100.1", n)
        assert refused.status_code == 429, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        body = refused.json()
        assert body["type"].endswith("/rate-limited")
        assert (body["bucket"], body["limit"], body["window_seconds"]) == (
            "proposal.submit",
            5,
            3600,
        )
        assert 0 < int(refused.headers["retry-after"]) <= 3600
    assert await _written(sessions) == before
    # Another citizen is not affected (the refusals counted nothing on 198.51.100.0/24).
    other = await _submit(two_apis[1], tokens, uuid.uuid4(), "198.51.100.2", 99)
    assert other.status_code == 201, other.text


async def test_the_ninth_proposal_from_one_network_is_refused(
    two_apis: Pair, tokens: TestTokens, sessions: async_sessionmaker[AsyncSession]
) -> None:
    for n in range(8):
        response = await _submit(two_apis[n % 2], tokens, uuid.uuid4(), f"203.0.113.{n}", n)
        assert response.status_code == 201, response.text
    before = await _written(sessions)
    assert before[0] == 8
    refused = await _submit(two_apis[0], tokens, uuid.uuid4(), "203.0.113.250", 8)
    assert refused.status_code == 429, refused.text
    assert refused.json()["limit"] == 8
    assert await _written(sessions) == before
    elsewhere = await _submit(two_apis[1], tokens, uuid.uuid4(), "2001:db8:7::1", 9)
    assert elsewhere.status_code == 201, elsewhere.text
