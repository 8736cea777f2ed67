"""Eligibility end to end: a person verified by identity-svc (its sandbox persona) votes in
vote-svc with the access token identity-svc issued, checked against identity-svc's real JWKS.
Under the platform's rules (14 and over, Korean nationals) an under-age persona and a foreign
persona are refused with the rule's problem and nothing is written; an adult votes."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from identity_svc.config import IdentitySettings
from identity_svc.main import create_app as create_identity_app
from services.auth import JWKSCache
from services.db import create_engine, create_sessionmaker, transaction
from services.eligibility import EligibilityPolicy
from services.events import ProposalOpened, to_envelope
from services.outbox import OutboxMessage
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing import running_app
from services_dev.testing.plugin import clone_database, migrated_template
from vote_svc.bootstrap import bootstrap as vote_bootstrap
from vote_svc.config import VoteSettings
from vote_svc.consumers import TARGET_HANDLERS
from vote_svc.main import create_app as create_vote_app
from vote_svc.models import Vote

ROOT = Path(__file__).resolve().parents[3]
IDENTITY_MIGRATIONS = ROOT / "identity-svc" / "src" / "identity_svc" / "migrations"
VOTE_MIGRATIONS = ROOT / "vote-svc" / "src" / "vote_svc" / "migrations"
RULES = EligibilityPolicy(min_age=14, foreigners_allowed=False)


@pytest.fixture(scope="session")
def identity_template(pg_server: EmbeddedPostgres) -> str:
    return migrated_template(pg_server, "eligibility_identity_template", IDENTITY_MIGRATIONS)


@pytest.fixture(scope="session")
def vote_template(pg_server: EmbeddedPostgres) -> str:
    return migrated_template(pg_server, "eligibility_vote_template", VOTE_MIGRATIONS)


@pytest.fixture
async def identity(
    pg_server: EmbeddedPostgres, identity_template: str, service_env: dict[str, str]
) -> AsyncIterator[httpx.AsyncClient]:
    settings = IdentitySettings(
        environment="test",
        database_url=await clone_database(pg_server, identity_template),
        nats_url=service_env["nats_url"],
    )
    async with running_app(create_identity_app(settings)) as client:
        yield client


@pytest.fixture
async def vote_settings(
    pg_server: EmbeddedPostgres, vote_template: str, service_env: dict[str, str]
) -> VoteSettings:
    return VoteSettings(
        environment="test",
        database_url=await clone_database(pg_server, vote_template),
        nats_url=service_env["nats_url"],
        eligibility=RULES,
    )


@pytest.fixture
async def votes(
    vote_settings: VoteSettings, identity: httpx.AsyncClient
) -> AsyncIterator[httpx.AsyncClient]:
    """vote-svc verifying tokens against identity-svc's JWKS (over the in-process app)."""
    identity_app = identity._transport.app  # type: ignore[attr-defined]
    jwks_client = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=identity_app), base_url="http://identity"
    )
    jwks = JWKSCache("http://identity/.well-known/jwks.json", client=jwks_client)
    try:
        async with running_app(
            create_vote_app(vote_bootstrap(vote_settings), key_source=jwks)
        ) as client:
            yield client
    finally:
        await jwks_client.aclose()


async def sign_in(identity: httpx.AsyncClient, **persona: Any) -> str:
    """A sandbox persona verified by identity-svc; its access token."""
    started = await identity.post("/v1/identity/verifications", json={"provider": "sandbox"})
    done = await identity.post(
        f"/v1/identity/verifications/{started.json()['verification_id']}/complete",
        json={
            "persona": {
                "name": "김시민",
                "birthdate": "1988-03-09",
                "phone": "010-2345-6789",
                "ci_seed": f"eligibility-{uuid.uuid4()}",
                **persona,
            }
        },
    )
    assert done.status_code == 200, done.text
    return str(done.json()["access_token"])


async def open_proposal(settings: VoteSettings) -> uuid.UUID:
    """An open proposal, through vote-svc's own consumer handler of ``proposal.opened``."""
    proposal_id = uuid.uuid4()
    now = datetime.now(UTC)
    event = ProposalOpened(
        proposal_id=proposal_id,
        opened_at=now.replace(year=now.year - 1),
        closes_at=now.replace(year=now.year + 1),
    )
    engine = create_engine(settings.database_url)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            await TARGET_HANDLERS.bind(vote_bootstrap(settings))[ProposalOpened](
                session, event, to_envelope(event)
            )
    finally:
        await engine.dispose()
    return proposal_id


async def written(settings: VoteSettings) -> tuple[int, int]:
    """Votes and outbox rows in vote-svc's database."""
    engine = create_engine(settings.database_url)
    try:
        async with create_sessionmaker(engine)() as session:
            votes = await session.scalar(select(func.count()).select_from(Vote)) or 0
            outbox = await session.scalar(select(func.count()).select_from(OutboxMessage)) or 0
    finally:
        await engine.dispose()
    return votes, outbox


async def test_an_under_age_persona_cannot_vote_and_an_adult_can(
    identity: httpx.AsyncClient, votes: httpx.AsyncClient, vote_settings: VoteSettings
) -> None:
    proposal_id = await open_proposal(vote_settings)
    today = datetime.now(UTC).date()
    minor = await sign_in(
        identity, birthdate=date(today.year - 13, today.month, min(today.day, 28)).isoformat()
    )
    body = {"proposal_id": str(proposal_id)}
    refused = await votes.post(
        "/v1/votes/agreements", json=body, headers={"Authorization": f"Bearer {minor}"}
    )
    assert refused.status_code == 403, refused.text
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].endswith("/ineligible-age")
    assert await written(vote_settings) == (0, 0)
    adult = await sign_in(identity)
    agreed = await votes.post(
        "/v1/votes/agreements", json=body, headers={"Authorization": f"Bearer {adult}"}
    )
    assert agreed.status_code == 201, agreed.text
    assert (await written(vote_settings))[0] == 1


async def test_a_foreign_persona_cannot_vote_when_foreigners_are_not_allowed(
    identity: httpx.AsyncClient, votes: httpx.AsyncClient, vote_settings: VoteSettings
) -> None:
    proposal_id = await open_proposal(vote_settings)
    foreigner = await sign_in(identity, foreigner=True)
    refused = await votes.post(
        "/v1/votes/agreements",
        json={"proposal_id": str(proposal_id)},
        headers={"Authorization": f"Bearer {foreigner}"},
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("/ineligible-foreigner")
    assert await written(vote_settings) == (0, 0)
