"""Running a service's workers (outbox relay, consumers, periodic jobs) as long-lived processes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import nats as nats_mod
from services.bootstrap import ServiceContext
from services.consumer import ConsumerRunner
from services.db import create_engine, create_sessionmaker
from services.observability import configure_logging
from services.outbox import OutboxRelay

log = logging.getLogger(__name__)

C = TypeVar("C", bound=ServiceContext[Any])

#: The body of a worker process: runs until ``stop`` is set.
WorkerBody = Callable[
    [C, async_sessionmaker[AsyncSession], JetStreamContext, asyncio.Event], Awaitable[None]
]
#: Builds the consumers of a service once the DB and NATS are connected.
ConsumerFactory = Callable[
    [C, async_sessionmaker[AsyncSession], JetStreamContext], Sequence[ConsumerRunner]
]


@dataclass(frozen=True)
class Worker(Generic[C]):
    """A long-lived process of a service, run as ``<svc> <name>``."""

    help: str
    body: WorkerBody[C]


async def run_worker(ctx: C, *, role: str, body: WorkerBody[C]) -> None:
    """Connect DB and NATS, make sure the streams exist, run ``body`` until SIGINT/SIGTERM."""
    settings = ctx.settings
    configure_logging(settings.log_level, service=settings.service_name)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    engine = create_engine(settings.database_url, pool_size=5, max_overflow=5)
    sessions = create_sessionmaker(engine)
    nc = await nats_mod.connect(settings.nats_url, name=f"{settings.service_name}-{role}")
    try:
        js = nc.jetstream()
        await nats_mod.ensure_streams(js, replicas=settings.nats_stream_replicas)
        log.info("%s %s started", settings.service_name, role)
        await body(ctx, sessions, js, stop)
    finally:
        # Close rather than drain: every publish was already acknowledged, and draining waits
        # on the pull subscriptions' pending fetches (up to its 30 s timeout).
        with contextlib.suppress(Exception):
            await asyncio.wait_for(nc.close(), timeout=5.0)
        await engine.dispose()
        log.info("%s %s stopped", settings.service_name, role)


async def relay_body(
    ctx: ServiceContext[Any],
    sessions: async_sessionmaker[AsyncSession],
    js: JetStreamContext,
    stop: asyncio.Event,
) -> None:
    """The outbox relay process."""
    await OutboxRelay(sessions, js).run(stop)


def consumers_body(factory: ConsumerFactory[C]) -> WorkerBody[C]:
    """A process that runs every consumer ``factory`` builds, concurrently."""

    async def body(
        ctx: C,
        sessions: async_sessionmaker[AsyncSession],
        js: JetStreamContext,
        stop: asyncio.Event,
    ) -> None:
        runners = factory(ctx, sessions, js)
        for runner in runners:
            await runner.setup()
        await asyncio.gather(*(runner.run(stop) for runner in runners))

    return body
