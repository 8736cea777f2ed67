"""The read models are fed by real events through JetStream and the real ConsumerRunners:
targets open and close, suspensions apply, and neither redelivery nor delivery order can undo a
newer event."""

from __future__ import annotations

import asyncio
import json
import unicodedata
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

import httpx
import nats
import pytest
from nats.js import JetStreamContext
from sqlalchemy import func, select
from vote_helpers import (
    Sessions,
    citizen_reinstated,
    citizen_suspended,
    forum_closed,
    forum_opened,
    now,
    proposal_closed,
    proposal_opened,
)

from services import nats as nats_mod
from services.clock import ManualClock
from services.consumer import ConsumerRunner, InboxMessage
from services.events import Event, LedgerBatchCommitted, to_envelope
from services.worker import consumers_body
from services_dev.testing.tokens import TestTokens
from vote_svc.bootstrap import VoteContext, bootstrap
from vote_svc.config import VoteSettings
from vote_svc.consumers import (
    LEDGER_CONSUMER,
    SUSPENSIONS_CONSUMER,
    TARGETS_CONSUMER,
    build_consumers,
)
from vote_svc.models import CitizenSuspension, LedgerRecording, Target


@pytest.fixture
async def js(vote_settings: VoteSettings) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(vote_settings.nats_url)
    js = nc.jetstream()
    await nats_mod.ensure_streams(js)
    yield js
    await nc.close()


@pytest.fixture
async def runners(
    vote_ctx: VoteContext, sessions: Sessions, js: JetStreamContext
) -> Sequence[ConsumerRunner]:
    built = build_consumers(vote_ctx, sessions, js)
    assert [r.name for r in built] == [TARGETS_CONSUMER, SUSPENSIONS_CONSUMER, LEDGER_CONSUMER]
    for runner in built:
        await runner.setup()
    return built


async def publish(
    js: JetStreamContext, event: Event, *, at: datetime | None = None, msg_id: str | None = None
) -> str:
    """Publish ``event`` as its service's relay would; returns the event id."""
    envelope = to_envelope(event, time=at)
    await js.publish(
        event.subject_name(),
        json.dumps(envelope.model_dump(mode="json")).encode(),
        headers={"Nats-Msg-Id": msg_id or envelope.id},
    )
    return envelope.id


async def drain(runners: Sequence[ConsumerRunner]) -> None:
    for _ in range(3):
        for runner in runners:
            await runner.process_batch(wait=0.2)


async def agree(
    client: httpx.AsyncClient, tokens: TestTokens, proposal_id: uuid.UUID, citizen: uuid.UUID
) -> httpx.Response:
    return await client.post(
        "/v1/votes/agreements",
        json={"proposal_id": str(proposal_id)},
        headers=tokens.headers(citizen),
    )


async def test_proposal_events_open_and_close_agreements(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    js: JetStreamContext,
    runners: Sequence[ConsumerRunner],
) -> None:
    proposal_id = uuid.uuid4()
    assert (await agree(client, tokens, proposal_id, uuid.uuid4())).status_code == 404
    await publish(js, proposal_opened(proposal_id))
    await drain(runners)
    assert (await agree(client, tokens, proposal_id, uuid.uuid4())).status_code == 201
    await publish(js, proposal_closed(proposal_id, "withdrawn"))
    await drain(runners)
    refused = await agree(client, tokens, proposal_id, uuid.uuid4())
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/proposal-closed")
    assert refused.json()["target_status"] == "withdrawn"


async def test_committed_batches_mark_receipts_recorded(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    js: JetStreamContext,
    runners: Sequence[ConsumerRunner],
    sessions: Sessions,
) -> None:
    proposal_id, citizen = uuid.uuid4(), uuid.uuid4()
    await publish(js, proposal_opened(proposal_id))
    await drain(runners)
    vote_id = (await agree(client, tokens, proposal_id, citizen)).json()["vote_id"]
    mine = await client.get("/v1/votes/mine", headers=tokens.headers(citizen))
    assert mine.json()["items"][0]["ledger_status"] == "pending"
    committed = LedgerBatchCommitted(
        batch_seq=7,
        first_index=0,
        size=1,
        tree_size=1,
        root="00" * 32,
        batch_root="00" * 32,
        backend="local",
        tx_id="local-7",
        committed_at=now(),
        vote_ids=[uuid.UUID(vote_id)],
    )
    event_id = await publish(js, committed)
    await publish(js, committed, msg_id=event_id + "-again")  # a republish: applied once
    await drain(runners)
    mine = await client.get("/v1/votes/mine", headers=tokens.headers(citizen))
    item = mine.json()["items"][0]
    assert (item["ledger_status"], item["ledger_batch"]) == ("recorded", 7)
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(LedgerRecording)) == 1


async def test_forum_events_open_and_close_ballots(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    js: JetStreamContext,
    runners: Sequence[ConsumerRunner],
) -> None:
    forum_id = uuid.uuid4()
    # Options as a publisher might send them: decomposed Hangul, and a repeat.
    options = [unicodedata.normalize("NFD", o) for o in ("찬성", "반대", "찬성")]
    await publish(js, forum_opened(forum_id, options=options))
    await drain(runners)
    tally = await client.get(f"/v1/votes/tallies/forums/{forum_id}")
    assert tally.json()["by_choice"] == {"찬성": 0, "반대": 0}
    path = f"/v1/votes/forums/{forum_id}/ballots"
    cast = await client.post(path, json={"choice": "반대"}, headers=tokens.headers())
    assert cast.status_code == 201, cast.text
    await publish(js, forum_closed(forum_id))
    await drain(runners)
    refused = await client.post(path, json={"choice": "찬성"}, headers=tokens.headers())
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/forum-closed")
    tally = await client.get(f"/v1/votes/tallies/forums/{forum_id}")
    assert tally.json()["participants"] == 1


async def test_a_closed_that_overtook_its_opened_is_not_undone(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    js: JetStreamContext,
    runners: Sequence[ConsumerRunner],
    sessions: Sessions,
) -> None:
    proposal_id = uuid.uuid4()
    opened_at = now() - timedelta(minutes=5)
    await publish(js, proposal_closed(proposal_id), at=opened_at + timedelta(minutes=1))
    await drain(runners)
    await publish(js, proposal_opened(proposal_id, opened_at=opened_at), at=opened_at)
    await drain(runners)
    refused = await agree(client, tokens, proposal_id, uuid.uuid4())
    assert refused.status_code == 409
    assert refused.json()["type"].endswith("/proposal-closed")
    async with sessions() as session:
        target = await session.get(Target, ("proposal", proposal_id))
        assert target is not None
        # The late opened still filled in the details.
        assert target.closes_at == opened_at + timedelta(days=30)
        assert target.status == "closed"
    # A genuinely newer opened (reopening) does open it.
    await publish(js, proposal_opened(proposal_id), at=now())
    await drain(runners)
    assert (await agree(client, tokens, proposal_id, uuid.uuid4())).status_code == 201


async def test_an_old_closed_arriving_late_does_not_close_a_reopened_target(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    js: JetStreamContext,
    runners: Sequence[ConsumerRunner],
) -> None:
    proposal_id = uuid.uuid4()
    start = now() - timedelta(minutes=10)
    await publish(js, proposal_opened(proposal_id, opened_at=start), at=start)
    await publish(js, proposal_opened(proposal_id), at=now())
    await publish(js, proposal_closed(proposal_id), at=start + timedelta(minutes=1))
    await drain(runners)
    assert (await agree(client, tokens, proposal_id, uuid.uuid4())).status_code == 201


async def test_a_redelivered_event_is_handled_once(
    js: JetStreamContext, runners: Sequence[ConsumerRunner], sessions: Sessions
) -> None:
    proposal_id = uuid.uuid4()
    event = proposal_opened(proposal_id)
    envelope = to_envelope(event)
    for copy in ("copy-1", "copy-2"):  # as after a reconcile past the duplicate window
        await js.publish(
            event.subject_name(),
            json.dumps(envelope.model_dump(mode="json")).encode(),
            headers={"Nats-Msg-Id": copy},
        )
    await drain(runners)
    async with sessions() as session:
        handled = await session.scalar(
            select(func.count())
            .select_from(InboxMessage)
            .where(InboxMessage.event_id == uuid.UUID(envelope.id))
        )
        assert handled == 1
        target = await session.get(Target, ("proposal", proposal_id))
        assert target is not None
        assert target.status == "open"


async def test_suspension_events_stop_and_restart_a_citizens_votes(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    js: JetStreamContext,
    runners: Sequence[ConsumerRunner],
) -> None:
    await publish(js, proposal_opened(first := uuid.uuid4()))
    await publish(js, proposal_opened(second := uuid.uuid4()))
    citizen = uuid.uuid4()
    await publish(js, citizen_suspended(citizen))
    await drain(runners)
    refused = await agree(client, tokens, first, citizen)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/citizen-suspended")
    await publish(js, citizen_reinstated(citizen))
    await drain(runners)
    assert (await agree(client, tokens, first, citizen)).status_code == 201

    # A reinstatement that overtook the suspension it lifts leaves the citizen able to vote.
    other = uuid.uuid4()
    earlier = now() - timedelta(minutes=1)
    await publish(js, citizen_reinstated(other), at=now())
    await drain(runners)
    await publish(js, citizen_suspended(other), at=earlier)
    await drain(runners)
    assert (await agree(client, tokens, second, other)).status_code == 201


async def test_the_consume_process_runs_every_consumer(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    js: JetStreamContext,
    sessions: Sessions,
    vote_ctx: VoteContext,
) -> None:
    """What ``vote-svc consume`` runs, until it is told to stop."""
    stop = asyncio.Event()

    async def consume() -> None:
        await consumers_body(build_consumers)(vote_ctx, sessions, js, stop)

    worker = asyncio.create_task(consume())
    try:
        proposal_id = uuid.uuid4()
        citizen = uuid.uuid4()
        await publish(js, proposal_opened(proposal_id))
        await publish(js, citizen_suspended(citizen))
        for _ in range(100):
            async with sessions() as session:
                suspension = await session.get(CitizenSuspension, citizen)
                target = await session.get(Target, ("proposal", proposal_id))
            if suspension is not None and target is not None:
                break
            await asyncio.sleep(0.05)
        assert (await agree(client, tokens, proposal_id, citizen)).status_code == 403
        assert (await agree(client, tokens, proposal_id, uuid.uuid4())).status_code == 201
    finally:
        stop.set()
        await asyncio.wait_for(worker, timeout=10)


async def test_the_read_models_are_stamped_with_the_contexts_clock(
    vote_settings: VoteSettings, sessions: Sessions, js: JetStreamContext
) -> None:
    stamp = now() - timedelta(days=3)
    clock = ManualClock(stamp)
    runners = build_consumers(bootstrap(vote_settings, clock=clock), sessions, js)
    for runner in runners:
        await runner.setup()
    proposal_id = uuid.uuid4()
    # The first event inserts the row (stamped by the database); later ones update it.
    await publish(js, proposal_opened(proposal_id), at=now() - timedelta(minutes=1))
    await publish(js, proposal_opened(proposal_id), at=now())
    await drain(runners)
    async with sessions() as session:
        target = await session.get(Target, ("proposal", proposal_id))
        assert target is not None
        assert target.updated_at == stamp
    clock.advance(hours=1)
    await publish(js, proposal_closed(proposal_id))
    await drain(runners)
    async with sessions() as session:
        target = await session.get(Target, ("proposal", proposal_id))
        assert target is not None
        assert (target.updated_at, target.status) == (stamp + timedelta(hours=1), "closed")
