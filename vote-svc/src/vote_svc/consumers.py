"""Event handlers of vote-svc, each idempotent through the inbox of its ConsumerRunner.

They keep two read models: which targets accept votes (``proposal.opened/closed``,
``forum.opened/closed`` on the PROPOSAL stream) and which citizens are suspended
(``identity.citizen_suspended/citizen_reinstated`` on the IDENTITY stream). Events are applied
by the CloudEvents ``time`` at which their publisher staged them, not by arrival order, so a
redelivered or overtaken event never undoes a newer one.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from typing import Any, Final

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.consumer import ConsumerRunner, Handler
from services.events import (
    CitizenReinstated,
    CitizenSuspended,
    CloudEvent,
    Event,
    ForumClosed,
    ForumOpened,
    ProposalClosed,
    ProposalOpened,
)
from vote_svc import service

#: Durable consumer names (also the inbox's ``consumer`` column).
TARGETS_CONSUMER: Final = "vote-svc-targets"
SUSPENSIONS_CONSUMER: Final = "vote-svc-suspensions"


async def on_proposal_opened(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
    """A proposal accepts agreements from ``opened_at`` until ``closes_at``."""
    assert isinstance(event, ProposalOpened)
    await service.target_opened(
        session,
        "proposal",
        event.proposal_id,
        opens_at=event.opened_at,
        closes_at=event.closes_at,
        options=None,
        event_time=envelope.time,
    )


async def on_proposal_closed(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
    """A proposal stopped accepting agreements (period over, withdrawn, hidden, ...)."""
    assert isinstance(event, ProposalClosed)
    await service.target_closed(
        session, "proposal", event.proposal_id, status=event.status, event_time=envelope.time
    )


async def on_forum_opened(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
    """A forum takes ballots for its options from ``opens_at`` until ``closes_at``."""
    assert isinstance(event, ForumOpened)
    # Ballots are compared in NFC; keep the options the same way, in order, without repeats.
    options = list(dict.fromkeys(unicodedata.normalize("NFC", o) for o in event.options))
    await service.target_opened(
        session,
        "forum",
        event.forum_id,
        opens_at=event.opens_at,
        closes_at=event.closes_at,
        options=options,
        event_time=envelope.time,
    )


async def on_forum_closed(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
    """A forum closed."""
    assert isinstance(event, ForumClosed)
    await service.target_closed(
        session, "forum", event.forum_id, status="closed", event_time=envelope.time
    )


async def on_citizen_suspended(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
    """A suspended citizen cannot vote (their access token may still be valid for minutes)."""
    assert isinstance(event, CitizenSuspended)
    await service.set_suspension(
        session, event.citizen_id, suspended=True, reason=event.reason, event_time=envelope.time
    )


async def on_citizen_reinstated(session: AsyncSession, event: Event, envelope: CloudEvent) -> None:
    """A reinstated citizen can vote again."""
    assert isinstance(event, CitizenReinstated)
    await service.set_suspension(
        session, event.citizen_id, suspended=False, reason=None, event_time=envelope.time
    )


TARGET_HANDLERS: Final[dict[type[Event], Handler[Any]]] = {
    ProposalOpened: on_proposal_opened,
    ProposalClosed: on_proposal_closed,
    ForumOpened: on_forum_opened,
    ForumClosed: on_forum_closed,
}
SUSPENSION_HANDLERS: Final[dict[type[Event], Handler[Any]]] = {
    CitizenSuspended: on_citizen_suspended,
    CitizenReinstated: on_citizen_reinstated,
}


def build_consumers(
    sessions: async_sessionmaker[AsyncSession], js: JetStreamContext
) -> Sequence[ConsumerRunner]:
    """The consumers ``vote-svc consume`` runs."""
    return [
        ConsumerRunner(
            name=TARGETS_CONSUMER,
            stream="PROPOSAL",
            handlers=TARGET_HANDLERS,
            sessions=sessions,
            js=js,
        ),
        ConsumerRunner(
            name=SUSPENSIONS_CONSUMER,
            stream="IDENTITY",
            handlers=SUSPENSION_HANDLERS,
            sessions=sessions,
            js=js,
        ),
    ]
