"""proposal-svc fixtures: a migrated database per test, a clock the test moves, test tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from proposal_helpers import proposal_app
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc.bootstrap import ProposalContext, bootstrap
from proposal_svc.config import ProposalSettings
from services.clock import ManualClock
from services.db import create_engine, create_sessionmaker
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing import running_app
from services_dev.testing.identity import StandInIdentity
from services_dev.testing.plugin import clone_database, migrated_template
from services_dev.testing.tokens import TestTokens

MIGRATIONS = Path(__file__).parents[1] / "src" / "proposal_svc" / "migrations"


@pytest.fixture(scope="session")
def proposal_template(pg_server: EmbeddedPostgres) -> str:
    return migrated_template(pg_server, "proposal_template", MIGRATIONS)


@pytest.fixture
async def proposal_settings(
    pg_server: EmbeddedPostgres, proposal_template: str, service_env: dict[str, str]
) -> ProposalSettings:
    return ProposalSettings(
        environment="test",
        database_url=await clone_database(pg_server, proposal_template),
        nats_url=service_env["nats_url"],
        # Tests submit many proposals per citizen, all from 127.0.0.1; the limits have their
        # own tests (test_proposal_limits.py).
        proposal_rate_limits=[],
        proposal_network_rate_limits=[],
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def identity() -> StandInIdentity:
    """identity-svc's status endpoint as the live role and suspension checks ask it."""
    return StandInIdentity()


@pytest.fixture
def tokens(identity: StandInIdentity) -> TestTokens:
    return TestTokens(identity=identity)


@pytest.fixture
def ctx(proposal_settings: ProposalSettings, clock: ManualClock) -> ProposalContext:
    return bootstrap(proposal_settings, clock=clock)


@pytest.fixture
async def sessions(
    proposal_settings: ProposalSettings,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(proposal_settings.database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def client(ctx: ProposalContext, tokens: TestTokens) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(proposal_app(ctx, tokens)) as c:
        yield c
