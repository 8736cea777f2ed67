"""vote-svc fixtures: a migrated database per test (copied from a template), tokens signed by a
key of the test's own, and the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from standin_proposals import StandInProposals

from services.db import create_engine, create_sessionmaker
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing import running_app
from services_dev.testing.plugin import clone_database, migrated_template
from services_dev.testing.tokens import TestTokens
from vote_svc.bootstrap import VoteContext, bootstrap
from vote_svc.config import VoteSettings
from vote_svc.main import create_app

MIGRATIONS = Path(__file__).parents[1] / "src" / "vote_svc" / "migrations"


@pytest.fixture(scope="session")
def vote_template(pg_server: EmbeddedPostgres) -> str:
    return migrated_template(pg_server, "vote_template", MIGRATIONS)


@pytest.fixture
async def vote_settings(
    pg_server: EmbeddedPostgres,
    nats_server: Any,
    vote_template: str,
    service_env: dict[str, str],
) -> VoteSettings:
    return VoteSettings(
        environment="test",
        database_url=await clone_database(pg_server, vote_template),
        nats_url=service_env["nats_url"],
        # The concurrency tests fire up to 1,000 requests at once in-process: they queue for
        # the in-flight bound (the pool's size) rather than being refused after the default
        # wait on a busy test machine.
        max_queue_seconds=60,
        # The same tests cast hundreds of votes per citizen and from one network (in-process,
        # every client is 127.0.0.1) within seconds; the limits have tests of their own
        # (test_vote_limits.py), which set them.
        citizen_rate_limits=[],
        network_rate_limits=[],
    )


@pytest.fixture
def vote_ctx(vote_settings: VoteSettings) -> VoteContext:
    return bootstrap(vote_settings)


@pytest.fixture
def tokens() -> TestTokens:
    return TestTokens()


@pytest.fixture
def proposals() -> StandInProposals:
    """proposal-svc's internal target endpoints, as a stand-in that knows nothing until a test
    adds a target (vote-svc asks it about targets its read model does not hold)."""
    return StandInProposals()


@pytest.fixture
async def client(
    vote_ctx: VoteContext, tokens: TestTokens, proposals: StandInProposals
) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(vote_ctx, key_source=tokens, target_source=proposals.source)
    async with running_app(app) as c:
        yield c


@pytest.fixture
async def sessions(vote_settings: VoteSettings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test's database, for setting up read models and counting rows."""
    engine = create_engine(vote_settings.database_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()
