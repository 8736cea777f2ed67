"""The agreement hot path: no ORM session for an accepted vote (the connection comes straight
from the pool and goes back), and a 201 body written directly that is exactly the documented
``AgreementPublic``."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from vote_helpers import Sessions, Written, open_proposal, written

from services_dev.testing import running_app
from services_dev.testing.tokens import TestTokens
from vote_svc.config import VoteSettings
from vote_svc.main import create_app
from vote_svc.schemas import AgreementPublic, Receipt, agreement_json

HASH = "7f10aa42510bfd4a676159bd0683c51180e26e45a88c463a0053ca5c10cf7de8"
TAG = "328425d282733a9dfe874ddca11949b52f40e56295bc9787b138e4f352b7703f"


@pytest.mark.parametrize(
    "cast_at",
    [
        datetime(2026, 11, 24, 12, 0, 0, 123456, tzinfo=UTC),
        datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC),  # no fraction: still six digits
    ],
)
def test_the_written_body_is_the_documented_model(cast_at: datetime) -> None:
    vote_id, proposal_id = uuid.uuid4(), uuid.uuid4()
    body = agreement_json(
        vote_id=vote_id,
        proposal_id=proposal_id,
        cast_at=cast_at,
        record_hash=HASH,
        voter_tag=TAG,
    )
    model = AgreementPublic(
        vote_id=vote_id,
        proposal_id=proposal_id,
        cast_at=cast_at,
        receipt=Receipt(record_hash=HASH, voter_tag=TAG),
    )
    assert AgreementPublic.model_validate_json(body) == model
    parsed = json.loads(body)
    assert set(parsed) == set(json.loads(model.model_dump_json()))
    assert parsed["cast_at"] == cast_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_the_written_body_refuses_what_would_need_escaping() -> None:
    with pytest.raises(ValueError, match="hex"):
        agreement_json(
            vote_id=uuid.uuid4(),
            proposal_id=uuid.uuid4(),
            cast_at=datetime.now(UTC),
            record_hash='"}',
            voter_tag=TAG,
        )


@dataclass
class CountingSessions:
    """The app's sessionmaker, counting the sessions opened."""

    inner: async_sessionmaker[AsyncSession]
    opened: int = 0

    def __call__(self, **kwargs: Any) -> AsyncSession:
        self.opened += 1
        return self.inner(**kwargs)


@pytest.fixture
async def app_client(
    vote_settings: VoteSettings, tokens: TestTokens
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, CountingSessions]]:
    app = create_app(vote_settings, key_source=tokens)
    async with running_app(app) as client:
        counting = CountingSessions(app.state.sessions)
        app.state.sessions = counting
        yield app, client, counting


async def test_an_accepted_agreement_opens_no_session(
    app_client: tuple[FastAPI, httpx.AsyncClient, CountingSessions],
    tokens: TestTokens,
    sessions: Sessions,
) -> None:
    app, client, counting = app_client
    proposal_id = await open_proposal(sessions)
    citizens = [uuid.uuid4() for _ in range(5)]
    for citizen in citizens:
        response = await client.post(
            "/v1/votes/agreements",
            json={"proposal_id": str(proposal_id)},
            headers=tokens.headers(citizen),
        )
        assert response.status_code == 201, response.text
        assert response.headers["content-type"] == "application/json"
        assert response.headers["location"] == f"/v1/votes/{response.json()['vote_id']}"
    assert counting.opened == 0
    assert app.state.engine.pool.checkedout() == 0
    assert await written(sessions) == Written(votes=5, tallied=5, outbox=10)

    # A refusal is explained through a session of its own (and gives its connection back).
    again = await client.post(
        "/v1/votes/agreements",
        json={"proposal_id": str(proposal_id)},
        headers=tokens.headers(citizens[0]),
    )
    assert again.status_code == 409
    assert again.json()["type"].endswith("/already-voted")
    assert counting.opened == 1
    assert app.state.engine.pool.checkedout() == 0
