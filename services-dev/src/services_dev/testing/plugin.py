"""pytest plugin (loaded with ``-p services_dev.testing.plugin``): real PostgreSQL and NATS started
once per test session from the embedded wheels, and per-test isolation (a fresh database per
test, JetStream emptied between tests)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path
from typing import Any

import nats
import pytest

from services.db import to_asyncpg_url
from services.migrations import upgrade
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing.servers import create_database, nats_server, pg_server

__all__ = ["migrated_template", "nats_server", "pg_server", "service_env"]


async def _reset_jetstream(url: str) -> None:
    nc = await nats.connect(url)
    try:
        js = nc.jetstream()
        for stream in await js.streams_info():
            if stream.config.name:
                await js.delete_stream(stream.config.name)
    finally:
        await nc.close()


def migrated_template(pg: EmbeddedPostgres, name: str, migrations_dir: Path) -> str:
    """Create database ``name`` once and migrate it; tests copy it with ``TEMPLATE``."""
    asyncio.run(_create_named(pg, name))
    upgrade(migrations_dir, pg.dsn(name))
    return name


async def _create_named(pg: EmbeddedPostgres, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg.dsn("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await conn.execute(
            f"CREATE DATABASE \"{name}\" ENCODING 'UTF8' LC_COLLATE 'C.UTF-8' LC_CTYPE 'C.UTF-8' TEMPLATE template0"
        )
    finally:
        await conn.close()


async def clone_database(pg: EmbeddedPostgres, template: str) -> str:
    """A fresh copy of ``template`` (fast: a file copy); returns its asyncpg URL."""
    import asyncpg

    name = f"t_{uuid.uuid4().hex[:16]}"
    conn = await asyncpg.connect(pg.dsn("postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return to_asyncpg_url(pg.dsn(name))


@pytest.fixture
async def service_env(pg_server: EmbeddedPostgres, nats_server: Any) -> dict[str, str]:
    """An empty database of its own and an empty JetStream for one test."""
    dsn = await create_database(pg_server, "svc")
    await _reset_jetstream(nats_server.url)
    return {"database_url": to_asyncpg_url(dsn), "nats_url": nats_server.url}
