"""services.db.driver_connection: an asyncpg connection straight from the engine's pool, given
back in a known state or not at all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from services.db import create_engine, driver_connection


@pytest.fixture
async def engine(service_env: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(service_env["database_url"], pool_size=1, pool_pre_ping=False)
    try:
        yield engine
    finally:
        await engine.dispose()


async def _pid(engine: AsyncEngine) -> int:
    async with driver_connection(engine) as conn:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        assert isinstance(pid, int)
        return pid


async def test_the_connection_goes_back_to_the_pool(engine: AsyncEngine) -> None:
    first = await _pid(engine)
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    assert await _pid(engine) == first  # the same pooled connection, not a new one
    # Each statement commits on its own: another connection sees it at once.
    async with driver_connection(engine) as conn:
        await conn.execute("CREATE TABLE seen (x int)")
        await conn.execute("INSERT INTO seen VALUES (1)")
    other = await asyncpg.connect(str(engine.url.set(drivername="postgresql")))
    try:
        assert await other.fetchval("SELECT count(*) FROM seen") == 1
    finally:
        await other.close()


async def test_a_statement_error_keeps_the_connection(engine: AsyncEngine) -> None:
    first = await _pid(engine)
    with pytest.raises(asyncpg.PostgresError):
        async with driver_connection(engine) as conn:
            await conn.fetchval("SELECT 1 / 0")
    assert await _pid(engine) == first


async def test_an_open_transaction_is_never_handed_out_again(engine: AsyncEngine) -> None:
    first = await _pid(engine)
    async with driver_connection(engine) as conn:
        await conn.execute("BEGIN")
        await conn.execute("CREATE TABLE half_done (x int)")
    async with driver_connection(engine) as conn:
        assert not conn.is_in_transaction()
        assert await conn.fetchval("SELECT pg_backend_pid()") != first
        assert await conn.fetchval("SELECT to_regclass('half_done') IS NULL")


async def test_a_cancelled_statement_discards_the_connection(engine: AsyncEngine) -> None:
    first = await _pid(engine)

    async def slow() -> None:
        async with driver_connection(engine) as conn:
            await conn.execute("SELECT pg_sleep(30)")

    task = asyncio.create_task(slow())
    await asyncio.sleep(0.3)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert engine.pool.checkedout() == 0  # type: ignore[attr-defined]
    started = asyncio.get_running_loop().time()
    assert await _pid(engine) != first
    assert asyncio.get_running_loop().time() - started < 5
