"""The internal API for vote-svc: a proposal or forum as a vote target, only for requests signed
by vote-svc (against real PostgreSQL)."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from proposal_helpers import propose
from pydantic import ValidationError

from proposal_svc.config import ProposalSettings
from services.clock import ManualClock
from services.internal_auth import ServiceAuth, decode_service_key, dev_service_key
from services_dev.testing.tokens import TestTokens

VOTE = ServiceAuth("vote-svc", decode_service_key(dev_service_key("vote-svc")))
NOTIFY = ServiceAuth("notify-svc", decode_service_key(dev_service_key("notify-svc")))


def _time(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def test_a_proposal_as_a_vote_target_open_then_withdrawn(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock
) -> None:
    author = uuid.uuid4()
    created = await propose(client, tokens, author)
    url = f"/internal/v1/targets/proposals/{created['id']}"

    target = (await client.get(url, auth=VOTE)).json()
    assert target["target_type"] == "proposal"
    assert target["target_id"] == created["id"]
    assert target["status"] == "open"
    assert target["options"] is None
    assert _time(target["opened_at"]) == _time(target["opens_at"]) == clock.now()
    assert _time(target["closes_at"]) == _time(created["closes_at"])
    assert target["closed_at"] is None
    assert target["closed_status"] is None

    clock.advance(minutes=5)
    withdrawn = await client.post(
        f"/v1/proposals/{created['id']}/withdrawal", headers=tokens.headers(author)
    )
    assert withdrawn.status_code == 200, withdrawn.text
    target = (await client.get(url, auth=VOTE)).json()
    assert target["status"] == "withdrawn"
    assert target["closed_status"] == "withdrawn"
    assert _time(target["closed_at"]) == clock.now()


async def test_a_forum_as_a_vote_target_scheduled_open_closed(
    client: httpx.AsyncClient, tokens: TestTokens, clock: ManualClock
) -> None:
    staff = tokens.headers(roles=["citizen", "mayor_office"])
    body: dict[str, Any] = {
        "title": "12월 시민 공론장",
        "mode": "online",
        "options": ["찬성", "반대"],
        "opens_at": (clock.now() + timedelta(days=1)).isoformat(),
        "closes_at": (clock.now() + timedelta(days=7)).isoformat(),
    }
    scheduled = (await client.post("/v1/forums", json=body, headers=staff)).json()
    target = (await client.get(f"/internal/v1/targets/forums/{scheduled['id']}", auth=VOTE)).json()
    assert target["status"] == "scheduled"
    assert target["opened_at"] is None
    assert target["options"] == ["찬성", "반대"]

    body["opens_at"] = (clock.now() - timedelta(minutes=1)).isoformat()
    forum = (await client.post("/v1/forums", json=body, headers=staff)).json()
    url = f"/internal/v1/targets/forums/{forum['id']}"
    target = (await client.get(url, auth=VOTE)).json()
    assert target["status"] == "open"
    assert target["closed_at"] is None
    assert _time(target["opened_at"]) == _time(body["opens_at"])

    clock.advance(hours=1)
    await client.post(f"/v1/forums/{forum['id']}/closure", headers=staff)
    target = (await client.get(url, auth=VOTE)).json()
    assert target["closed_status"] == "closed"
    assert _time(target["closed_at"]) == clock.now()
    assert target["opened_at"] is not None


async def test_unknown_targets_are_404_problems(client: httpx.AsyncClient) -> None:
    for kind, slug in (("proposals", "proposal-not-found"), ("forums", "forum-not-found")):
        response = await client.get(f"/internal/v1/targets/{kind}/{uuid.uuid4()}", auth=VOTE)
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["type"].endswith(slug)


async def test_only_vote_svc_may_ask(client: httpx.AsyncClient, tokens: TestTokens) -> None:
    created = await propose(client, tokens)
    url = f"/internal/v1/targets/proposals/{created['id']}"
    unsigned = await client.get(url)
    assert unsigned.status_code == 401
    assert unsigned.json()["type"].endswith("service-auth-required")
    other = await client.get(url, auth=NOTIFY)
    assert other.status_code == 403
    assert other.json()["type"].endswith("service-not-allowed")
    forged = ServiceAuth("vote-svc", b"x" * 32)
    assert (await client.get(url, auth=forged)).status_code == 401
    # A citizen's token is no service signature.
    assert (await client.get(url, headers=tokens.headers())).status_code == 401


def test_the_dev_internal_keys_are_refused_in_production() -> None:
    assert set(ProposalSettings().internal_key_bytes) >= {"vote-svc"}
    with pytest.raises(ValidationError, match="PROPOSAL_INTERNAL_KEYS must be set in production"):
        ProposalSettings(environment="production")
    key = base64.b64encode(b"v" * 32).decode()
    production = ProposalSettings(environment="production", internal_keys={"vote-svc": key})
    assert production.internal_key_bytes == {"vote-svc": b"v" * 32}
    with pytest.raises(ValidationError, match="PROPOSAL_INTERNAL_KEYS"):
        ProposalSettings(internal_keys={"vote-svc": base64.b64encode(b"short").decode()})
