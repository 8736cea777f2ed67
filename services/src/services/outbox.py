"""Transactional outbox: an event row is written in the same transaction as the state change,
and a relay publishes it to JetStream afterwards.

Delivery guarantee: the relay claims unsent rows with ``FOR UPDATE SKIP LOCKED`` (several relays
may run), publishes each with ``Nats-Msg-Id`` = the event id, and marks the row sent only after
the PubAck, in the transaction that holds the claim. A crash before the publish leaves the row
unsent; a crash after the publish and before the commit republishes it, and the stream's
duplicate window drops the copy. Postgres stays the source of truth: sent rows are kept for a
retention period and :func:`republish` can send a range again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy import (
    BigInteger,
    DateTime,
    Identity,
    Index,
    Integer,
    String,
    Text,
    delete,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from services.db import Base, transaction
from services.events.envelope import CloudEvent, Event, to_envelope
from services.observability import OUTBOX_PUBLISHED
from services.periodic import sleep_or_stop

log = logging.getLogger(__name__)


class OutboxMessage(Base):
    """One event waiting to be (or already) published."""

    __tablename__ = "outbox"

    seq: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    event_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    subject: Mapped[str] = mapped_column(String(200))
    envelope: Mapped[dict[str, Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default=text("0"))
    last_error: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (Index("ix_outbox_unsent", "seq", postgresql_where=text("sent_at IS NULL")),)


def add(session: AsyncSession, event: Event) -> CloudEvent:
    """Stage ``event`` for publication in the caller's transaction; returns its envelope."""
    envelope = to_envelope(event)
    session.add(
        OutboxMessage(
            event_id=uuid.UUID(envelope.id),
            subject=event.subject_name(),
            envelope=envelope.model_dump(mode="json"),
        )
    )
    return envelope


def encode(envelope: dict[str, Any]) -> bytes:
    """The bytes published on NATS: the CloudEvents JSON envelope."""
    return json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()


#: Fault-injection hooks for crash tests: called with the claimed rows before they are
#: published, and with each row after its PubAck and before it is marked sent.
ClaimedHook = Callable[[Sequence[OutboxMessage]], Awaitable[None]]
PublishedHook = Callable[[OutboxMessage], Awaitable[None]]


class OutboxRelay:
    """Publishes unsent outbox rows in order. Run one or more per service (see module doc)."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        js: JetStreamContext,
        *,
        batch_size: int = 200,
        idle_interval: float = 0.02,
        max_idle_interval: float = 0.2,
        retention: timedelta = timedelta(days=7),
        on_claimed: ClaimedHook | None = None,
        on_published: PublishedHook | None = None,
    ) -> None:
        self._sessions = sessions
        self._js = js
        self._batch_size = batch_size
        self._idle_interval = idle_interval
        self._max_idle_interval = max_idle_interval
        self._retention = retention
        self._on_claimed = on_claimed
        self._on_published = on_published

    async def relay_once(self) -> int:
        """Claim, publish and mark one batch; returns how many rows were published."""
        async with transaction(self._sessions) as session:
            rows: Sequence[OutboxMessage] = (
                await session.scalars(
                    select(OutboxMessage)
                    .where(OutboxMessage.sent_at.is_(None))
                    .order_by(OutboxMessage.seq)
                    .limit(self._batch_size)
                    .with_for_update(skip_locked=True)
                )
            ).all()
            if not rows:
                return 0
            if self._on_claimed is not None:
                await self._on_claimed(rows)
            # Publishes go out in order on one connection, so the stream keeps the outbox order;
            # awaiting the acks together keeps the round trips from adding up.
            results = await asyncio.gather(
                *(
                    self._js.publish(
                        row.subject,
                        encode(row.envelope),
                        headers={"Nats-Msg-Id": str(row.event_id)},
                    )
                    for row in rows
                ),
                return_exceptions=True,
            )
            now = datetime.now(UTC)
            published = 0
            for row, result in zip(rows, results, strict=True):
                if isinstance(result, BaseException):
                    row.attempts += 1
                    row.last_error = repr(result)[:1000]
                    continue
                if self._on_published is not None:
                    await self._on_published(row)
                row.sent_at = now
                published += 1
            if published:
                OUTBOX_PUBLISHED.inc(published)
            if published < len(rows):
                log.warning("outbox: %d of %d publishes failed", len(rows) - published, len(rows))
            return published

    async def purge_sent(self) -> int:
        """Delete sent rows older than the retention period."""
        cutoff = datetime.now(UTC) - self._retention
        async with transaction(self._sessions) as session:
            result = await session.execute(
                delete(OutboxMessage).where(
                    OutboxMessage.sent_at.is_not(None), OutboxMessage.sent_at < cutoff
                )
            )
            return int(result.rowcount)  # type: ignore[attr-defined]

    async def run(self, stop: asyncio.Event) -> None:
        """Relay until ``stop`` is set; errors (NATS down, DB restart) are logged and retried.

        While there is nothing to publish the poll interval doubles up to ``max_idle_interval``
        (an idle relay costs little CPU) and drops back at the first row found.
        """
        last_purge = 0.0
        loop = asyncio.get_running_loop()
        idle = self._idle_interval
        outage = _Outage("outbox relay")
        while not stop.is_set():
            try:
                published = await self.relay_once()
                if loop.time() - last_purge > 3600:
                    last_purge = loop.time()
                    await self.purge_sent()
                outage.ended()
            except Exception as exc:
                outage.failed(exc)
                published = 0
                await sleep_or_stop(stop, 1.0)
            if published >= self._batch_size:
                continue
            idle = self._idle_interval if published else min(idle * 2, self._max_idle_interval)
            await sleep_or_stop(stop, idle)


class _Outage:
    """Logs a loop's failures while a backend is away (the database restarting, NATS down):
    the first one with its traceback, then one line every ``every`` seconds, and the end."""

    def __init__(self, what: str, every: float = 10.0) -> None:
        self.what = what
        self.every = every
        self.since: float | None = None
        self.last_logged = 0.0
        self.failures = 0

    def failed(self, exc: Exception) -> None:
        now = time.monotonic()
        self.failures += 1
        if self.since is None:
            self.since = self.last_logged = now
            log.exception("%s iteration failed; retrying", self.what)
        elif now - self.last_logged >= self.every:
            self.last_logged = now
            log.warning(
                "%s still failing after %.0fs (%d attempts), retrying: %r",
                self.what,
                now - self.since,
                self.failures,
                exc,
            )

    def ended(self) -> None:
        if self.since is not None:
            log.warning(
                "%s works again after %.1fs (%d failed attempts)",
                self.what,
                time.monotonic() - self.since,
                self.failures,
            )
            self.since, self.failures = None, 0


async def republish(
    sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, *, from_seq: int, to_seq: int
) -> int:
    """Publish rows ``from_seq..to_seq`` again, sent or not (reconcile after a NATS data loss).

    Copies still inside the duplicate window are dropped by the stream; consumers' inboxes make
    any later copy harmless.
    """
    count = 0
    async with transaction(sessions) as session:
        rows = await session.stream_scalars(
            select(OutboxMessage)
            .where(OutboxMessage.seq >= from_seq, OutboxMessage.seq <= to_seq)
            .order_by(OutboxMessage.seq)
        )
        async for row in rows:
            await js.publish(
                row.subject, encode(row.envelope), headers={"Nats-Msg-Id": str(row.event_id)}
            )
            row.sent_at = row.sent_at or datetime.now(UTC)
            count += 1
    return count
