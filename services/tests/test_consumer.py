"""Consumer runner: inbox dedupe, bounded redelivery with backoff, dead-letter stream."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence

import nats
import nats.js.errors
import pytest
from nats.js import JetStreamContext
from services_helpers import SampleHappened, create_outbox_inbox
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from services import nats as nats_mod
from services import outbox
from services.consumer import (
    BatchHandler,
    ConsumerRunner,
    Delivered,
    Handlers,
    InboxMessage,
    Unavailable,
)
from services.db import create_engine, create_sessionmaker
from services.events import CloudEvent, Event, to_envelope
from services.nats import STREAMS, StreamSpec
from services.outbox import OutboxMessage

STREAMS_FOR_TEST = (
    StreamSpec("SAMPLE", ("sample.>",)),
    *[s for s in STREAMS if s.name == "DEADLETTER"],
)


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
    await nats_mod.ensure_streams(js, STREAMS_FOR_TEST)
    yield js
    await nc.close()


async def _publish(js: JetStreamContext, envelope: CloudEvent, msg_id: str | None = None) -> None:
    await js.publish(
        SampleHappened.subject_name(),
        json.dumps(envelope.model_dump(mode="json")).encode(),
        headers={"Nats-Msg-Id": msg_id or envelope.id},
    )


async def _drain(runner: ConsumerRunner, rounds: int = 3) -> None:
    for _ in range(rounds):
        await runner.process_batch(wait=0.3)


async def test_same_event_delivered_twice_is_handled_once(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    handled: list[uuid.UUID] = []

    async def handler(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
        assert isinstance(event, SampleHappened)
        handled.append(event.sample_id)

    runner = ConsumerRunner(
        name="test-consumer",
        stream="SAMPLE",
        handlers={SampleHappened: handler},
        sessions=create_sessionmaker(engine),
        js=js,
    )
    envelope = to_envelope(SampleHappened(sample_id=uuid.uuid4()))
    # Two copies on the stream (different Nats-Msg-Id, as after a reconcile past the window).
    await _publish(js, envelope, msg_id="copy-1")
    await _publish(js, envelope, msg_id="copy-2")
    await _drain(runner)
    assert len(handled) == 1
    # A restarted consumer (same durable) does not see them again, and the inbox has one row.
    restarted = ConsumerRunner(
        name="test-consumer",
        stream="SAMPLE",
        handlers={SampleHappened: handler},
        sessions=create_sessionmaker(engine),
        js=js,
    )
    await _drain(restarted)
    assert len(handled) == 1
    async with create_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(InboxMessage)) == 1


async def test_handler_changes_roll_back_with_the_inbox_on_failure(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    attempts = 0

    async def flaky(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
        nonlocal attempts
        attempts += 1
        if attempts < 3:
            raise RuntimeError("transient")

    runner = ConsumerRunner(
        name="flaky",
        stream="SAMPLE",
        handlers={SampleHappened: flaky},
        sessions=create_sessionmaker(engine),
        js=js,
        backoff=(0.05,),
        max_deliver=5,
    )
    await _publish(js, to_envelope(SampleHappened(sample_id=uuid.uuid4())))
    for _ in range(10):
        await runner.process_batch(wait=0.3)
        if attempts >= 3:
            break
    assert attempts == 3
    await _drain(runner)
    assert attempts == 3  # acked after success: never again


async def test_poison_event_goes_to_dead_letter_after_bounded_retries(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    attempts = 0

    async def broken(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
        nonlocal attempts
        attempts += 1
        raise RuntimeError("always fails")

    runner = ConsumerRunner(
        name="broken",
        stream="SAMPLE",
        handlers={SampleHappened: broken},
        sessions=create_sessionmaker(engine),
        js=js,
        backoff=(0.05,),
        max_deliver=3,
    )
    envelope = to_envelope(SampleHappened(sample_id=uuid.uuid4()))
    await _publish(js, envelope)
    for _ in range(12):
        await runner.process_batch(wait=0.2)
    assert attempts == 3
    dead = await js.get_last_msg("DEADLETTER", "deadletter.broken.sample.happened.v1")
    assert dead.data is not None
    assert json.loads(dead.data)["id"] == envelope.id
    assert dead.headers is not None
    assert dead.headers["Deadletter-Deliveries"] == "3"
    assert "always fails" in dead.headers["Deadletter-Error"]
    async with create_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(InboxMessage)) == 0


async def test_unparseable_message_is_dead_lettered_not_retried(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    async def never(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
        raise AssertionError("must not be called")

    runner = ConsumerRunner(
        name="strict",
        stream="SAMPLE",
        handlers={SampleHappened: never},
        sessions=create_sessionmaker(engine),
        js=js,
    )
    await js.publish(SampleHappened.subject_name(), b"{not json", headers={"Nats-Msg-Id": "bad-1"})
    await _drain(runner, rounds=2)
    dead = await js.get_last_msg("DEADLETTER", "deadletter.strict.sample.happened.v1")
    assert dead.data == b"{not json"


async def test_one_transaction_mode_handles_a_fetch_together(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    handled: list[uuid.UUID] = []

    async def handler(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
        assert isinstance(event, SampleHappened)
        handled.append(event.sample_id)

    runner = ConsumerRunner(
        name="together",
        stream="SAMPLE",
        handlers={SampleHappened: handler},
        sessions=create_sessionmaker(engine),
        js=js,
        one_transaction=True,
    )
    envelopes = [to_envelope(SampleHappened(sample_id=uuid.uuid4())) for _ in range(20)]
    for envelope in envelopes:
        await _publish(js, envelope)
    await _publish(js, envelopes[0], msg_id="republished")  # a copy in the same fetch
    await _drain(runner)
    assert sorted(handled) == sorted(uuid.UUID(e.data["sample_id"]) for e in envelopes)
    async with create_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(InboxMessage)) == 20


async def test_one_transaction_mode_falls_back_to_one_by_one(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    poison = uuid.uuid4()

    async def handler(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
        assert isinstance(event, SampleHappened)
        if event.sample_id == poison:
            raise RuntimeError("poison")
        # A side effect in the database: it must commit exactly once per good event.
        outbox.add(session, SampleHappened(sample_id=event.sample_id, note=f"seen {event.note}"))

    runner = ConsumerRunner(
        name="fallback",
        stream="SAMPLE",
        handlers={SampleHappened: handler},
        sessions=create_sessionmaker(engine),
        js=js,
        one_transaction=True,
        max_deliver=2,
        backoff=(0.05,),
    )
    await _publish(js, to_envelope(SampleHappened(sample_id=uuid.uuid4(), note="a")))
    await _publish(js, to_envelope(SampleHappened(sample_id=poison, note="bad")))
    await _publish(js, to_envelope(SampleHappened(sample_id=uuid.uuid4(), note="b")))
    for _ in range(8):
        await runner.process_batch(wait=0.2)
    async with create_sessionmaker(engine)() as session:
        notes = sorted(
            (await session.scalars(select(OutboxMessage.envelope))).all(),
            key=lambda e: e["data"]["note"],
        )
    assert [e["data"]["note"] for e in notes] == ["seen a", "seen b"]
    dead = await js.get_last_msg("DEADLETTER", "deadletter.fallback.sample.happened.v1")
    assert dead.data is not None


async def test_collect_window_takes_a_trickle_as_one_batch(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    async def handler(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
        return None

    runner = ConsumerRunner(
        name="collector",
        stream="SAMPLE",
        handlers={SampleHappened: handler},
        sessions=create_sessionmaker(engine),
        js=js,
        one_transaction=True,
        collect_ms=1500,
    )
    await runner.setup()

    async def trickle() -> None:
        for _ in range(5):
            await _publish(js, to_envelope(SampleHappened(sample_id=uuid.uuid4())))
            await asyncio.sleep(0.1)

    publisher = asyncio.create_task(trickle())
    taken = await runner.process_batch(wait=2.0)
    await publisher
    assert taken == 5  # one call, one transaction, although they arrived 100 ms apart


async def test_a_batch_handler_gets_every_fresh_event_of_a_fetch_in_one_transaction(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    calls: list[list[str]] = []

    async def handle(session: AsyncSession, batch: Sequence[Delivered[SampleHappened]]) -> None:
        notes = [d.event.note for d in batch]
        calls.append(notes)
        # Its writes commit with the inbox rows.
        outbox.add(session, SampleHappened(sample_id=uuid.uuid4(), note=",".join(notes)))

    runner = ConsumerRunner(
        name="batched",
        stream="SAMPLE",
        batch=BatchHandler(SampleHappened, handle),
        sessions=create_sessionmaker(engine),
        js=js,
    )
    envelopes = [to_envelope(SampleHappened(sample_id=uuid.uuid4(), note=n)) for n in "abc"]
    for envelope in envelopes:
        await _publish(js, envelope)
    await _publish(js, envelopes[1], msg_id="republished")  # a copy in the same fetch
    await runner.setup()
    assert await runner.process_batch(wait=2.0) == 4
    assert calls == [["a", "b", "c"]]
    await _publish(js, envelopes[2], msg_id="republished-later")  # already in the inbox
    await _drain(runner, rounds=1)
    assert calls == [["a", "b", "c"]]
    async with create_sessionmaker(engine)() as session:
        written = [
            e["data"]["note"] for e in (await session.scalars(select(OutboxMessage.envelope)))
        ]
        inbox = await session.scalar(select(func.count()).select_from(InboxMessage))
    assert written == ["a,b,c"]
    assert inbox == 3


async def test_a_failing_batch_is_handled_one_event_at_a_time_and_the_poison_dead_lettered(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    handled: list[str] = []

    async def handle(session: AsyncSession, batch: Sequence[Delivered[SampleHappened]]) -> None:
        if any(d.event.note == "poison" for d in batch):
            raise RuntimeError("poison")
        handled.extend(d.event.note for d in batch)

    runner = ConsumerRunner(
        name="batch-poison",
        stream="SAMPLE",
        batch=BatchHandler(SampleHappened, handle),
        sessions=create_sessionmaker(engine),
        js=js,
        max_deliver=3,
        backoff=(0.05,),
    )
    for note in ("a", "poison", "b"):
        await _publish(js, to_envelope(SampleHappened(sample_id=uuid.uuid4(), note=note)))
    for _ in range(10):
        await runner.process_batch(wait=0.2)
    assert sorted(handled) == ["a", "b"]
    dead = await js.get_last_msg("DEADLETTER", "deadletter.batch-poison.sample.happened.v1")
    assert dead.headers is not None
    assert dead.headers["Deadletter-Consumer"] == "batch-poison"
    assert dead.headers["Deadletter-Subject"] == "sample.happened.v1"
    assert dead.headers["Deadletter-Deliveries"] == "3"
    assert "poison" in dead.headers["Deadletter-Error"]


async def test_unavailable_pauses_and_retries_the_same_messages_without_counting_them(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    """A backend outage is not a poisonous event: however long it lasts, nothing is dead-
    lettered; the runner says it is paused, then handles each event once when it returns."""
    outage = 4
    attempts = 0
    handled: list[str] = []
    changes: list[str | None] = []

    async def handle(session: AsyncSession, batch: Sequence[Delivered[SampleHappened]]) -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= outage:
            raise Unavailable("peers down")
        handled.extend(d.event.note for d in batch)

    runner = ConsumerRunner(
        name="pausing",
        stream="SAMPLE",
        batch=BatchHandler(SampleHappened, handle),
        sessions=create_sessionmaker(engine),
        js=js,
        max_deliver=1,
        max_pause=0.1,
        on_pause=changes.append,
    )
    for note in ("a", "b"):
        await _publish(js, to_envelope(SampleHappened(sample_id=uuid.uuid4(), note=note)))
    await runner.setup()
    stop = asyncio.Event()
    assert await runner.process_batch(wait=2.0, stop=stop) == 2
    assert sorted(handled) == ["a", "b"]
    assert runner.paused is None
    assert changes == ["peers down"] * outage + [None]
    for _ in range(50):  # acks are published without waiting for the server
        info = await js.consumer_info("SAMPLE", "pausing")
        if info.num_ack_pending == 0:
            break
        await asyncio.sleep(0.05)
    assert info.num_ack_pending == 0
    with pytest.raises(nats.js.errors.NotFoundError):
        await js.get_last_msg("DEADLETTER", "deadletter.pausing.sample.happened.v1")


async def test_a_stop_during_a_pause_gives_the_messages_back(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    async def handle(session: AsyncSession, batch: Sequence[Delivered[SampleHappened]]) -> None:
        raise Unavailable("still down")

    runner = ConsumerRunner(
        name="stopped",
        stream="SAMPLE",
        batch=BatchHandler(SampleHappened, handle),
        sessions=create_sessionmaker(engine),
        js=js,
        max_pause=5.0,
    )
    await _publish(js, to_envelope(SampleHappened(sample_id=uuid.uuid4(), note="a")))
    await runner.setup()
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.8, stop.set)
    assert await runner.process_batch(wait=2.0, stop=stop) == 1
    assert runner.paused == "still down"
    info = await js.consumer_info("SAMPLE", "stopped")
    assert info.num_redelivered + info.num_pending + info.num_ack_pending >= 1


async def test_a_handler_table_binds_one_typed_handler_per_event_class_to_a_context() -> None:
    table: Handlers[list[str]] = Handlers()

    @table.on(SampleHappened)
    async def on_sample(
        seen: list[str], session: AsyncSession, event: SampleHappened, envelope: CloudEvent
    ) -> None:
        seen.append(event.note)

    assert table.event_types() == [SampleHappened]
    with pytest.raises(ValueError, match="already has a handler"):
        table.on(SampleHappened)(on_sample)
    seen: list[str] = []
    event = SampleHappened(sample_id=uuid.uuid4(), note="bound")
    await table.bind(seen)[SampleHappened](None, event, to_envelope(event))  # type: ignore[arg-type]
    assert seen == ["bound"]


async def test_an_unreachable_database_pauses_instead_of_dead_lettering(
    engine: AsyncEngine, js: JetStreamContext
) -> None:
    """However many times a handler finds the database (or a peer) unreachable, the event is an
    outage's victim, not poison: the runner pauses and handles it once things are back."""
    attempts = 0
    handled: list[str] = []

    async def handler(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
        nonlocal attempts
        attempts += 1
        if attempts <= 3:
            raise ConnectionRefusedError("connection refused")
        assert isinstance(event, SampleHappened)
        handled.append(event.note)

    runner = ConsumerRunner(
        name="db-outage",
        stream="SAMPLE",
        handlers={SampleHappened: handler},
        sessions=create_sessionmaker(engine),
        js=js,
        max_deliver=1,
        max_pause=0.1,
    )
    await _publish(js, to_envelope(SampleHappened(sample_id=uuid.uuid4(), note="a")))
    await runner.setup()
    assert await runner.process_batch(wait=2.0, stop=asyncio.Event()) == 1
    assert handled == ["a"]
    assert runner.paused is None
    with pytest.raises(nats.js.errors.NotFoundError):
        await js.get_last_msg("DEADLETTER", "deadletter.db-outage.sample.happened.v1")
