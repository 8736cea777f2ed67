"""Fixtures of notify-svc's cross-service tests: notify-svc's own (notify-svc/tests/
notify_fixtures.py) with the real identity-svc and vote-svc apps running in-process behind
notify-svc's signed directory client (their internal endpoints are not simulated). The tests
see them through notify_helpers' ``Citizens`` and ``Forums``."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from notify_fixtures import *  # noqa: F403
from notify_fixtures import signed_directory
from notify_helpers import PHONE, Sessions

from identity_svc.config import IdentitySettings
from identity_svc.main import create_app as create_identity_app
from notify_svc.config import NotifySettings
from notify_svc.directory import HttpDirectory
from services.db import create_engine, create_sessionmaker, transaction
from services.events import ForumOpened, to_envelope
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing import running_app
from services_dev.testing.plugin import clone_database, migrated_template
from services_dev.testing.tokens import TestTokens
from vote_svc.bootstrap import VoteContext
from vote_svc.bootstrap import bootstrap as vote_bootstrap
from vote_svc.config import VoteSettings
from vote_svc.consumers import TARGET_HANDLERS
from vote_svc.main import create_app as create_vote_app

ROOT = Path(__file__).resolve().parents[3]
IDENTITY_MIGRATIONS = ROOT / "identity-svc" / "src" / "identity_svc" / "migrations"
VOTE_MIGRATIONS = ROOT / "vote-svc" / "src" / "vote_svc" / "migrations"


@dataclass
class Identity:
    """identity-svc running in-process: citizens are made through its sandbox verification."""

    public: httpx.AsyncClient
    transport: httpx.AsyncBaseTransport
    seeds: int = 0

    async def citizen(self, phone: str = PHONE, **persona: Any) -> uuid.UUID:
        """A new verified citizen with ``phone``; their id."""
        self.seeds += 1
        started = await self.public.post("/v1/identity/verifications", json={"provider": "sandbox"})
        assert started.status_code == 201, started.text
        done = await self.public.post(
            f"/v1/identity/verifications/{started.json()['verification_id']}/complete",
            json={
                "persona": {
                    "name": "김시민",
                    "birthdate": "1988-03-09",
                    "phone": phone,
                    "ci_seed": f"notify-{uuid.uuid4()}",
                    **persona,
                }
            },
        )
        assert done.status_code == 200, done.text
        return uuid.UUID(done.json()["citizen_id"])


@dataclass
class Votes:
    """vote-svc running in-process: forums open through its real consumer handler, ballots
    through its API."""

    public: httpx.AsyncClient
    transport: httpx.AsyncBaseTransport
    sessions: Sessions
    tokens: TestTokens
    ctx: VoteContext

    async def forum(self, participants: list[uuid.UUID]) -> uuid.UUID:
        """An open forum in which each of ``participants`` cast a ballot."""
        forum_id = uuid.uuid4()
        now = datetime.now(UTC)
        event = ForumOpened(
            forum_id=forum_id,
            title="따릉이 대여소 확대 공론장",
            mode="online",
            options=["찬성", "반대"],
            opens_at=now.replace(year=now.year - 1),
            closes_at=now.replace(year=now.year + 1),
        )
        async with transaction(self.sessions) as session:
            handle = TARGET_HANDLERS.bind(self.ctx)[ForumOpened]
            await handle(session, event, to_envelope(event))
        for citizen_id in participants:
            cast = await self.public.post(
                f"/v1/votes/forums/{forum_id}/ballots",
                json={"choice": "찬성"},
                headers=self.tokens.headers(citizen_id),
            )
            assert cast.status_code == 201, cast.text
        return forum_id


@pytest.fixture(scope="session")
def identity_template(pg_server: EmbeddedPostgres) -> str:
    return migrated_template(pg_server, "notify_identity_template", IDENTITY_MIGRATIONS)


@pytest.fixture(scope="session")
def vote_template(pg_server: EmbeddedPostgres) -> str:
    return migrated_template(pg_server, "notify_vote_template", VOTE_MIGRATIONS)


@pytest.fixture
async def identity(
    pg_server: EmbeddedPostgres, identity_template: str, service_env: dict[str, str]
) -> AsyncIterator[Identity]:
    settings = IdentitySettings(
        environment="test",
        database_url=await clone_database(pg_server, identity_template),
        nats_url=service_env["nats_url"],
        sandbox_roles=True,
    )
    app = create_identity_app(settings)
    async with running_app(app) as public:
        yield Identity(public, httpx.ASGITransport(app=app))


@pytest.fixture
async def votes(
    pg_server: EmbeddedPostgres, vote_template: str, service_env: dict[str, str]
) -> AsyncIterator[Votes]:
    settings = VoteSettings(
        environment="test",
        database_url=await clone_database(pg_server, vote_template),
        nats_url=service_env["nats_url"],
    )
    voters = TestTokens()
    ctx = vote_bootstrap(settings)
    app = create_vote_app(ctx, key_source=voters)
    engine = create_engine(settings.database_url)
    try:
        async with running_app(app) as public:
            yield Votes(
                public, httpx.ASGITransport(app=app), create_sessionmaker(engine), voters, ctx
            )
    finally:
        await engine.dispose()


@pytest.fixture
async def directory(
    notify_settings: NotifySettings, identity: Identity, votes: Votes
) -> AsyncIterator[HttpDirectory]:
    """notify-svc's directory client, signing with the (dev) service key, talking to the real
    identity-svc and vote-svc apps."""
    async with signed_directory(
        notify_settings, identity=identity.transport, vote=votes.transport
    ) as signed:
        yield signed
