"""Transactional outbox and relay against real Postgres and JetStream, including kill -9."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import nats
import pytest
from nats.js import JetStreamContext
from services_helpers import SampleHappened, create_outbox_inbox
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services import nats as nats_mod
from services import outbox
from services.db import create_engine, create_sessionmaker, transaction
from services.nats import StreamSpec
from services.outbox import OutboxMessage, OutboxRelay

SAMPLE = (StreamSpec("SAMPLE", ("sample.>",)),)


@pytest.fixture
async def engine(service_env: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(service_env["database_url"])
    await create_outbox_inbox(engine)
    yield engine
    await engine.dispose()


@pytest.fixture
async def js(service_env: dict[str, str]) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(service_env["nats_url"])
    js = nc.jetstream()
    await nats_mod.ensure_streams(js, SAMPLE)
    yield js
    await nc.close()


async def _stream_messages(js: JetStreamContext) -> list[dict[str, object]]:
    info = await js.stream_info("SAMPLE")
    out = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        if info.state.messages == 0:
            break
        msg = await js.get_msg("SAMPLE", seq)
        assert msg.data is not None
        out.append(json.loads(msg.data))
    return out


async def _stage(sessions: async_sessionmaker[AsyncSession], count: int = 1) -> list[str]:
    async with transaction(sessions) as session:
        return [
            outbox.add(session, SampleHappened(sample_id=uuid.uuid4())).id for _ in range(count)
        ]


async def test_event_is_published_once_in_order_with_msg_id(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    sessions = create_sessionmaker(engine)
    ids = await _stage(sessions, 5)
    relay = OutboxRelay(sessions, js)
    assert await relay.relay_once() == 5
    assert await relay.relay_once() == 0
    messages = await _stream_messages(js)
    assert [m["id"] for m in messages] == ids
    msg = await js.get_msg("SAMPLE", 1)
    assert msg.headers is not None
    assert msg.headers["Nats-Msg-Id"] == ids[0]
    async with sessions() as session:
        unsent = await session.scalar(
            select(func.count()).select_from(OutboxMessage).where(OutboxMessage.sent_at.is_(None))
        )
    assert unsent == 0


async def test_rolled_back_transaction_publishes_nothing(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    sessions = create_sessionmaker(engine)

    async def failing_use_case() -> None:
        async with transaction(sessions) as session:
            outbox.add(session, SampleHappened(sample_id=uuid.uuid4()))
            raise RuntimeError("use case failed")

    with pytest.raises(RuntimeError):
        await failing_use_case()
    assert await OutboxRelay(sessions, js).relay_once() == 0
    assert await _stream_messages(js) == []


async def test_nats_down_keeps_rows_for_later(
    engine: AsyncEngine, service_env: dict[str, str]
) -> None:
    sessions = create_sessionmaker(engine)
    await _stage(sessions)
    nc = await nats.connect(service_env["nats_url"])
    js = nc.jetstream()
    # No stream captures sample.> yet: publishing fails, as when JetStream is unavailable.
    assert await OutboxRelay(sessions, js).relay_once() == 0
    async with sessions() as session:
        row = (await session.scalars(select(OutboxMessage))).one()
    assert row.sent_at is None
    assert row.attempts == 1
    await nats_mod.ensure_streams(js, SAMPLE)
    assert await OutboxRelay(sessions, js).relay_once() == 1
    await nc.close()


async def test_concurrent_relays_publish_each_row_once(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    sessions = create_sessionmaker(engine)
    ids = await _stage(sessions, 300)
    relays = [OutboxRelay(sessions, js, batch_size=25) for _ in range(4)]

    async def drain(relay: OutboxRelay) -> int:
        total = 0
        while (n := await relay.relay_once()) > 0:
            total += n
        return total

    counts = await asyncio.gather(*(drain(r) for r in relays))
    assert sum(counts) == 300
    assert sorted(str(m["id"]) for m in await _stream_messages(js)) == sorted(ids)


@pytest.mark.parametrize("point", ["before_publish", "after_publish"])
async def test_relay_killed_mid_batch_delivers_exactly_once(
    engine: AsyncEngine, js: JetStreamContext, service_env: dict[str, str], point: str
) -> None:
    sessions = create_sessionmaker(engine)
    ids = await _stage(sessions, 3)  # committed: the state change happened
    script = Path(__file__).with_name("relay_crash.py")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        service_env["database_url"],
        service_env["nats_url"],
        point,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = await proc.communicate()
    assert proc.returncode == -signal.SIGKILL, output.decode()
    published_before_restart = len(await _stream_messages(js))
    assert published_before_restart == (0 if point == "before_publish" else 3)
    # Restart: a new relay finds the rows still unsent (the killed transaction never committed).
    assert await OutboxRelay(sessions, js).relay_once() == 3
    messages = await _stream_messages(js)
    assert [
        m["id"] for m in messages
    ] == ids  # exactly once each: the duplicate window dropped copies


async def test_republish_range_is_deduplicated(engine: AsyncEngine, js: JetStreamContext) -> None:
    sessions = create_sessionmaker(engine)
    await _stage(sessions, 2)
    await OutboxRelay(sessions, js).relay_once()
    assert await outbox.republish(sessions, js, from_seq=1, to_seq=2) == 2
    assert len(await _stream_messages(js)) == 2
