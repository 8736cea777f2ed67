"""The ledger suite's fixtures, shared by ledger-svc/tests and the cross-service tests in
tests/integration/ledger (each conftest.py imports them): a migrated database per test, the
ledger's context, and the backend parameter.

Every test that uses the ledger (``ledger_settings``, ``ctx``, ``client``...) runs twice: against
the ``local`` backend and against ``fabric``, a real two-organisation Fabric network started once
per session by ``deploy/fabric/fabric.sh up`` in ``.data/fabric-test`` with ports +200, and
stopped (``down``, data kept) at the end. If the network cannot start, the fabric tests fail
(they are never skipped). Pytest gives each conftest importing these fixtures a session fixture
of its own; the first to run starts (and at the end stops) the network, the others reuse it."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fabric_network import (
    BackendChoice,
    FabricNetwork,
    FabricNetworkError,
    ledger_tests_network,
)
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ledger_svc.bootstrap import LedgerContext, bootstrap
from ledger_svc.config import LedgerSettings
from ledger_svc.main import create_app
from services.db import create_engine, create_sessionmaker
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing import running_app
from services_dev.testing.plugin import clone_database, migrated_template

MIGRATIONS = Path(__file__).parents[1] / "src" / "ledger_svc" / "migrations"
BACKENDS = ("local", "fabric")
#: The first fabric test starts the network, which may build Fabric from source (cold cache).
FABRIC_START_TIMEOUT = 1800


_started: list[FabricNetwork] = []


@pytest.fixture(scope="session")
def fabric_network() -> Iterator[FabricNetwork]:
    if _started:  # started by the other directory's fixture in this session; it stops it
        yield _started[0]
        return
    network = ledger_tests_network()
    try:
        network.up()
    except FabricNetworkError as exc:
        pytest.fail(f"the Fabric test network did not start: {exc}", pytrace=False)
    _started.append(network)
    yield network
    network.down()


def _uses_fabric(item: pytest.Item) -> bool:
    callspec = getattr(item, "callspec", None)
    return callspec is not None and callspec.params.get("ledger_backend") == "fabric"


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None]:
    # Before pytest-timeout reads the marker: the test that starts the network gets the time a
    # cold build of the Fabric binaries needs; every later one keeps the usual limit.
    if not _started and (
        _uses_fabric(item) or "fabric_network" in getattr(item, "fixturenames", ())
    ):
        item.add_marker(pytest.mark.timeout(FABRIC_START_TIMEOUT))
    yield


@pytest.fixture(params=BACKENDS)
def ledger_backend(request: pytest.FixtureRequest) -> BackendChoice:
    if request.param == "fabric":
        return BackendChoice("fabric", request.getfixturevalue("fabric_network"))
    return BackendChoice(request.param)


@pytest.fixture(scope="session")
def ledger_template(pg_server: EmbeddedPostgres) -> str:
    return migrated_template(pg_server, "ledger_template", MIGRATIONS)


@pytest.fixture
async def ledger_settings(
    pg_server: EmbeddedPostgres,
    nats_server: Any,
    ledger_template: str,
    service_env: dict[str, str],
    ledger_backend: BackendChoice,
) -> LedgerSettings:
    return LedgerSettings(
        environment="test",
        database_url=await clone_database(pg_server, ledger_template),
        nats_url=service_env["nats_url"],
        **ledger_backend.settings(),
    )


@pytest.fixture
async def ctx(ledger_settings: LedgerSettings) -> AsyncIterator[LedgerContext]:
    context = bootstrap(ledger_settings)
    yield context
    await context.backend.aclose()


@pytest.fixture
async def sessions(
    ledger_settings: LedgerSettings,
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(ledger_settings.database_url)
    yield create_sessionmaker(engine)
    await engine.dispose()


@contextlib.asynccontextmanager
async def ledger_api(settings: LedgerSettings) -> AsyncIterator[httpx.AsyncClient]:
    """The API on a context of its own (its own backend, as a separate process has), closed
    when the block ends."""
    context = bootstrap(settings)
    try:
        async with running_app(create_app(context)) as api:
            yield api
    finally:
        await context.backend.aclose()


@pytest.fixture
async def client(ctx: LedgerContext) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(ctx)) as c:
        yield c
