"""The consumer of ``vote.cast``: the shared runner (``services.consumer``) in batch mode. Up to
``LEDGER_BATCH_MAX`` records, or what arrives within ``LEDGER_BATCH_MS`` of the first, make one
fetch, and :func:`append_records` appends them as one batch in the transaction that also records
their inbox rows; then they are acked. Killed before the commit, nothing of the batch remains and
the messages come back; killed after it, the redelivered messages find their inbox rows and are
acked without being appended again.

When the backend cannot be reached (Fabric peers down), :class:`BackendUnavailable` (a
``services.consumer.Unavailable``) rolls the batch back and the runner pauses, retrying the same
messages with a growing delay: votes queue in the stream and are anchored once the backend
returns, and these attempts do not count towards the redelivery bound. Any other failure of a
batch is retried one event per transaction, so that the good votes are appended and the one
that fails every time goes to ``deadletter.ledger-svc-records.vote.cast.v1`` after the runner's
bounded redeliveries, like every other consumer's."""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ledger_svc import ledger
from ledger_svc.bootstrap import LedgerContext
from services.canonical import InvalidRecord
from services.consumer import BatchHandler, ConsumerRunner, Delivered
from services.events import VoteCast

log = logging.getLogger(__name__)

CONSUMER = "ledger-svc-records"


def _check_records(events: Sequence[VoteCast]) -> None:
    """Raise InvalidRecord when an event's record is not canonical or not the event's."""
    invalid: list[str] = []
    for event in events:
        try:
            ledger.record_of(event)
        except InvalidRecord as exc:
            invalid.append(f"{event.vote_id}: {exc}")
    if invalid:
        raise InvalidRecord(f"vote.cast with an invalid record: {'; '.join(invalid)}")


async def append_records(
    ctx: LedgerContext, session: AsyncSession, batch: Sequence[Delivered[VoteCast]]
) -> None:
    """Append the batch's records as one ledger batch.

    An invalid record fails the batch *before* anything is anchored (the Fabric backend would
    otherwise commit a transaction that this rollback cannot take back); the runner then takes
    the events one at a time, so the valid ones are appended and the invalid one is kept in the
    dead-letter stream for an operator, instead of being dropped with a log line."""
    events = [d.event for d in batch]
    _check_records(events)
    result = await ledger.append(session, ctx, events)
    if result.duplicates:
        log.warning(
            "ledger: refused %d duplicate (target, voter_tag) records", len(result.duplicates)
        )


def records_consumer(
    ctx: LedgerContext,
    sessions: async_sessionmaker[AsyncSession],
    js: JetStreamContext,
    **tuning: Any,
) -> ConsumerRunner:
    """The consumer of ``vote.cast`` as ``ledger-svc consume`` runs it; ``tuning`` passes further
    :class:`ConsumerRunner` options (tests shorten ``backoff``)."""
    settings = ctx.settings
    return ConsumerRunner(
        name=CONSUMER,
        stream="VOTE",
        sessions=sessions,
        js=js,
        batch=BatchHandler(VoteCast, functools.partial(append_records, ctx)),
        batch_size=settings.batch_max,
        collect_ms=settings.batch_ms,
        # Unacked at once: the batch in hand plus the messages waiting out a retry delay.
        max_ack_pending=20_000,
        **tuning,
    )


def consumers(
    ctx: LedgerContext, sessions: async_sessionmaker[AsyncSession], js: JetStreamContext
) -> Sequence[ConsumerRunner]:
    """The consumers ``ledger-svc consume`` runs."""
    return [records_consumer(ctx, sessions, js)]
