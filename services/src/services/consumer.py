"""Consumer runner: durable pull consumer, explicit ack, bounded redelivery with backoff,
dead-letter stream, and an inbox table so each event is handled once per consumer.

A handler runs inside the transaction that records the event in the inbox; both commit
together, then the message is acked. A redelivered event whose inbox row exists is acked
without calling the handler again. A handler that keeps failing is retried with backoff up to
``max_deliver`` times, then the message is copied to ``deadletter.<consumer>.<subject>`` and
acked, so one poisonous event cannot block the stream.

``before_commit`` (optional) runs at the end of every transaction the runner opens, after the
handlers and before the commit, in both modes: handlers that only collect what their events say
(e.g. the highest tally per target) can apply it once per batch there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from sqlalchemy import DateTime, String, func
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base, transaction
from services.events.envelope import CloudEvent, Event, UnknownEventType, parse_event
from services.observability import EVENTS_HANDLED

log = logging.getLogger(__name__)


class InboxMessage(Base):
    """An event a consumer has handled (its id is the CloudEvents id)."""

    __tablename__ = "inbox"

    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    event_type: Mapped[str] = mapped_column(String(200))
    handled_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


#: A handler gets the session of the transaction that also records the inbox row.
Handler = Callable[[AsyncSession, Event, CloudEvent], Awaitable[None]]


async def claim_inbox(session: AsyncSession, consumer: str, envelope: CloudEvent) -> bool:
    """Record the event as handled by ``consumer``; False when it already was."""
    result = await session.execute(
        insert(InboxMessage)
        .values(consumer=consumer, event_id=uuid.UUID(envelope.id), event_type=envelope.type)
        .on_conflict_do_nothing()
        .returning(InboxMessage.event_id)
    )
    return result.first() is not None


class ConsumerRunner:
    """Runs one durable consumer on ``stream`` for the event types in ``handlers``."""

    def __init__(
        self,
        *,
        name: str,
        stream: str,
        handlers: Mapping[type[Event], Handler],
        sessions: async_sessionmaker[AsyncSession],
        js: JetStreamContext,
        max_deliver: int = 5,
        backoff: Sequence[float] = (0.5, 2.0, 5.0, 15.0, 30.0),
        batch_size: int = 100,
        ack_wait: float = 30.0,
        one_transaction: bool = False,
        collect_ms: int = 0,
        before_commit: Callable[[AsyncSession], Awaitable[None]] | None = None,
    ) -> None:
        self.name = name
        #: Runs in each transaction after its handlers, before the commit (see the module doc).
        self._before_commit = before_commit
        #: Handle all messages of a fetch in one transaction (one commit instead of one per
        #: event, for high-volume handlers); any failure falls back to one message at a time.
        self._one_transaction = one_transaction
        #: After the first message, keep fetching this long (up to ``batch_size``) so that a
        #: steady stream is taken in batches rather than one or two messages at a time.
        self._collect_s = collect_ms / 1000
        self.stream = stream
        self._handlers = {cls.ce_type(): handler for cls, handler in handlers.items()}
        self._subjects = sorted(cls.subject_name() for cls in handlers)
        self._sessions = sessions
        self._js = js
        self._max_deliver = max_deliver
        self._backoff = list(backoff)
        self._batch_size = batch_size
        self._ack_wait = ack_wait
        self._sub: JetStreamContext.PullSubscription | None = None

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
            max_ack_pending=10_000,
        )
        # Adding a durable that exists updates it to this configuration.
        await self._js.add_consumer(self.stream, config)
        self._sub = await self._js.pull_subscribe_bind(durable=self.name, stream=self.stream)

    async def process_batch(self, wait: float = 1.0) -> int:
        """Fetch and handle up to one batch; returns how many messages were taken."""
        if self._sub is None:
            await self.setup()
        assert self._sub is not None
        try:
            messages = list(await self._sub.fetch(self._batch_size, timeout=wait))
        except (NatsTimeoutError, TimeoutError):
            return 0
        deadline = time.monotonic() + self._collect_s
        while len(messages) < self._batch_size and (left := deadline - time.monotonic()) > 0:
            try:
                messages += await self._sub.fetch(
                    self._batch_size - len(messages), timeout=max(left, 0.01)
                )
            except (NatsTimeoutError, TimeoutError):
                break
        if self._one_transaction and len(messages) > 1 and await self._handle_together(messages):
            return len(messages)
        for msg in messages:
            await self._handle(msg)
        return len(messages)

    async def _handle_together(self, messages: Sequence[Msg]) -> bool:
        """Handle every message in one transaction with one inbox insert, then ack them all.
        Returns False (nothing committed or acked) when anything fails or does not parse, so
        that the caller handles them one by one, with retries and dead letters per message."""
        try:
            parsed = []
            for msg in messages:
                envelope = CloudEvent.model_validate(json.loads(msg.data))
                parsed.append((envelope, parse_event(envelope), self._handlers[envelope.type]))
            async with transaction(self._sessions) as session:
                fresh = {
                    row.event_id
                    for row in await session.execute(
                        insert(InboxMessage)
                        .values(
                            [
                                {
                                    "consumer": self.name,
                                    "event_id": uuid.UUID(e.id),
                                    "event_type": e.type,
                                }
                                for e, _, _ in parsed
                            ]
                        )
                        .on_conflict_do_nothing()
                        .returning(InboxMessage.event_id)
                    )
                }
                seen: set[uuid.UUID] = set()
                for envelope, event, handler in parsed:
                    event_id = uuid.UUID(envelope.id)
                    if event_id in fresh and event_id not in seen:
                        seen.add(event_id)
                        await handler(session, event, envelope)
                if self._before_commit is not None:
                    await self._before_commit(session)
        except Exception:
            log.warning(
                "consumer %s: batch of %d failed; handling one by one",
                self.name,
                len(messages),
                exc_info=True,
            )
            return False
        for msg in messages:
            await msg.ack()
        EVENTS_HANDLED.labels(self.name, "handled").inc(len(seen))
        EVENTS_HANDLED.labels(self.name, "duplicate").inc(len(messages) - len(seen))
        return True

    async def _handle(self, msg: Msg) -> None:
        try:
            envelope = CloudEvent.model_validate(json.loads(msg.data))
            event = parse_event(envelope)
            handler = self._handlers[envelope.type]
        except (ValueError, ValidationError, UnknownEventType, KeyError) as exc:
            # Not retryable: no redelivery will make it parse.
            await self._dead_letter(msg, f"unparseable: {exc!r}")
            EVENTS_HANDLED.labels(self.name, "unparseable").inc()
            return
        try:
            async with transaction(self._sessions) as session:
                if not await claim_inbox(session, self.name, envelope):
                    EVENTS_HANDLED.labels(self.name, "duplicate").inc()
                else:
                    await handler(session, event, envelope)
                    if self._before_commit is not None:
                        await self._before_commit(session)
                    EVENTS_HANDLED.labels(self.name, "handled").inc()
        except Exception as exc:
            delivered = msg.metadata.num_delivered
            if delivered >= self._max_deliver:
                log.exception(
                    "consumer %s: giving up on %s after %d deliveries",
                    self.name,
                    envelope.id,
                    delivered,
                )
                await self._dead_letter(msg, repr(exc))
                EVENTS_HANDLED.labels(self.name, "dead_lettered").inc()
            else:
                delay = self._backoff[min(delivered - 1, len(self._backoff) - 1)]
                log.warning(
                    "consumer %s: %s failed (delivery %d), retry in %.1fs: %r",
                    self.name,
                    envelope.id,
                    delivered,
                    delay,
                    exc,
                )
                await msg.nak(delay=delay)
                EVENTS_HANDLED.labels(self.name, "retried").inc()
            return
        await msg.ack()

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
                await self.process_batch()
            except Exception:
                log.exception("consumer %s: iteration failed; retrying", self.name)
                try:
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                except TimeoutError:
                    pass
