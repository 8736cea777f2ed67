"""The consumer of ``vote.cast`` on the shared runner (services.consumer): a vote whose record
can never be appended goes to the dead-letter stream after the runner's bounded redeliveries,
with the headers every consumer writes, while the good votes fetched with it are appended once."""

from __future__ import annotations

import asyncio
import json
import uuid

import nats
from ledger_helpers import publish_votes, vote_cast
from nats.js import JetStreamContext
from nats.js.api import RawStreamMsg
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ledger_svc import ledger
from ledger_svc.bootstrap import LedgerContext
from ledger_svc.config import LedgerSettings
from ledger_svc.consumers import CONSUMER, records_consumer
from ledger_svc.models import LedgerRecord
from services import nats as nats_mod

Sessions = async_sessionmaker[AsyncSession]
DEAD_SUBJECT = f"deadletter.{CONSUMER}.vote.cast.v1"


async def _dead_lettered(js: JetStreamContext) -> RawStreamMsg | None:
    try:
        return await js.get_last_msg("DEADLETTER", DEAD_SUBJECT)
    except nats.js.errors.NotFoundError:
        return None


async def test_a_record_that_does_not_match_its_event_is_dead_lettered_after_bounded_redeliveries(
    ledger_settings: LedgerSettings, ctx: LedgerContext, sessions: Sessions
) -> None:
    nc = await nats.connect(ledger_settings.nats_url)
    js = nc.jetstream()
    await nats_mod.ensure_streams(js)
    good = [vote_cast() for _ in range(6)]
    # Parses, but its record names another vote: append can never take it.
    forged = vote_cast().model_copy(update={"vote_id": uuid.uuid4()})
    ids = await publish_votes(js, [*good[:3], forged, *good[3:]])
    # The runner's delivery bound and dead letters as ledger-svc consume runs it; only the wait
    # between redeliveries is shortened.
    runner = records_consumer(ctx, sessions, js, backoff=(0.05,))
    await runner.setup()
    try:
        async with asyncio.timeout(120):
            while (dead := await _dead_lettered(js)) is None:
                await runner.process_batch(wait=0.3)
        for _ in range(3):  # nothing is left to append, or to append twice
            await runner.process_batch(wait=0.3)
        info = await js.consumer_info("VOTE", CONSUMER)
    finally:
        await nc.close()

    assert dead.data is not None
    assert json.loads(dead.data)["id"] == ids[3]
    assert dead.headers is not None
    assert dead.headers["Deadletter-Consumer"] == CONSUMER
    assert dead.headers["Deadletter-Subject"] == "vote.cast.v1"
    assert dead.headers["Deadletter-Deliveries"] == "5"  # the runner's bound, as everywhere
    assert "invalid record" in dead.headers["Deadletter-Error"]
    assert str(forged.vote_id) in dead.headers["Deadletter-Error"]
    assert (info.num_pending, info.num_ack_pending) == (0, 0)
    async with sessions() as session:
        recorded = (await session.scalars(select(LedgerRecord.vote_id))).all()
        size = await ledger.tree_size(session)
        count = await session.scalar(select(func.count()).select_from(LedgerRecord))
    assert sorted(recorded) == sorted(e.vote_id for e in good)
    assert count == size == len(good)
