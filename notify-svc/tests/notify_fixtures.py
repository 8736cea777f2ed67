"""Fixtures of notify-svc's tests that do not depend on where the directory comes from: a
migrated database per test (copied from a template), tokens signed by a key of the test's own,
a clock the test moves, the context built with it, the app, the dev provider, JetStream.

notify-svc/tests/conftest.py and tests/integration/notify/conftest.py import them and each
adds its ``directory`` fixture: the stand-in of notify-svc's own tests, or the real identity-svc
and vote-svc."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from nats.js import JetStreamContext
from notify_helpers import NOON_KST, MockClient, Notify, Sessions

from notify_svc.bootstrap import NotifyContext, bootstrap
from notify_svc.config import NotifySettings
from notify_svc.directory import HttpDirectory
from notify_svc.main import create_app
from notify_svc.providers.dev import DevProvider
from services import nats as nats_mod
from services.clock import ManualClock
from services.db import create_engine, create_sessionmaker
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing import running_app
from services_dev.testing.plugin import clone_database, migrated_template
from services_dev.testing.tokens import TestTokens

#: The fixtures (what a conftest's ``from notify_fixtures import *`` registers).
__all__ = [
    "client",
    "clock",
    "ctx",
    "dev_provider",
    "js",
    "mock_client",
    "notify",
    "notify_settings",
    "notify_template",
    "sessions",
    "tokens",
]

MIGRATIONS = Path(__file__).resolve().parents[1] / "src" / "notify_svc" / "migrations"


@contextlib.asynccontextmanager
async def signed_directory(
    settings: NotifySettings,
    *,
    identity: httpx.AsyncBaseTransport,
    vote: httpx.AsyncBaseTransport,
    proposal: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[HttpDirectory]:
    """notify-svc's directory client, signing with the settings' (dev) service key, its
    requests to identity-svc, vote-svc and proposal-svc served by ``identity``, ``vote`` and
    ``proposal`` (by default a proposal-svc that knows no proposal: 404, no followers)."""
    signed = HttpDirectory(
        identity_url="http://identity-svc",
        vote_url="http://vote-svc",
        proposal_url="http://proposal-svc",
        key=settings.service_key_bytes,
        identity_transport=identity,
        vote_transport=vote,
        proposal_transport=proposal or httpx.MockTransport(lambda _: httpx.Response(404)),
    )
    try:
        yield signed
    finally:
        await signed.aclose()


@pytest.fixture(scope="session")
def notify_template(pg_server: EmbeddedPostgres) -> str:
    return migrated_template(pg_server, "notify_template", MIGRATIONS)


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
def ctx(notify_settings: NotifySettings, clock: ManualClock) -> NotifyContext:
    """notify-svc's context on the test's database, with the test's clock."""
    return bootstrap(notify_settings, clock=clock)


@pytest.fixture
async def client(ctx: NotifyContext, tokens: TestTokens) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(ctx, key_source=tokens)) as c:
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
def dev_provider(sessions: Sessions, notify_settings: NotifySettings) -> DevProvider:
    return DevProvider(
        sessions, webhook_secret=notify_settings.dev_webhook_secret.get_secret_value()
    )


@pytest.fixture
def notify(
    ctx: NotifyContext,
    clock: ManualClock,
    sessions: Sessions,
    directory: HttpDirectory,
    dev_provider: DevProvider,
) -> Notify:
    return Notify(ctx, clock, sessions, directory, dev_provider)


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


@pytest.fixture
async def js(service_env: dict[str, str]) -> AsyncIterator[JetStreamContext]:
    """JetStream on the test's NATS server, with the platform's streams."""
    nc = await nats.connect(service_env["nats_url"])
    stream = nc.jetstream()
    await nats_mod.ensure_streams(stream)
    yield stream
    await nc.close()
