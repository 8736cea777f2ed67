"""A second process hitting a rate limit at the same time as the test (used by test_ratelimit.py).

Usage: python ratelimit_client.py DATABASE_URL BUCKET KEY LIMIT SECONDS HITS NOW_ISO

Prints ``ready`` once its connections are open, waits for a line on stdin, sends HITS hits at
once (each in a transaction of its own, like requests), and prints how many were accepted.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.clock import ManualClock
from services.db import create_engine, create_sessionmaker, transaction
from services.ratelimit import RateLimited, RateLimiter, RateRule


async def _one(
    sessions: async_sessionmaker[AsyncSession],
    limiter: RateLimiter,
    bucket: str,
    key: str,
    rule: RateRule,
) -> bool:
    try:
        async with transaction(sessions) as session:
            await limiter.hit(session, bucket, key, [rule])
    except RateLimited:
        return False
    return True


async def main(argv: list[str]) -> None:
    url, bucket, key, limit, seconds, hits, now = argv
    engine = create_engine(url, pool_size=int(hits))
    sessions = create_sessionmaker(engine)
    # Open every pooled connection before the start signal, so the hits really overlap.
    connections = [await engine.connect() for _ in range(int(hits))]
    for connection in connections:
        await connection.execute(text("SELECT 1"))
        await connection.close()
    limiter = RateLimiter(ManualClock(datetime.fromisoformat(now)))
    rule = RateRule(limit=int(limit), seconds=int(seconds))
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    accepted = await asyncio.gather(
        *(_one(sessions, limiter, bucket, key, rule) for _ in range(int(hits)))
    )
    sys.stdout.write(f"{sum(accepted)}\n")
    await engine.dispose()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
