"""identity-svc fixtures: a migrated database per test (copied from a template) and the app."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from provider_sims import PROVIDER_SETTINGS, BarocertSim, PortOneSim, Providers

from identity_svc.bootstrap import bootstrap
from identity_svc.config import IdentitySettings
from identity_svc.main import create_app
from services.clock import ManualClock
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing import running_app
from services_dev.testing.plugin import clone_database, migrated_template

MIGRATIONS = Path(__file__).parents[1] / "src" / "identity_svc" / "migrations"


@pytest.fixture(scope="session")
def identity_template(pg_server: EmbeddedPostgres) -> str:
    return migrated_template(pg_server, "identity_template", MIGRATIONS)


@pytest.fixture
async def identity_settings(
    pg_server: EmbeddedPostgres,
    nats_server: Any,
    identity_template: str,
    service_env: dict[str, str],
) -> IdentitySettings:
    return IdentitySettings(
        environment="test",
        database_url=await clone_database(pg_server, identity_template),
        nats_url=service_env["nats_url"],
        sandbox_roles=True,
        # Every in-process client is 127.0.0.1, one network; the limit has its own tests
        # (test_verification_limits.py).
        verification_rate_limits=[],
    )


@pytest.fixture
async def client(identity_settings: IdentitySettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(bootstrap(identity_settings))) as c:
        yield c


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sims(clock: ManualClock) -> Providers:
    """The simulated PortOne and barocert (their clock is the service's)."""
    return Providers(PortOneSim(clock.now), BarocertSim(clock.now))


@pytest.fixture
def provider_settings(identity_settings: IdentitySettings) -> IdentitySettings:
    """The test settings with PortOne and barocert configured (the sandbox stays on)."""
    return IdentitySettings(**identity_settings.model_dump(exclude_unset=True), **PROVIDER_SETTINGS)


@pytest.fixture
async def provider_client(
    provider_settings: IdentitySettings, clock: ManualClock, sims: Providers
) -> AsyncIterator[httpx.AsyncClient]:
    """identity-svc talking to the simulated providers."""
    ctx = bootstrap(provider_settings, clock=clock, transport=sims.transport())
    async with running_app(create_app(ctx)) as c:
        yield c
