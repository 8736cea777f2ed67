"""notify-svc fixtures: a migrated database per test (copied from a template), tokens signed by a
key of the test's own, a clock the test moves, and the real identity-svc and vote-svc apps
running in-process behind notify-svc's signed directory client (their internal endpoints are
not simulated)."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from identity_svc.config import IdentitySettings
from identity_svc.main import create_app as create_identity_app
from notify_svc.config import NotifySettings
from notify_svc.directory import HttpDirectory
from notify_svc.main import create_app
from notify_svc.providers.dev import DevProvider
from services.clock import ManualClock
from services.db import create_engine, create_sessionmaker
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing import running_app
from services_dev.testing.plugin import clone_database, migrated_template
from services_dev.testing.tokens import TestTokens
from vote_svc.config import VoteSettings
from vote_svc.main import create_app as create_vote_app

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "notify-svc" / "src" / "notify_svc" / "migrations"
IDENTITY_MIGRATIONS = ROOT / "identity-svc" / "src" / "identity_svc" / "migrations"
VOTE_MIGRATIONS = ROOT / "vote-svc" / "src" / "vote_svc" / "migrations"

# The helper module next to this file (notify_helpers.py) is imported by the tests.
sys.path.insert(0, str(Path(__file__).parent))

from notify_helpers import (  # noqa: E402
    NOON_KST,
    Identity,
    MockClient,
    Notify,
    Sessions,
    Votes,
)


@pytest.fixture(scope="session")
def notify_template(pg_server: EmbeddedPostgres) -> str:
    return migrated_template(pg_server, "notify_template", MIGRATIONS)


@pytest.fixture(scope="session")
def identity_template(pg_server: EmbeddedPostgres) -> str:
    return migrated_template(pg_server, "notify_identity_template", IDENTITY_MIGRATIONS)


@pytest.fixture(scope="session")
def vote_template(pg_server: EmbeddedPostgres) -> str:
    return migrated_template(pg_server, "notify_vote_template", VOTE_MIGRATIONS)


@pytest.fixture
async def notify_settings(
    pg_server: EmbeddedPostgres,
    nats_server: Any,
    notify_template: str,
    service_env: dict[str, str],
) -> NotifySettings:
    return NotifySettings(
        environment="test",
        database_url=await clone_database(pg_server, notify_template),
        nats_url=service_env["nats_url"],
    )


@pytest.fixture
def tokens() -> TestTokens:
    return TestTokens()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(NOON_KST)


@pytest.fixture
async def client(
    notify_settings: NotifySettings, tokens: TestTokens, clock: ManualClock
) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(notify_settings, key_source=tokens, clock=clock)) as c:
        yield c


@pytest.fixture
async def sessions(notify_settings: NotifySettings) -> AsyncIterator[Sessions]:
    """Sessions on the test's notify database."""
    engine = create_engine(notify_settings.database_url)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


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
    app = create_vote_app(settings, key_source=voters)
    engine = create_engine(settings.database_url)
    try:
        async with running_app(app) as public:
            yield Votes(public, httpx.ASGITransport(app=app), create_sessionmaker(engine), voters)
    finally:
        await engine.dispose()


@pytest.fixture
async def directory(
    notify_settings: NotifySettings, identity: Identity, votes: Votes
) -> AsyncIterator[HttpDirectory]:
    """notify-svc's directory client, signing with the (dev) service key, talking to the real
    identity-svc and vote-svc apps."""
    client = HttpDirectory(
        identity_url="http://identity-svc",
        vote_url="http://vote-svc",
        key=notify_settings.service_key_bytes,
        identity_transport=identity.transport,
        vote_transport=votes.transport,
    )
    try:
        yield client
    finally:
        await client.aclose()


@pytest.fixture
def dev_provider(sessions: Sessions, notify_settings: NotifySettings) -> DevProvider:
    return DevProvider(
        sessions, webhook_secret=notify_settings.dev_webhook_secret.get_secret_value()
    )


@pytest.fixture
def notify(
    sessions: Sessions, clock: ManualClock, directory: HttpDirectory, dev_provider: DevProvider
) -> Notify:
    return Notify(sessions, clock, directory, dev_provider)


@pytest.fixture
async def mock_client() -> AsyncIterator[MockClient]:
    made: list[httpx.AsyncClient] = []

    def build(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.AsyncClient:
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        made.append(client)
        return client

    yield build
    for client in made:
        await client.aclose()
