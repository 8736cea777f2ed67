"""Read-your-writes for new targets: what vote-svc does with a vote on a proposal or forum it has
not heard of yet (docs/votes.md "A target vote-svc has not heard of yet").

vote-svc learns of targets from proposal-svc's ``proposal.opened/closed`` and
``forum.opened/closed`` events, which arrive a few milliseconds to seconds after the target was
created. A vote in between finds no row in ``targets``; instead of refusing it with 404, the hot
path asks proposal-svc (``GET /internal/v1/targets/{proposals,forums}/{id}``, signed as vote-svc
with ``services.internal_auth``), fills the read model with the same fields the events carry, and
casts again. The fill goes through the same versioned upserts as the events
(``service.read_models``): the answer's ``opened_at`` / ``closed_at`` are at or before the times
of the events that announce them, so the event arriving later writes the same values again, and
an event older than the state the answer showed changes nothing.

Only misses take this path (the hit case is still the one statement), and concurrent misses on
one target share one request (:class:`TargetLearner`). A genuinely unknown id still answers 404.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import httpx
from prometheus_client import Counter
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.canonical import TargetType
from services.clock import Clock
from services.db import transaction
from services.internal_auth import ServiceAuth
from vote_svc.service import read_models

log = logging.getLogger(__name__)

#: The name vote-svc signs as; proposal-svc allows it on ``/internal/v1/targets/*``.
CALLER = "vote-svc"

LOOKUPS = Counter(
    "vote_target_lookups_total",
    "Targets asked of proposal-svc because a vote found none, by outcome",
    ["target_type", "outcome"],
)


class TargetSourceUnavailable(Exception):
    """proposal-svc could not answer now (network, timeout, 5xx, or our signature refused)."""


@dataclass(frozen=True)
class TargetSnapshot:
    """A target as proposal-svc states it now (its ``VoteTargetInternal``)."""

    target_type: TargetType
    target_id: uuid.UUID
    opens_at: datetime
    closes_at: datetime
    options: list[str] | None
    #: When it opened (None: never, e.g. a scheduled forum) and closed (None: still open).
    opened_at: datetime | None
    closed_at: datetime | None
    closed_status: str | None


class TargetSource(Protocol):
    """Where vote-svc asks about a target it has not heard of."""

    async def target(self, target_type: TargetType, target_id: uuid.UUID) -> TargetSnapshot | None:
        """The target, or None when the source does not know it."""
        ...

    async def aclose(self) -> None: ...


class HttpTargetSource:
    """proposal-svc's internal endpoints over HTTP, every request signed as vote-svc."""

    def __init__(
        self,
        *,
        proposal_url: str,
        key: bytes,
        timeout: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``transport`` replaces the network (tests serve a stand-in in-process)."""
        self._client = httpx.AsyncClient(
            base_url=proposal_url.rstrip("/"),
            auth=ServiceAuth(CALLER, key),
            timeout=timeout,
            trust_env=False,
            transport=transport,
        )

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.aclose()

    async def target(self, target_type: TargetType, target_id: uuid.UUID) -> TargetSnapshot | None:
        """``GET /internal/v1/targets/{proposals|forums}/{id}``; None on 404."""
        path = f"/internal/v1/targets/{target_type}s/{target_id}"
        try:
            response = await self._client.get(path)
        except httpx.HTTPError as exc:
            raise TargetSourceUnavailable(f"{path}: {type(exc).__name__}") from None
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise TargetSourceUnavailable(f"{path} answered {response.status_code}")
        try:
            body = response.json()
            return _snapshot(target_type, target_id, body)
        except (ValueError, KeyError, TypeError) as exc:
            raise TargetSourceUnavailable(f"{path}: unexpected answer ({exc!r})") from None


def _time(value: object) -> datetime | None:
    return None if value is None else datetime.fromisoformat(str(value))


def _snapshot(
    target_type: TargetType, target_id: uuid.UUID, body: dict[str, object]
) -> TargetSnapshot:
    if body["target_type"] != target_type or uuid.UUID(str(body["target_id"])) != target_id:
        raise ValueError("the answer is about another target")
    opens_at, closes_at = _time(body["opens_at"]), _time(body["closes_at"])
    if opens_at is None or closes_at is None:
        raise ValueError("opens_at and closes_at are required")
    options = body["options"]
    return TargetSnapshot(
        target_type=target_type,
        target_id=target_id,
        opens_at=opens_at,
        closes_at=closes_at,
        options=[str(o) for o in options] if isinstance(options, list) else None,
        opened_at=_time(body["opened_at"]),
        closed_at=_time(body["closed_at"]),
        closed_status=str(body["closed_status"]) if body["closed_status"] is not None else None,
    )


class TargetLearner:
    """Asks the source about unknown targets and fills the read model; one request at a time
    per target in this process (concurrent misses wait for the same answer).

    A miss that reaches :meth:`learn` just after the shared lookup finished (its statement and
    its refusal's explanation read the database before the fill committed) finds the target in
    the learner's memory of recent fills and is told to cast again, instead of asking again.
    """

    #: How many filled targets the learner remembers (the oldest are forgotten first).
    REMEMBERED = 4096

    def __init__(self, source: TargetSource, clock: Clock) -> None:
        self.source = source
        self._clock = clock
        self._inflight: dict[tuple[str, uuid.UUID], asyncio.Future[bool]] = {}
        self._filled: OrderedDict[tuple[str, uuid.UUID], None] = OrderedDict()

    async def learn(
        self,
        sessions: async_sessionmaker[AsyncSession],
        target_type: TargetType,
        target_id: uuid.UUID,
    ) -> bool:
        """Whether the target is known now (filled into ``targets``); False when the source does
        not know it or it never opened. ``TargetSourceUnavailable`` when the source is down."""
        key = (target_type, target_id)
        if key in self._filled:
            # Filled already in this process; the caller's miss raced the fill.
            return True
        pending = self._inflight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            known = await self._learn(sessions, target_type, target_id)
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody else needs to
            raise
        except BaseException:
            # The asking request was cancelled (its client went away): the waiters answer 503.
            future.set_exception(TargetSourceUnavailable("the lookup was cancelled"))
            future.exception()
            raise
        else:
            if known:
                self._filled[key] = None
                while len(self._filled) > self.REMEMBERED:
                    self._filled.popitem(last=False)
            future.set_result(known)
            return known
        finally:
            del self._inflight[key]

    async def _learn(
        self,
        sessions: async_sessionmaker[AsyncSession],
        target_type: TargetType,
        target_id: uuid.UUID,
    ) -> bool:
        try:
            snapshot = await self.source.target(target_type, target_id)
        except TargetSourceUnavailable as exc:
            LOOKUPS.labels(target_type, "unavailable").inc()
            log.warning("target lookup failed: %s", exc)
            raise
        if snapshot is None or snapshot.opened_at is None:
            LOOKUPS.labels(target_type, "unknown" if snapshot is None else "not-opened").inc()
            return False
        async with transaction(sessions) as session:
            await read_models.fill_target(
                session,
                target_type,
                target_id,
                opens_at=snapshot.opens_at,
                closes_at=snapshot.closes_at,
                options=snapshot.options,
                opened_at=snapshot.opened_at,
                closed_at=snapshot.closed_at,
                closed_status=snapshot.closed_status,
                now=self._clock.now(),
            )
        LOOKUPS.labels(target_type, "filled").inc()
        return True
