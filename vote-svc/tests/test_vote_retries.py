"""A client that retries after a connection error ends with exactly one vote: the first try was
recorded but its answer was lost on the way back; the second try (same citizen, same target)
answers 409 ``already-voted`` carrying the first vote and its receipt, whether or not it repeats
an ``Idempotency-Key`` (vote-svc keys votes by citizen and target, not by that header:
docs/votes.md "Retrying"). Against real PostgreSQL, with the answer lost by a simulated network.
"""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select
from standin_proposals import StandInProposals
from test_vote_api import problem
from vote_helpers import Sessions, Written, open_forum, open_proposal, written

from services_dev.testing.tokens import TestTokens
from vote_svc.bootstrap import VoteContext
from vote_svc.main import create_app
from vote_svc.models import Vote


class LosesAnswers(httpx.AsyncBaseTransport):
    """Delivers every request to the app, and loses the answers to the first ``lose`` of them
    (the connection drops after the server did the work, as a client sees it: ``ReadError``)."""

    def __init__(self, app: FastAPI, lose: int) -> None:
        self._inner = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        self.lose = lose

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        await response.aread()
        if self.lose > 0:
            self.lose -= 1
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


async def _post_with_retry(client: httpx.AsyncClient, path: str, **kwargs: Any) -> httpx.Response:
    """What a careful client does: on a connection error, send the same request once more."""
    try:
        return await client.post(path, **kwargs)
    except httpx.TransportError:
        return await client.post(path, **kwargs)


async def _only_vote(sessions: Sessions, citizen: uuid.UUID) -> Vote:
    async with sessions() as session:
        (vote,) = (await session.scalars(select(Vote).where(Vote.citizen_id == citizen))).all()
        return vote


@pytest.mark.parametrize(
    "keys",
    [(None, None), ("retry-1", "retry-1"), ("retry-1", "retry-2")],
    ids=["no-key", "same-key", "new-key"],
)
async def test_a_retried_agreement_answers_409_with_the_first_vote(
    vote_ctx: VoteContext,
    tokens: TestTokens,
    sessions: Sessions,
    proposals: StandInProposals,
    keys: tuple[str | None, str | None],
) -> None:
    proposal_id = await open_proposal(sessions)
    citizen = uuid.uuid4()
    app = create_app(vote_ctx, key_source=tokens, target_source=proposals.source)
    async with app.router.lifespan_context(app):
        transport = LosesAnswers(app, lose=1)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            headers = tokens.headers(citizen)
            first_key, second_key = keys
            with pytest.raises(httpx.ReadError):
                await client.post(
                    "/v1/votes/agreements",
                    json={"proposal_id": str(proposal_id)},
                    headers={**headers, **({"Idempotency-Key": first_key} if first_key else {})},
                )
            retried = await client.post(
                "/v1/votes/agreements",
                json={"proposal_id": str(proposal_id)},
                headers={**headers, **({"Idempotency-Key": second_key} if second_key else {})},
            )
    body = problem(retried, 409, "already-voted")
    vote = await _only_vote(sessions, citizen)
    assert body["vote_id"] == str(vote.id)
    assert body["proposal_id"] == str(proposal_id)
    assert body["choice"] == "agree"
    assert body["receipt"] == {"record_hash": vote.record_hash, "voter_tag": vote.voter_tag}
    assert await written(sessions) == Written(votes=1, tallied=1, outbox=2)


async def test_a_retried_ballot_keeps_the_first_choice(
    vote_ctx: VoteContext, tokens: TestTokens, sessions: Sessions, proposals: StandInProposals
) -> None:
    forum_id = await open_forum(sessions)
    citizen = uuid.uuid4()
    app = create_app(vote_ctx, key_source=tokens, target_source=proposals.source)
    async with app.router.lifespan_context(app):
        transport = LosesAnswers(app, lose=1)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            path = f"/v1/votes/forums/{forum_id}/ballots"
            headers = tokens.headers(citizen)
            first = _post_with_retry(client, path, json={"choice": "찬성"}, headers=headers)
            body = problem(await first, 409, "already-voted")
            # A client that changed its mind in between still gets the first ballot back.
            changed = await client.post(path, json={"choice": "반대"}, headers=headers)
            again = problem(changed, 409, "already-voted")
            assert {k: v for k, v in again.items() if k != "request_id"} == {
                k: v for k, v in body.items() if k != "request_id"
            }
    vote = await _only_vote(sessions, citizen)
    assert body["vote_id"] == str(vote.id)
    assert body["forum_id"] == str(forum_id)
    assert body["choice"] == "찬성" == vote.choice
    assert await written(sessions) == Written(votes=1, tallied=1, outbox=2)
