"""A worker process for test_worker.py: ``run_worker`` with a body that says when it runs.

Usage: python worker_waits.py DATABASE_URL NATS_URL
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.bootstrap import ServiceContext
from services.clock import SystemClock
from services.config import ServiceSettings
from services.worker import run_worker


async def body(
    ctx: ServiceContext[Any],
    sessions: async_sessionmaker[AsyncSession],
    js: JetStreamContext,
    stop: asyncio.Event,
) -> None:
    info = await js.stream_info("VOTE")  # the streams exist by now
    print(f"body running; stream {info.config.name}", flush=True)  # noqa: T201
    await stop.wait()
    print("body stopping", flush=True)  # noqa: T201


if __name__ == "__main__":
    settings = ServiceSettings(
        service_name="probe-svc", database_url=sys.argv[1], nats_url=sys.argv[2]
    )
    asyncio.run(run_worker(ServiceContext(settings, SystemClock()), role="probe", body=body))
