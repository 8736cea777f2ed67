"""``vote-svc`` command line: migrate, relay (outbox), consume (read models), integrity
(signals and retention)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services import ratelimit
from services.cli import service_cli
from services.db import transaction
from services.periodic import periodic
from services.worker import Worker
from vote_svc.bootstrap import VoteContext, bootstrap
from vote_svc.consumers import build_consumers
from vote_svc.integrity import detect

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


async def _integrity_loop(
    ctx: VoteContext,
    sessions: async_sessionmaker[AsyncSession],
    _: JetStreamContext,
    stop: asyncio.Event,
) -> None:
    async def once() -> None:
        async with transaction(sessions) as session:
            signals = await detect.detect(session, ctx)
        async with transaction(sessions) as session:
            expired = await detect.purge(session, ctx)
            counters = await ratelimit.purge(session, ctx.clock.now())
        if signals or expired or counters:
            log.info(
                "integrity: %d new signals, %d expired vote signals, %d idle rate counters",
                signals,
                expired,
                counters,
            )

    await periodic(stop, ctx.settings.integrity_seconds, once, name="integrity")


_main = service_cli(
    prog="vote-svc",
    bootstrap=bootstrap,
    migrations_dir=MIGRATIONS,
    consumers=build_consumers,
    workers={
        "integrity": Worker(
            "compute integrity signals and delete expired vote signals", _integrity_loop
        )
    },
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``vote-svc`` script."""
    return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
