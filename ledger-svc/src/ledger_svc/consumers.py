"""The batching consumer of ``vote.cast``: up to ``batch_max`` records or ``batch_ms``
milliseconds make one batch, appended in one transaction together with the inbox rows, then
acked. Killed before the commit, nothing of the batch remains and the messages come back; killed
after it, the redelivered messages find their inbox rows (or their votes) and are acked.

When the backend cannot be reached (Fabric peers down), the batch's transaction is rolled back,
its messages are given back to NATS (nak with a delay) and the consumer pauses, backing off up to
``MAX_PAUSE`` seconds: votes queue in the stream and are anchored once the backend returns."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeoutError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from pydantic import ValidationError
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ledger_svc import ledger
from ledger_svc.backend import BackendUnavailable
from ledger_svc.ledger import LedgerContext
from services.consumer import InboxMessage
from services.db import transaction
from services.events import CloudEvent, VoteCast, parse_event
from services.observability import EVENTS_HANDLED

log = logging.getLogger(__name__)

CONSUMER = "ledger-svc-records"
#: The longest pause between attempts while the backend is unreachable, in seconds.
MAX_PAUSE = 10.0


class BatchConsumer:
    """Durable pull consumer on VOTE for ``vote.cast.v1``, appending in batches."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        js: JetStreamContext,
        ctx: LedgerContext,
        batch_max: int,
        batch_ms: int,
        name: str = CONSUMER,
    ) -> None:
        self._sessions = sessions
        self._js = js
        self._ctx = ctx
        self._batch_max = batch_max
        self._batch_s = batch_ms / 1000
        self.name = name
        self._sub: JetStreamContext.PullSubscription | None = None
        #: Why the backend could not take the last batch (None while it works).
        self.backend_problem: str | None = None
        self.pause = 0.0

    async def setup(self) -> None:
        """Create or update the durable consumer."""
        await self._js.add_consumer(
            "VOTE",
            ConsumerConfig(
                durable_name=self.name,
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=30.0,
                filter_subjects=[VoteCast.subject_name()],
                max_ack_pending=20_000,
            ),
        )
        self._sub = await self._js.pull_subscribe_bind(durable=self.name, stream="VOTE")

    async def _collect(self) -> list[Msg]:
        """Up to batch_max messages, waiting at most batch_ms after the first one."""
        assert self._sub is not None
        try:
            messages = list(await self._sub.fetch(self._batch_max, timeout=1.0))
        except (NatsTimeoutError, TimeoutError):
            return []
        deadline = time.monotonic() + self._batch_s
        while len(messages) < self._batch_max and (left := deadline - time.monotonic()) > 0:
            try:
                messages += await self._sub.fetch(
                    self._batch_max - len(messages), timeout=max(left, 0.01)
                )
            except (NatsTimeoutError, TimeoutError):
                break
        return messages

    async def process_batch(self) -> int:
        """Take one batch and append it; returns how many messages were taken."""
        if self._sub is None:
            await self.setup()
        messages = await self._collect()
        if not messages:
            return 0
        parsed: list[tuple[Msg, CloudEvent, VoteCast]] = []
        for msg in messages:
            try:
                envelope = CloudEvent.model_validate(json.loads(msg.data))
                event = parse_event(envelope)
                if not isinstance(event, VoteCast):
                    raise TypeError(envelope.type)
            except (ValueError, ValidationError, TypeError, LookupError) as exc:
                await self._dead_letter(msg, f"unparseable: {exc!r}")
                continue
            parsed.append((msg, envelope, event))
        try:
            async with transaction(self._sessions) as session:
                fresh = await self._claim(session, [e for _, e, _ in parsed])
                events = [event for _, envelope, event in parsed if envelope.id in fresh]
                result = await ledger.append(session, self._ctx, events)
        except BackendUnavailable as exc:
            self._backend_down(str(exc))
            for msg, _, _ in parsed:
                await msg.nak(delay=self.pause)
            return len(messages)
        except Exception:
            log.exception("ledger: batch of %d failed; it will be redelivered", len(parsed))
            for msg, _, _ in parsed:
                await msg.nak(delay=2.0)
            return len(messages)
        for msg, _, _ in parsed:
            await msg.ack()
        if self.backend_problem is not None:
            log.warning("ledger: the %s backend is reachable again", self._ctx.backend.name)
            self.backend_problem, self.pause = None, 0.0
        EVENTS_HANDLED.labels(self.name, "handled").inc(result.appended)
        EVENTS_HANDLED.labels(self.name, "duplicate").inc(
            len(parsed) - len(events) + result.already_recorded
        )
        if result.duplicates:
            log.warning(
                "ledger: refused %d duplicate (target, voter_tag) records", len(result.duplicates)
            )
        if result.invalid:
            log.error(
                "ledger: %d vote.cast events carried invalid records: %s",
                len(result.invalid),
                result.invalid,
            )
        return len(messages)

    def _backend_down(self, problem: str) -> None:
        if self.backend_problem is None:
            log.warning(
                "ledger: the %s backend is unreachable; votes wait in NATS until it returns: %s",
                self._ctx.backend.name,
                problem,
            )
        self.backend_problem = problem
        self.pause = min(max(self.pause * 2, 1.0), MAX_PAUSE)

    async def _claim(self, session: AsyncSession, envelopes: list[CloudEvent]) -> set[str]:
        if not envelopes:
            return set()
        rows = await session.execute(
            insert(InboxMessage)
            .values(
                [
                    {"consumer": self.name, "event_id": uuid.UUID(e.id), "event_type": e.type}
                    for e in envelopes
                ]
            )
            .on_conflict_do_nothing()
            .returning(InboxMessage.event_id)
        )
        return {str(r.event_id) for r in rows}

    async def _dead_letter(self, msg: Msg, error: str) -> None:
        headers = {
            **(msg.headers or {}),
            "Deadletter-Consumer": self.name,
            "Deadletter-Error": error[:500],
        }
        await self._js.publish(f"deadletter.{self.name}.{msg.subject}", msg.data, headers=headers)
        await msg.ack()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set."""
        while not stop.is_set():
            try:
                await self.process_batch()
                if self.backend_problem is not None:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=self.pause)
            except Exception:
                log.exception("ledger consumer iteration failed; retrying")
                try:
                    await asyncio.wait_for(stop.wait(), timeout=1.0)
                except TimeoutError:
                    pass
