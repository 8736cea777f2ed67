"""Consumer runner: durable pull consumer, explicit ack, bounded redelivery with backoff,
dead-letter stream, and an inbox table so each event is handled once per consumer. Every
consumer of every service runs on it.

Handlers run inside the transaction that records their events in the inbox; both commit
together, then the messages are acked. A redelivered event whose inbox row exists is acked
without calling a handler again. An event whose handling keeps failing is retried with backoff
up to ``max_deliver`` times, then copied to ``deadletter.<consumer>.<subject>`` (headers
``Deadletter-Consumer``, ``-Subject``, ``-Error``, ``-Deliveries``) and acked, so one poisonous
event cannot block the stream.

Two ways to handle events:

* **per event** (``handlers``): a handler per event class (a :class:`Handlers` table bound
  to the service's context). With ``one_transaction`` a whole fetch is handled in one transaction.
* **per batch** (``batch``): one handler receives every fresh event of a fetch in one
  transaction (:class:`BatchHandler`), e.g. the ledger appending a Merkle batch, or the tally
  consumer applying the highest count per target once.

Either way, when a batch fails it is handled again one event per transaction, so that retries
and dead letters are per event. A handler that cannot reach a backend it needs raises
:class:`Unavailable`: nothing commits, the messages are kept (their ack deadline extended) and
the runner **pauses**, retrying the same messages with a growing delay (up to ``max_pause``)
until the backend answers; such attempts do not count towards ``max_deliver``. ``paused``
says why meanwhile (for ``/readyz``), and ``on_pause`` is told of each change.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from sqlalchemy import DateTime, String, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base, is_connection_error, transaction
from services.events.envelope import CloudEvent, Event, UnknownEventType, parse_event
from services.observability import CONSUMER_PAUSED, EVENTS_HANDLED
from services.periodic import sleep_or_stop

log = logging.getLogger(__name__)

E = TypeVar("E", bound=Event)
C = TypeVar("C")


class InboxMessage(Base):
    """An event a consumer has handled (its id is the CloudEvents id)."""

    __tablename__ = "inbox"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_type: Mapped[str] = mapped_column(String(200))
    handled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Unavailable(Exception):
    """A backend the handler needs cannot be reached: pause and retry the same messages."""


#: A handler of one event class: the session of the transaction that also records the inbox row.
Handler = Callable[[AsyncSession, E, CloudEvent], Awaitable[None]]


@dataclass(frozen=True)
class Delivered(Generic[E]):
    """One event of a batch, with its envelope."""

    event: E
    envelope: CloudEvent


@dataclass(frozen=True)
class BatchHandler(Generic[E]):
    """Handles every fresh ``event_type`` event of one fetch in one transaction."""

    event_type: type[E]
    handle: Callable[[AsyncSession, Sequence[Delivered[E]]], Awaitable[None]]


#: A handler as written: the service's context first, then what every handler gets.
ContextHandler = Callable[[C, AsyncSession, E, CloudEvent], Awaitable[None]]


class Handlers(Generic[C]):
    """A table of typed, module-level handlers, one per event class, each taking the service's
    context (built once by its bootstrap) as its first argument::

        HANDLERS: Handlers[VoteContext] = Handlers()

        @HANDLERS.on(ProposalOpened)
        async def on_proposal_opened(
            ctx: VoteContext, session: AsyncSession, event: ProposalOpened, envelope: CloudEvent
        ) -> None: ...

        ConsumerRunner(..., handlers=HANDLERS.bind(ctx))
    """

    def __init__(self) -> None:
        self._table: dict[type[Event], ContextHandler[C, Any]] = {}

    def on(self, event_type: type[E]) -> Callable[[ContextHandler[C, E]], ContextHandler[C, E]]:
        """Register the decorated function as the handler of ``event_type``."""

        def register(fn: ContextHandler[C, E]) -> ContextHandler[C, E]:
            if event_type in self._table:
                raise ValueError(f"{event_type.__name__} already has a handler")
            self._table[event_type] = fn
            return fn

        return register

    def event_types(self) -> list[type[Event]]:
        """The event classes with a handler."""
        return list(self._table)

    def bind(self, ctx: C) -> Mapping[type[Event], Handler[Any]]:
        """Event class → handler with ``ctx`` given, for :class:`ConsumerRunner`."""
        return {cls: functools.partial(fn, ctx) for cls, fn in self._table.items()}


async def claim_inbox(
    session: AsyncSession, consumer: str, envelopes: Sequence[CloudEvent]
) -> set[str]:
    """Record the events as handled by ``consumer``; the ids of those that were not yet."""
    if not envelopes:
        return set()
    rows = await session.execute(
        insert(InboxMessage)
        .values(
            [
                {"consumer": consumer, "event_id": uuid.UUID(e.id), "event_type": e.type}
                for e in envelopes
            ]
        )
        .on_conflict_do_nothing()
        .returning(InboxMessage.event_id)
    )
    return {str(row.event_id) for row in rows}


def _raise_if_unreachable(exc: Exception) -> None:
    """A database (or network peer) that cannot be reached is an outage, not a poisonous event:
    pause and retry instead of counting a delivery (a long PostgreSQL restart would otherwise
    dead-letter whatever was in flight)."""
    if is_connection_error(exc):
        raise Unavailable(f"database or peer unreachable: {type(exc).__name__}") from exc


class _Unparseable(Exception):
    pass


class ConsumerRunner:
    """Runs one durable consumer on ``stream``, with ``handlers`` or one ``batch`` handler."""

    def __init__(
        self,
        *,
        name: str,
        stream: str,
        sessions: async_sessionmaker[AsyncSession],
        js: JetStreamContext,
        handlers: Mapping[type[Event], Handler[Any]] | None = None,
        batch: BatchHandler[Any] | None = None,
        max_deliver: int = 5,
        backoff: Sequence[float] = (0.5, 2.0, 5.0, 15.0, 30.0),
        batch_size: int = 100,
        ack_wait: float = 30.0,
        one_transaction: bool | None = None,
        collect_ms: int = 0,
        max_pause: float = 10.0,
        max_ack_pending: int = 10_000,
        on_pause: Callable[[str | None], None] | None = None,
    ) -> None:
        if (handlers is None) == (batch is None):
            raise ValueError("give either handlers or a batch handler")
        self.name = name
        self.stream = stream
        self._handlers: dict[str, Handler[Any]] = {
            cls.ce_type(): handler for cls, handler in (handlers or {}).items()
        }
        self._batch = batch
        types = [batch.event_type] if batch is not None else list(handlers or {})
        self._types = {cls.ce_type() for cls in types}
        self._subjects = sorted(cls.subject_name() for cls in types)
        #: Handle all messages of a fetch in one transaction (one commit instead of one per
        #: event); any failure falls back to one message at a time. Always on for a batch.
        self._one_transaction = batch is not None if one_transaction is None else one_transaction
        #: After the first message, keep fetching this long (up to ``batch_size``) so that a
        #: steady stream is taken in batches rather than one or two messages at a time.
        self._collect_s = collect_ms / 1000
        self._sessions = sessions
        self._js = js
        self._max_deliver = max_deliver
        self._backoff = list(backoff)
        self._batch_size = batch_size
        self._ack_wait = ack_wait
        self._max_ack_pending = max_ack_pending
        self._max_pause = max_pause
        self._on_pause = on_pause
        self._sub: JetStreamContext.PullSubscription | None = None
        #: Why the runner is paused (a backend it needs is unreachable), or None.
        self.paused: str | None = None
        self._pause_s = 0.0

    async def setup(self) -> None:
        """Create (or update) the durable consumer; idempotent."""
        config = ConsumerConfig(
            durable_name=self.name,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self._ack_wait,
            # We count deliveries ourselves and dead-letter at max_deliver; the server-side
            # bound is only a backstop should this process die in between.
            max_deliver=self._max_deliver + 2,
            filter_subjects=self._subjects,
            max_ack_pending=self._max_ack_pending,
        )
        # Adding a durable that exists updates it to this configuration.
        await self._js.add_consumer(self.stream, config)
        self._sub = await self._js.pull_subscribe_bind(durable=self.name, stream=self.stream)

    async def _fetch(self, wait: float) -> list[Msg]:
        assert self._sub is not None
        try:
            messages = list(await self._sub.fetch(self._batch_size, timeout=wait))
        except (NatsTimeoutError, TimeoutError):
            return []
        deadline = time.monotonic() + self._collect_s
        while len(messages) < self._batch_size and (left := deadline - time.monotonic()) > 0:
            try:
                messages += await self._sub.fetch(
                    self._batch_size - len(messages), timeout=max(left, 0.01)
                )
            except (NatsTimeoutError, TimeoutError):
                break
        return messages

    async def process_batch(self, wait: float = 1.0, stop: asyncio.Event | None = None) -> int:
        """Fetch and handle up to one batch; returns how many messages were taken. While a
        backend is unavailable this waits and retries the same messages (until ``stop``)."""
        if self._sub is None:
            await self.setup()
        messages = await self._fetch(wait)
        if not messages:
            return 0
        parsed: list[tuple[Msg, Delivered[Event]]] = []
        for msg in messages:
            try:
                parsed.append((msg, self._parse(msg)))
            except _Unparseable as exc:
                # Not retryable: no redelivery will make it parse.
                await self._dead_letter(msg, f"unparseable: {exc}")
                EVENTS_HANDLED.labels(self.name, "unparseable").inc()
        while parsed:
            try:
                if not (
                    self._one_transaction
                    and len(parsed) > 1
                    and await self._handle_together(parsed)
                ):
                    while parsed:
                        await self._handle(*parsed[0])
                        parsed.pop(0)
                parsed = []
            except Unavailable as exc:
                problem = str(exc) or type(exc).__name__
                if not await self._pause(problem, [m for m, _ in parsed], stop):
                    for msg, _ in parsed:  # stopping: another instance (or the next run) takes them
                        await msg.nak()
                    return len(messages)
        if self.paused is not None:
            self._resume()
        return len(messages)

    def _parse(self, msg: Msg) -> Delivered[Event]:
        try:
            envelope = CloudEvent.model_validate(json.loads(msg.data))
            if envelope.type not in self._types:
                raise KeyError(envelope.type)
            return Delivered(parse_event(envelope), envelope)
        except (ValueError, ValidationError, UnknownEventType, KeyError) as exc:
            raise _Unparseable(repr(exc)) from None

    async def _apply(self, session: AsyncSession, deliveries: Sequence[Delivered[Event]]) -> None:
        if self._batch is not None:
            if deliveries:
                await self._batch.handle(session, deliveries)
            return
        for d in deliveries:
            await self._handlers[d.envelope.type](session, d.event, d.envelope)

    async def _handle_together(self, parsed: Sequence[tuple[Msg, Delivered[Event]]]) -> bool:
        """Handle every message in one transaction with one inbox insert, then ack them all.
        Returns False (nothing committed or acked) when anything fails, so that the caller
        handles them one by one, with retries and dead letters per message."""
        try:
            async with transaction(self._sessions) as session:
                fresh = await claim_inbox(session, self.name, [d.envelope for _, d in parsed])
                todo: list[Delivered[Event]] = []
                for _, d in parsed:
                    if d.envelope.id in fresh:
                        fresh.discard(d.envelope.id)  # a copy in the same fetch: once
                        todo.append(d)
                await self._apply(session, todo)
        except Unavailable:
            raise
        except Exception as exc:
            _raise_if_unreachable(exc)
            log.warning(
                "consumer %s: batch of %d failed; handling one by one",
                self.name,
                len(parsed),
                exc_info=True,
            )
            return False
        for msg, _ in parsed:
            await msg.ack()
        EVENTS_HANDLED.labels(self.name, "handled").inc(len(todo))
        EVENTS_HANDLED.labels(self.name, "duplicate").inc(len(parsed) - len(todo))
        return True

    async def _handle(self, msg: Msg, delivered: Delivered[Event]) -> None:
        try:
            async with transaction(self._sessions) as session:
                if not await claim_inbox(session, self.name, [delivered.envelope]):
                    EVENTS_HANDLED.labels(self.name, "duplicate").inc()
                else:
                    await self._apply(session, [delivered])
                    EVENTS_HANDLED.labels(self.name, "handled").inc()
        except Unavailable:
            raise
        except Exception as exc:
            _raise_if_unreachable(exc)
            delivered_count = msg.metadata.num_delivered
            if delivered_count >= self._max_deliver:
                log.exception(
                    "consumer %s: giving up on %s after %d deliveries",
                    self.name,
                    delivered.envelope.id,
                    delivered_count,
                )
                await self._dead_letter(msg, repr(exc))
                EVENTS_HANDLED.labels(self.name, "dead_lettered").inc()
            else:
                delay = self._backoff[min(delivered_count - 1, len(self._backoff) - 1)]
                log.warning(
                    "consumer %s: %s failed (delivery %d), retry in %.1fs: %r",
                    self.name,
                    delivered.envelope.id,
                    delivered_count,
                    delay,
                    exc,
                )
                await msg.nak(delay=delay)
                EVENTS_HANDLED.labels(self.name, "retried").inc()
            return
        await msg.ack()

    async def _pause(self, problem: str, held: Sequence[Msg], stop: asyncio.Event | None) -> bool:
        """Wait before retrying ``held``; False when ``stop`` was set meanwhile."""
        if self.paused is None:
            log.warning("consumer %s: paused, a backend is unavailable: %s", self.name, problem)
            CONSUMER_PAUSED.labels(self.name).set(1)
        self.paused = problem
        if self._on_pause is not None:
            self._on_pause(problem)
        self._pause_s = min(max(self._pause_s * 2, 0.5), self._max_pause)
        for msg in held:  # keep them: their ack deadline starts again
            with contextlib.suppress(Exception):
                await msg.in_progress()
        if stop is None:
            await asyncio.sleep(self._pause_s)
            return True
        return not await sleep_or_stop(stop, self._pause_s)

    def _resume(self) -> None:
        log.warning("consumer %s: the backend is reachable again; resumed", self.name)
        self.paused, self._pause_s = None, 0.0
        CONSUMER_PAUSED.labels(self.name).set(0)
        if self._on_pause is not None:
            self._on_pause(None)

    async def _dead_letter(self, msg: Msg, error: str) -> None:
        headers = dict(msg.headers or {})
        headers.update(
            {
                "Deadletter-Consumer": self.name,
                "Deadletter-Subject": msg.subject,
                "Deadletter-Error": error[:500],
                "Deadletter-Deliveries": str(msg.metadata.num_delivered),
            }
        )
        # A dead-lettered copy keeps the original id for dedupe.
        await self._js.publish(f"deadletter.{self.name}.{msg.subject}", msg.data, headers=headers)
        await msg.ack()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; transient errors are logged and retried."""
        while not stop.is_set():
            try:
                await self.process_batch(stop=stop)
            except Exception:
                log.exception("consumer %s: iteration failed; retrying", self.name)
                await sleep_or_stop(stop, 1.0)
