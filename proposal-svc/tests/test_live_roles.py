"""Staff roles and suspension take effect at once: proposal-svc asks identity-svc (here its
stand-in, speaking the documented internal contract) at each staff action and each proposal or
comment written, instead of trusting the roles of a token up to 15 minutes old."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from proposal_helpers import BODY, proposal_app, propose
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc.bootstrap import ProposalContext
from proposal_svc.models import Answer, Proposal
from services.internal_auth import decode_service_key, dev_service_key
from services.live_principal import IdentityStatusClient
from services_dev.testing import running_app
from services_dev.testing.identity import StandInIdentity
from services_dev.testing.tokens import TestTokens

Sessions = async_sessionmaker[AsyncSession]


async def _count(sessions: Sessions, model: type[object]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


async def test_a_role_granted_counts_from_the_next_request(
    client: httpx.AsyncClient, tokens: TestTokens, identity: StandInIdentity
) -> None:
    pid = (await propose(client, tokens))["id"]
    official = uuid.uuid4()
    token = tokens.headers(official)  # issued while a plain citizen, kept by the front end
    answer = {"kind": "department", "body": "검토하겠습니다"}
    url = f"/v1/proposals/{pid}/answers"
    before = await client.post(url, json=answer, headers=token)
    assert before.status_code == 403
    assert before.json()["type"].endswith("/forbidden")
    identity.grant(official, ["department"], "교통실")
    after = await client.post(url, json=answer, headers=token)
    assert after.status_code == 201, after.text
    assert after.json()["answers"][0]["department"] == "교통실"  # the current department


async def test_a_role_withdrawn_counts_from_the_next_request(
    client: httpx.AsyncClient, tokens: TestTokens, identity: StandInIdentity
) -> None:
    pid = (await propose(client, tokens))["id"]
    admin = uuid.uuid4()
    token = tokens.headers(admin, roles=["citizen", "admin"])
    identity.grant(admin, [])
    hidden = await client.post(f"/v1/proposals/{pid}/hide", json={"reason": "x"}, headers=token)
    assert hidden.status_code == 403
    assert (await client.get(f"/v1/proposals/{pid}")).json()["status"] == "open"


async def test_a_suspended_citizens_next_proposal_is_refused(
    client: httpx.AsyncClient, tokens: TestTokens, identity: StandInIdentity, sessions: Sessions
) -> None:
    citizen = uuid.uuid4()
    token = tokens.headers(citizen)
    assert (await client.post("/v1/proposals", json=BODY, headers=token)).status_code == 201
    identity.suspend(citizen)
    before = await _count(sessions, Proposal)
    refused = await client.post("/v1/proposals", json=BODY, headers=token)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/citizen-suspended")
    assert await _count(sessions, Proposal) == before
    identity.suspend(citizen, False)
    assert (await client.post("/v1/proposals", json=BODY, headers=token)).status_code == 201


async def test_a_suspended_official_cannot_answer(
    client: httpx.AsyncClient, tokens: TestTokens, identity: StandInIdentity, sessions: Sessions
) -> None:
    pid = (await propose(client, tokens))["id"]
    official = uuid.uuid4()
    token = tokens.headers(official, roles=["citizen", "department"], department="교통실")
    identity.suspend(official)
    refused = await client.post(
        f"/v1/proposals/{pid}/answers", json={"kind": "department", "body": "답변"}, headers=token
    )
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/citizen-suspended")
    assert await _count(sessions, Answer) == 0


async def test_reads_do_not_ask_identity(
    client: httpx.AsyncClient, tokens: TestTokens, identity: StandInIdentity
) -> None:
    pid = (await propose(client, tokens))["id"]
    asked = len(identity.asked)
    await client.get(f"/v1/proposals/{pid}")
    await client.get("/v1/proposals", params={"author": "me"}, headers=tokens.headers())
    await client.put(f"/v1/proposals/{pid}/follow", headers=tokens.headers())
    assert len(identity.asked) == asked


@pytest.fixture
async def identity_down(
    ctx: ProposalContext, tokens: TestTokens
) -> AsyncIterator[httpx.AsyncClient]:
    app = proposal_app(ctx, tokens)
    app.state.identity_status = IdentityStatusClient(
        "http://127.0.0.1:9",
        caller="proposal-svc",
        key=decode_service_key(dev_service_key("proposal-svc")),
        timeout=0.5,
    )
    async with running_app(app) as c:
        yield c


async def test_without_identity_a_write_is_503_not_the_tokens_word(
    identity_down: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions
) -> None:
    refused = await identity_down.post("/v1/proposals", json=BODY, headers=tokens.headers())
    assert refused.status_code == 503
    assert refused.json()["type"].endswith("/identity-unavailable")
    assert refused.headers["Retry-After"]
    assert await _count(sessions, Proposal) == 0
