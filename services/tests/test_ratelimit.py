"""Rate limits in PostgreSQL: fixed and sliding windows, refused hits counting nothing, the
caller's transaction owning the hit, and several clients (connection pools, processes) agreeing
on one count."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.migration import MigrationContext
from alembic.operations import Operations
from ratelimit_client import _one
from sqlalchemy import Connection, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from services.clock import ManualClock
from services.db import create_engine, create_sessionmaker, driver_connection, transaction
from services.ratelimit import (
    RateLimited,
    RateLimiter,
    RateRule,
    create_rate_limit_table,
    hit_on_driver,
    purge,
    rate_limits,
)

Sessions = async_sessionmaker[AsyncSession]
#: A whole minute, so that fixed windows of 60 s start exactly here.
T0 = datetime(2026, 11, 3, 9, 0, tzinfo=UTC)
PER_MINUTE = RateRule(limit=3, seconds=60)
PER_DAY = RateRule(limit=5, seconds=86400)


def _create_table(connection: Connection) -> None:
    with Operations.context(MigrationContext.configure(connection)):
        create_rate_limit_table()


@pytest.fixture
async def engine(service_env: dict[str, str]) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(service_env["database_url"])
    async with engine.begin() as connection:
        await connection.run_sync(_create_table)
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> Sessions:
    return create_sessionmaker(engine)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


async def _hit(
    sessions: Sessions,
    limiter: RateLimiter,
    rules: list[RateRule],
    key: str = "citizen-1",
    bucket: str = "comment.post",
) -> int | None:
    """None when accepted, else the Retry-After seconds."""
    refused: RateLimited | None = None
    try:
        async with transaction(sessions) as session:
            await limiter.hit(session, bucket, key, rules)
    except RateLimited as exc:
        refused = exc
    if refused is None:
        return None
    assert (refused.status, refused.slug) == (429, "rate-limited")
    assert refused.headers == {"Retry-After": str(refused.retry_after)}
    return refused.retry_after


async def _counts(sessions: Sessions) -> dict[tuple[str, str, int], tuple[int, int]]:
    async with sessions() as session:
        rows = await session.execute(select(rate_limits))
        return {
            (bucket, key, seconds): (count, previous)
            for bucket, key, seconds, _, count, previous in rows
        }


async def test_a_fixed_window_refuses_past_its_limit_until_it_ends(
    sessions: Sessions, clock: ManualClock
) -> None:
    limiter = RateLimiter(clock)
    clock.advance(seconds=20)
    assert [await _hit(sessions, limiter, [PER_MINUTE]) for _ in range(3)] == [None] * 3
    assert await _hit(sessions, limiter, [PER_MINUTE]) == 40  # the rest of the minute
    clock.advance(seconds=39.5)
    assert await _hit(sessions, limiter, [PER_MINUTE]) == 1  # never 0: "now" is too early
    clock.advance(seconds=0.5)
    assert await _hit(sessions, limiter, [PER_MINUTE]) is None  # a new window
    assert (await _counts(sessions))["comment.post", "citizen-1", 60] == (1, 3)


async def test_a_refused_hit_counts_against_no_rule(sessions: Sessions, clock: ManualClock) -> None:
    limiter = RateLimiter(clock)
    rules = [PER_DAY, PER_MINUTE]
    for _ in range(3):
        assert await _hit(sessions, limiter, rules) is None
    assert await _hit(sessions, limiter, rules) == 60
    clock.advance(minutes=1)
    assert [await _hit(sessions, limiter, rules) for _ in range(2)] == [None, None]
    # The day's five are spent: refused by the daily rule (until midnight UTC, where days of
    # fixed windows start), and the minute's count stays at 2.
    assert await _hit(sessions, limiter, rules) == 86400 - (9 * 3600 + 60)
    counts = await _counts(sessions)
    assert counts["comment.post", "citizen-1", 86400] == (5, 0)
    assert counts["comment.post", "citizen-1", 60] == (2, 3)


async def test_the_hit_belongs_to_the_callers_transaction(
    sessions: Sessions, clock: ManualClock
) -> None:
    limiter = RateLimiter(clock)

    async def fails_after_the_hit() -> None:
        async with transaction(sessions) as session:
            await limiter.hit(session, "comment.post", "citizen-1", [PER_MINUTE])
            raise RuntimeError("the use case failed after the hit")

    with pytest.raises(RuntimeError):
        await fails_after_the_hit()
    assert await _counts(sessions) == {}
    # A caller that commits after a refusal commits no hit either.
    for _ in range(3):
        assert await _hit(sessions, limiter, [PER_MINUTE]) is None
    async with transaction(sessions) as session:
        with pytest.raises(RateLimited):
            await limiter.hit(session, "comment.post", "citizen-1", [PER_MINUTE])
    assert (await _counts(sessions))["comment.post", "citizen-1", 60] == (3, 0)


async def test_keys_and_buckets_are_counted_apart(sessions: Sessions, clock: ManualClock) -> None:
    limiter = RateLimiter(clock)
    for key, bucket in [("a", "comment.post"), ("b", "comment.post"), ("a", "report")]:
        for _ in range(3):
            assert await _hit(sessions, limiter, [PER_MINUTE], key=key, bucket=bucket) is None
        assert await _hit(sessions, limiter, [PER_MINUTE], key=key, bucket=bucket) is not None


async def test_a_sliding_window_weighs_the_previous_one(
    sessions: Sessions, clock: ManualClock
) -> None:
    limiter = RateLimiter(clock)
    rule = RateRule(limit=10, seconds=60, sliding=True)
    clock.advance(seconds=50)
    assert [await _hit(sessions, limiter, [rule]) for _ in range(10)] == [None] * 10
    assert await _hit(sessions, limiter, [rule]) == 16  # 10 s here, 6 s into the next
    # 5 s into the next window 10 * 55/60 of the previous still count: 9.2 + 1 > 10.
    clock.advance(seconds=15)
    wait = await _hit(sessions, limiter, [rule])
    assert wait == 1
    clock.advance(seconds=wait)
    assert await _hit(sessions, limiter, [rule]) is None  # 10 * 54/60 + 1 = 10
    assert await _hit(sessions, limiter, [rule]) == 6  # 10 * 48/60 + 2 = 10
    clock.advance(seconds=6)
    assert await _hit(sessions, limiter, [rule]) is None
    # A fixed window would have allowed 10 more at once across the boundary; this one did not.
    assert (await _counts(sessions))["comment.post", "citizen-1", 60] == (2, 10)


async def test_a_sliding_window_full_of_its_own_hits_waits_for_the_next(
    sessions: Sessions, clock: ManualClock
) -> None:
    limiter = RateLimiter(clock)
    rule = RateRule(limit=4, seconds=60, sliding=True)
    clock.advance(seconds=15)
    assert [await _hit(sessions, limiter, [rule]) for _ in range(4)] == [None] * 4
    # 45 s to the boundary, then a quarter of the window for 4 * (1 - t/60) + 1 <= 4.
    assert await _hit(sessions, limiter, [rule]) == 60
    clock.advance(seconds=59)
    assert await _hit(sessions, limiter, [rule]) == 1
    clock.advance(seconds=1)
    assert await _hit(sessions, limiter, [rule]) is None


async def test_purge_deletes_only_counters_nobody_reads_any_more(
    sessions: Sessions, clock: ManualClock
) -> None:
    limiter = RateLimiter(clock)
    assert await _hit(sessions, limiter, [PER_MINUTE, PER_DAY], key="old") is None
    clock.advance(minutes=2)
    assert await _hit(sessions, limiter, [PER_MINUTE], key="new") is None
    async with transaction(sessions) as session:
        assert await purge(session, clock.now()) == 1
    assert set(await _counts(sessions)) == {
        ("comment.post", "old", 86400),
        ("comment.post", "new", 60),
    }


async def test_rules_are_checked(sessions: Sessions, clock: ManualClock) -> None:
    limiter = RateLimiter(clock)
    async with transaction(sessions) as session:
        with pytest.raises(ValueError, match="distinct windows"):
            await limiter.hit(session, "b", "k", [PER_MINUTE, RateRule(limit=9, seconds=60)])
        with pytest.raises(ValueError, match="never fit"):
            await limiter.hit(session, "b", "k", [PER_MINUTE], cost=4)
        await limiter.hit(session, "b", "k", [])  # no rules, no limit


async def test_two_connection_pools_at_once_agree_on_one_count(
    service_env: dict[str, str], engine: AsyncEngine, clock: ManualClock
) -> None:
    other = create_engine(service_env["database_url"])
    try:
        rule = RateRule(limit=20, seconds=3600)
        limiter = RateLimiter(clock)
        pools = [create_sessionmaker(engine), create_sessionmaker(other)]
        accepted = await asyncio.gather(
            *(_one(pools[i % 2], limiter, "comment.post", "citizen-1", rule) for i in range(50))
        )
        assert sum(accepted) == 20
        assert (await _counts(pools[0]))["comment.post", "citizen-1", 3600] == (20, 0)
    finally:
        await other.dispose()


async def test_two_processes_at_once_agree_on_one_count(
    service_env: dict[str, str], sessions: Sessions, clock: ManualClock
) -> None:
    rule = RateRule(limit=30, seconds=3600)
    script = Path(__file__).with_name("ratelimit_client.py")
    args = [service_env["database_url"], "comment.post", "citizen-1", "30", "3600", "25"]
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        *args,
        clock.now().isoformat(),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 60)).strip() == b"ready"
    proc.stdin.write(b"go\n")
    await proc.stdin.drain()
    limiter = RateLimiter(clock)
    ours = await asyncio.gather(
        *(_one(sessions, limiter, "comment.post", "citizen-1", rule) for _ in range(25))
    )
    output, _ = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, output.decode()
    theirs = int(output.decode().strip().splitlines()[-1])
    assert sum(ours) + theirs == 30, (sum(ours), theirs)
    assert (await _counts(sessions))["comment.post", "citizen-1", 3600] == (30, 0)


async def _driver_hit(
    engine: AsyncEngine, clock: ManualClock, hits: list[tuple[str, str, list[RateRule]]]
) -> int | None:
    """:func:`hit_on_driver` outside any transaction; None when accepted, else Retry-After."""
    refused: RateLimited | None = None
    async with driver_connection(engine) as driver:
        try:
            await hit_on_driver(driver, hits, clock.now())
        except RateLimited as exc:
            refused = exc
    if refused is None:
        return None
    assert refused.headers == {"Retry-After": str(refused.retry_after)}
    return refused.retry_after


async def test_a_driver_hit_counts_every_key_in_one_go_and_a_refusal_takes_all_back(
    engine: AsyncEngine, sessions: Sessions, clock: ManualClock
) -> None:
    clock.advance(seconds=20)
    citizen = ("vote.agree", "citizen:a", [PER_MINUTE, PER_DAY])
    network = ("vote.agree.net", "net:203.0.113.0/24", [RateRule(limit=4, seconds=60)])
    assert [await _driver_hit(engine, clock, [citizen, network]) for _ in range(3)] == [None] * 3
    # The citizen's minute is spent: refused, and neither the citizen's nor the network's
    # counters moved.
    assert await _driver_hit(engine, clock, [citizen, network]) == 40
    counts = await _counts(sessions)
    assert counts["vote.agree", "citizen:a", 60] == (3, 0)
    assert counts["vote.agree.net", "net:203.0.113.0/24", 60] == (3, 0)
    # Another citizen of the same network has one hit left there, then the network refuses.
    other = ("vote.agree", "citizen:b", [PER_MINUTE])
    assert await _driver_hit(engine, clock, [other, network]) is None
    assert await _driver_hit(engine, clock, [other, network]) == 40
    assert (await _counts(sessions))["vote.agree", "citizen:b", 60] == (1, 0)


async def test_a_driver_hit_keeps_the_sessions_windows(
    engine: AsyncEngine, sessions: Sessions, clock: ManualClock
) -> None:
    # The same sliding sequence as through a session (the test above): the same answers.
    rule = RateRule(limit=10, seconds=60, sliding=True)
    hit = [("comment.post", "citizen-1", [rule])]
    clock.advance(seconds=50)
    assert [await _driver_hit(engine, clock, hit) for _ in range(10)] == [None] * 10
    assert await _driver_hit(engine, clock, hit) == 16
    clock.advance(seconds=16)
    assert await _driver_hit(engine, clock, hit) is None
    assert await _driver_hit(engine, clock, hit) == 6
    # And a session's limiter reads the counters the driver wrote.
    assert await _hit(sessions, RateLimiter(clock), [rule]) == 6
