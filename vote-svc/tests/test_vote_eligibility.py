"""The platform's eligibility rules on the routes where citizens vote: a refusal is a 403 problem
naming the rule and writes nothing; the tokens' claims are all it reads."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from vote_helpers import NOTHING, Sessions, open_forum, open_proposal, written

from services.eligibility import EligibilityPolicy
from services_dev.testing import running_app
from services_dev.testing.tokens import TestTokens
from vote_svc.bootstrap import bootstrap
from vote_svc.config import VoteSettings
from vote_svc.main import create_app

ADULT = {"age": 30, "foreigner": False}


@pytest.fixture
async def strict(
    vote_settings: VoteSettings, tokens: TestTokens
) -> AsyncIterator[httpx.AsyncClient]:
    """vote-svc where voting needs 14 years and Korean nationality."""
    policy = EligibilityPolicy(min_age=14, foreigners_allowed=False)
    ctx = bootstrap(vote_settings.model_copy(update={"eligibility": policy}))
    async with running_app(create_app(ctx, key_source=tokens)) as client:
        yield client


def as_citizen(tokens: TestTokens, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens.issue(uuid.uuid4(), claims=claims)}"}


def refused(response: httpx.Response, slug: str) -> dict[str, Any]:
    assert response.status_code == 403, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"].endswith(f"/{slug}")
    assert body["action"] == "vote"
    return body


async def test_an_under_age_citizen_cannot_agree_and_nothing_is_written(
    strict: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposal_id = await open_proposal(sessions)
    body = {"proposal_id": str(proposal_id)}
    minor = await strict.post(
        "/v1/votes/agreements", json=body, headers=as_citizen(tokens, age=13, foreigner=False)
    )
    assert refused(minor, "ineligible-age")["min_age"] == 14
    assert await written(sessions) == NOTHING
    adult = await strict.post(
        "/v1/votes/agreements", json=body, headers=as_citizen(tokens, **ADULT)
    )
    assert adult.status_code == 201, adult.text
    assert (await written(sessions)).votes == 1


async def test_a_foreigner_cannot_agree_when_foreigners_are_not_allowed(
    strict: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    proposal_id = await open_proposal(sessions)
    for claims in ({"age": 40, "foreigner": True}, {"age": 40}):
        response = await strict.post(
            "/v1/votes/agreements",
            json={"proposal_id": str(proposal_id)},
            headers=as_citizen(tokens, **claims),
        )
        refused(response, "ineligible-foreigner")
    assert await written(sessions) == NOTHING


async def test_forum_ballots_are_held_to_the_same_rules(
    strict: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    forum_id = await open_forum(sessions)
    url = f"/v1/votes/forums/{forum_id}/ballots"
    minor = await strict.post(url, json={"choice": "찬성"}, headers=as_citizen(tokens, age=12))
    refused(minor, "ineligible-age")
    assert await written(sessions) == NOTHING
    adult = await strict.post(url, json={"choice": "찬성"}, headers=as_citizen(tokens, **ADULT))
    assert adult.status_code == 201, adult.text
    assert (await written(sessions)).votes == 1


async def test_without_rules_nobody_is_refused(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    """The default: tokens without eligibility claims vote as before."""
    proposal_id = await open_proposal(sessions)
    response = await client.post(
        "/v1/votes/agreements",
        json={"proposal_id": str(proposal_id)},
        headers=tokens.headers(uuid.uuid4()),
    )
    assert response.status_code == 201, response.text
