"""vote-svc's target lookup against the real proposal-svc (in-process, real PostgreSQL): the
client vote-svc uses (``vote_svc.targets.HttpTargetSource``, signed as vote-svc) reads what
proposal-svc's internal endpoints answer, and vote-svc's own test stand-in
(vote-svc/tests/standin_proposals.py) answers the same shape."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from standin_proposals import StandInProposals

from proposal_svc.bootstrap import bootstrap as proposal_bootstrap
from proposal_svc.config import ProposalSettings
from proposal_svc.main import create_app as create_proposal_app
from services.clock import ManualClock
from services.internal_auth import ServiceAuth, decode_service_key, dev_service_key
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing import running_app
from services_dev.testing.identity import StandInIdentity
from services_dev.testing.plugin import clone_database, migrated_template
from services_dev.testing.tokens import TestTokens
from vote_svc.targets import HttpTargetSource

ROOT = Path(__file__).resolve().parents[3]
MIGRATIONS = ROOT / "proposal-svc" / "src" / "proposal_svc" / "migrations"
VOTE_KEY = decode_service_key(dev_service_key("vote-svc"))
VOTE = ServiceAuth("vote-svc", VOTE_KEY)


@pytest.fixture(scope="module")
def proposal_template(pg_server: EmbeddedPostgres) -> str:
    return migrated_template(pg_server, "lookup_proposal_template", MIGRATIONS)


@pytest.fixture
async def proposal_svc(
    pg_server: EmbeddedPostgres, nats_server: Any, proposal_template: str
) -> AsyncIterator[tuple[httpx.AsyncClient, TestTokens, ManualClock, FastAPI]]:
    settings = ProposalSettings(
        environment="test",
        database_url=await clone_database(pg_server, proposal_template),
        nats_url=nats_server.url,
    )
    identity = StandInIdentity()
    tokens, clock = TestTokens(identity=identity), ManualClock()
    app = create_proposal_app(
        proposal_bootstrap(settings, clock=clock), key_source=lambda _: tokens
    )
    # proposal-svc asks identity-svc for a writer's current roles (services.live_principal).
    app.state.identity_status = identity.client("proposal-svc")
    async with running_app(app) as client:
        yield client, tokens, clock, app


async def test_vote_svc_reads_proposal_svc_targets(
    proposal_svc: tuple[httpx.AsyncClient, TestTokens, ManualClock, FastAPI],
) -> None:
    client, tokens, clock, app = proposal_svc
    # The in-process app, as vote-svc's client reaches it over the network.
    transport = httpx.ASGITransport(app=app)
    source = HttpTargetSource(proposal_url="http://proposal-svc", key=VOTE_KEY, transport=transport)
    try:
        created = await client.post(
            "/v1/proposals",
            json={
                "title": "버스 정류장에 그늘막을 설치해 주세요",
                "body": "여름에 정류장에서 기다리기가 너무 덥습니다. 그늘막을 설치해 주세요.",
                "category": "transport",
            },
            headers=tokens.headers(),
        )
        assert created.status_code == 201, created.text
        proposal_id = uuid.UUID(created.json()["id"])
        snapshot = await source.target("proposal", proposal_id)
        assert snapshot is not None
        assert snapshot.opened_at == snapshot.opens_at == clock.now()
        assert snapshot.closed_at is None
        assert snapshot.options is None
        assert await source.target("proposal", uuid.uuid4()) is None

        staff = tokens.headers(roles=["citizen", "mayor_office"])
        forum = await client.post(
            "/v1/forums",
            json={
                "title": "그늘막 공론장",
                "mode": "online",
                "options": ["찬성", "반대"],
                "opens_at": (clock.now() - timedelta(minutes=1)).isoformat(),
                "closes_at": (clock.now() + timedelta(days=7)).isoformat(),
            },
            headers=staff,
        )
        forum_id = uuid.UUID(forum.json()["id"])
        ballot_box = await source.target("forum", forum_id)
        assert ballot_box is not None
        assert ballot_box.options == ["찬성", "반대"]
        assert await source.target("forum", uuid.uuid4()) is None

        # The stand-in vote-svc's own tests use answers with the same members.
        real = await client.get(f"/internal/v1/targets/proposals/{proposal_id}", auth=VOTE)
        standin = StandInProposals()
        fake_id = standin.proposal(clock.now())
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=standin.app), base_url="http://standin"
        ) as fake:
            answered = await fake.get(f"/internal/v1/targets/proposals/{fake_id}", auth=VOTE)
        assert set(answered.json()) == set(real.json())
    finally:
        await source.aclose()
