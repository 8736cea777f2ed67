"""ledger-svc fixtures: a migrated database per test and the ledger context."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ledger_svc.backend import LocalBackend
from ledger_svc.config import LedgerSettings
from ledger_svc.ledger import LedgerContext
from ledger_svc.main import create_app
from services.db import create_engine, create_sessionmaker
from services.localrt.postgres import EmbeddedPostgres
from services.testing import running_app
from services.testing.plugin import clone_database, migrated_template

MIGRATIONS = Path(__file__).parents[1] / "src" / "ledger_svc" / "migrations"


@pytest.fixture(scope="session")
def ledger_template(pg_server: EmbeddedPostgres) -> str:
    return migrated_template(pg_server, "ledger_template", MIGRATIONS)


@pytest.fixture
async def ledger_settings(
    pg_server: EmbeddedPostgres, nats_server: Any, ledger_template: str, service_env: dict[str, str]
) -> LedgerSettings:
    return LedgerSettings(
        environment="test",
        database_url=await clone_database(pg_server, ledger_template),
        nats_url=service_env["nats_url"],
    )


@pytest.fixture
def ctx(ledger_settings: LedgerSettings) -> LedgerContext:
    return LedgerContext(backend=LocalBackend(), kek=ledger_settings.kek)


@pytest.fixture
async def sessions(
    ledger_settings: LedgerSettings,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(ledger_settings.database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def client(ledger_settings: LedgerSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(ledger_settings)) as c:
        yield c
