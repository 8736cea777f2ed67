"""Running a service's workers (outbox relay, consumers, periodic jobs) as long-lived processes."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from nats.aio.client import Client as NATS
from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import nats as nats_mod
from services.bootstrap import ServiceContext
from services.consumer import ConsumerRunner
from services.db import create_engine, create_sessionmaker
from services.observability import configure_logging
from services.outbox import OutboxRelay
from services.periodic import sleep_or_stop

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


async def retry_until_stopped(
    stop: asyncio.Event,
    what: str,
    attempt: Callable[[], Awaitable[object]],
    *,
    delay: float = 0.5,
    max_delay: float = 5.0,
) -> bool:
    """Run ``attempt`` until it succeeds, waiting ``delay`` (doubling up to ``max_delay``)
    between failures; False when ``stop`` was set first. For a worker's start-up steps: NATS or
    the database may be restarting while the worker starts, and it should wait, not exit."""
    failures = 0
    while not stop.is_set():
        try:
            await attempt()
            if failures:
                log.warning("%s: succeeded after %d failed attempts", what, failures)
            return True
        except Exception as exc:
            failures += 1
            if failures == 1 or failures % 10 == 0:
                log.warning("%s failed (attempt %d), retrying: %r", what, failures, exc)
            if await sleep_or_stop(stop, min(delay * 2 ** (failures - 1), max_delay)):
                break
    return False


async def _connect_or_stop(url: str, name: str, stop: asyncio.Event) -> NATS | None:
    """Connect to NATS, waiting for the server as long as it takes; None when stopped first."""
    connecting = asyncio.create_task(nats_mod.connect(url, name=name))
    stopping = asyncio.create_task(stop.wait())
    try:
        either = {connecting, stopping}
        done, _ = await asyncio.wait(either, timeout=2.0, return_when=asyncio.FIRST_COMPLETED)
        if not done:
            log.warning("waiting for NATS at %s", url)
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        return connecting.result() if connecting.done() else None
    finally:
        for task in (connecting, stopping):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


async def run_worker(ctx: C, *, role: str, body: WorkerBody[C]) -> None:
    """Connect DB and NATS, make sure the streams exist, run ``body`` until SIGINT/SIGTERM.

    A database or NATS outage does not end the worker: it waits for NATS at start, the client
    reconnects forever, the pool reconnects (pre-ping), and the relay and consumer loops retry.
    """
    settings = ctx.settings
    configure_logging(settings.log_level, service=settings.service_name)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    engine = create_engine(settings.database_url, pool_size=5, max_overflow=5)
    sessions = create_sessionmaker(engine)
    name = f"{settings.service_name}-{role}"
    nc = await _connect_or_stop(settings.nats_url, name, stop)
    try:
        if nc is None:
            return
        js = nc.jetstream()
        streams = functools.partial(
            nats_mod.ensure_streams, js, replicas=settings.nats_stream_replicas
        )
        if not await retry_until_stopped(stop, "creating the streams", streams):
            return
        log.info("%s %s started", settings.service_name, role)
        await body(ctx, sessions, js, stop)
    finally:
        # Close rather than drain: every publish was already acknowledged, and draining waits
        # on the pull subscriptions' pending fetches (up to its 30 s timeout).
        if nc is not None:
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
            # JetStream answers once NATS is back; until then keep trying, do not exit.
            if not await retry_until_stopped(stop, f"consumer {runner.name}: setup", runner.setup):
                return
        await asyncio.gather(*(runner.run(stop) for runner in runners))

    return body
