"""The agreement hot path: no ORM session for an accepted vote (the connection comes straight
from the pool and goes back), a 201 body written directly that is exactly the documented
``AgreementPublic``, and the context's clock as the time of every cast."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standin_proposals import StandInProposals
from vote_helpers import Sessions, Written, open_forum, open_proposal, written

from services.canonical import format_time
from services.clock import ManualClock
from services_dev.testing import running_app
from services_dev.testing.tokens import TestTokens
from vote_svc.bootstrap import VoteContext, bootstrap
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
    vote_ctx: VoteContext, tokens: TestTokens, proposals: StandInProposals
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, CountingSessions]]:
    app = create_app(vote_ctx, key_source=tokens, target_source=proposals.source)
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


async def test_a_vote_is_cast_and_judged_at_the_contexts_clock(
    vote_settings: VoteSettings, tokens: TestTokens, sessions: Sessions
) -> None:
    """``cast_at`` (in the answer and the record) and the time a refusal is judged at come from
    the context's clock, not the machine's."""
    opens_at = datetime.now(UTC) + timedelta(hours=1)
    forum_id = await open_forum(sessions, opens_at=opens_at, closes_at=opens_at + timedelta(days=1))
    clock = ManualClock(opens_at + timedelta(minutes=30))
    async with running_app(
        create_app(bootstrap(vote_settings, clock=clock), key_source=tokens)
    ) as client:
        path = f"/v1/votes/forums/{forum_id}/ballots"
        accepted = await client.post(path, json={"choice": "찬성"}, headers=tokens.headers())
        assert accepted.status_code == 201, accepted.text
        assert accepted.json()["cast_at"] == format_time(clock.now())
        assert uuid.UUID(accepted.json()["vote_id"]).int >> 80 == int(
            clock.now().timestamp() * 1000
        )

        clock.set(opens_at - timedelta(minutes=1))
        early = await client.post(path, json={"choice": "찬성"}, headers=tokens.headers())
        assert early.status_code == 409
        assert early.json()["type"].endswith("/forum-not-open")
