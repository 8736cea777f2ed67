"""Run the outbox relay once and SIGKILL it at a chosen point (used by test_outbox.py).

Usage: python relay_crash.py DATABASE_URL NATS_URL before_publish|after_publish
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Sequence

from services import nats as nats_mod
from services.db import create_engine, create_sessionmaker
from services.nats import StreamSpec
from services.outbox import OutboxMessage, OutboxRelay


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


async def main(database_url: str, nats_url: str, point: str) -> None:
    async def on_claimed(_rows: Sequence[OutboxMessage]) -> None:
        if point == "before_publish":
            _die()

    async def on_published(_row: OutboxMessage) -> None:
        if point == "after_publish":
            _die()

    engine = create_engine(database_url)
    nc = await nats_mod.connect(nats_url, name="relay-crash")
    js = nc.jetstream()
    await nats_mod.ensure_streams(js, (StreamSpec("SAMPLE", ("sample.>",)),))
    relay = OutboxRelay(
        create_sessionmaker(engine), js, on_claimed=on_claimed, on_published=on_published
    )
    await relay.relay_once()
    raise SystemExit("the crash point was never reached")


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
