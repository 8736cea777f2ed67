"""Rate limits kept in PostgreSQL, so that every replica of an API counts the same hits.

A limit is a set of :class:`RateRule` s ("5 per minute and 100 per day") applied to a *bucket*
(what is limited: ``"comment.post"``) and a *key* (who: a citizen id). Each rule is one counter
row in the ``rate_limits`` table, keyed by ``(bucket, key, window_seconds)``::

    limiter = RateLimiter(ctx.clock)
    await limiter.hit(session, "comment.post", str(citizen.citizen_id), rules)
    # ... the rest of the use case, in the same transaction

:meth:`RateLimiter.hit` counts one hit against every rule with one atomic upsert-increment each
(``INSERT ... ON CONFLICT DO UPDATE``: the row lock makes concurrent requests of one key, on any
replica, take their turn, and each sees the count the previous one committed), or raises
``ProblemError(429, "rate-limited")`` with ``Retry-After`` (whole seconds until a hit would be
accepted) when a rule is exhausted. A refused hit counts against no rule: the increments it made
are taken back before it raises, whatever the caller then does with its transaction.

The counters belong to the caller's transaction. A request that fails after the hit and rolls
back takes its hit back with it, so only completed actions count; and the counter row of a key
stays locked until that transaction ends, which serialises one key's actions (not different
keys'). Call :meth:`~RateLimiter.hit` before the expensive part of the use case, after the cheap
checks that refuse a request outright.

Windows are *fixed* (the count restarts at every multiple of the window since the Unix epoch:
a day starts at midnight UTC, 09:00 in Seoul) or *sliding* (``sliding=True``: the previous window's count, weighted by how much of it still
overlaps the last ``window`` seconds, plus the current one's; the approximation of a sliding log
that needs two numbers instead of every hit's time). Sliding windows do not let a client spend
twice the limit across a window boundary. Time is the caller's clock (a ``ManualClock`` in
tests); replicas' clocks differ by milliseconds, which moves a boundary by as much.

One row per (bucket, key, rule) is reused window after window, so the table grows with the
number of distinct keys, not with hits; :func:`purge` deletes the rows of keys idle for longer
than their window (run it from a periodic worker if keys are many and short-lived).

A path that runs without a session (vote-svc's agreement hot path) counts with
:func:`hit_on_driver` instead: every (bucket, key, rule) of the request in **one** statement on
an asyncpg connection (autocommit), and one more to take them back if a rule refuses. Between the
two, a concurrent hit of the same key may see the refused one's count for a moment and be refused
too (at the limit only; the count is right again once the take-back commits).

A service creates the table with :func:`create_rate_limit_table` in one of its migrations.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.clock import Clock, SystemClock
from services.problems import PROBLEM_TYPE_BASE, ProblemError

__all__ = [
    "RateLimited",
    "RateLimiter",
    "RateRule",
    "RateRules",
    "citizen_key",
    "create_rate_limit_table",
    "hit_on_driver",
    "network_key",
    "purge",
    "rate_limited_example",
    "rate_limits",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: The counters (Core, not the ORM: no service's models need to know the table).
rate_limits = sa.Table(
    "rate_limits",
    sa.MetaData(),
    sa.Column("bucket", sa.String(100), primary_key=True),
    sa.Column("key", sa.String(200), primary_key=True),
    sa.Column("window_seconds", sa.Integer, primary_key=True),
    sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("previous", sa.Integer, nullable=False),
)


class RateRule(BaseModel):
    """At most ``limit`` hits per ``seconds`` (a fixed window, or a sliding one)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    limit: int = Field(ge=1)
    seconds: int = Field(ge=1, le=366 * 86400)
    sliding: bool = False

    def describe(self) -> str:
        """``"5 per 60 s"``, for problem details."""
        return f"{self.limit} per {self.seconds} s{' (sliding)' if self.sliding else ''}"


def _distinct_windows(rules: list[RateRule]) -> list[RateRule]:
    if len({rule.seconds for rule in rules}) != len(rules):
        raise ValueError("rate rules need distinct windows (seconds)")
    return rules


#: A setting's list of rules (JSON: ``[{"limit": 5, "seconds": 60}]``; ``[]``: no limit),
#: refused at start when two rules share a window.
RateRules = Annotated[list[RateRule], AfterValidator(_distinct_windows)]


def citizen_key(citizen_id: uuid.UUID) -> str:
    """The key of a citizen's counters."""
    return f"citizen:{citizen_id}"


def network_key(network: str) -> str:
    """The key of a client network's counters (services.client: ``"203.0.113.0/24"``)."""
    return f"net:{network}"


def rate_limited_example(
    bucket: str, rule: RateRule, instance: str, retry_after: int = 42
) -> dict[str, Any]:
    """The body of a :class:`RateLimited` answer, for a route's OpenAPI example."""
    return {
        "type": PROBLEM_TYPE_BASE + "rate-limited",
        "title": "Too many requests",
        "status": 429,
        "detail": f"At most {rule.describe()} for {bucket}; try again in {retry_after} s.",
        "instance": instance,
        "request_id": "3f7c1d0e-8a51-4a0e-9a1b-0d7f2b1c9e11",
        "bucket": bucket,
        "limit": rule.limit,
        "window_seconds": rule.seconds,
        "retry_after": retry_after,
    }


class RateLimited(ProblemError):
    """429 ``rate-limited`` with ``Retry-After``; ``rule`` is the exhausted rule."""

    def __init__(self, bucket: str, rule: RateRule, retry_after: int) -> None:
        super().__init__(
            429,
            "rate-limited",
            "Too many requests",
            f"At most {rule.describe()} for {bucket}; try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
            bucket=bucket,
            limit=rule.limit,
            window_seconds=rule.seconds,
            retry_after=retry_after,
        )
        self.rule = rule
        self.retry_after = retry_after


@dataclass(frozen=True)
class _Counter:
    """A rule's row after the increment."""

    window_start: datetime
    count: int
    previous: int


class RateLimiter:
    """Counts hits of (bucket, key) against rules in the caller's transaction (module docstring)."""

    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()

    async def hit(
        self,
        session: AsyncSession,
        bucket: str,
        key: str,
        rules: Sequence[RateRule],
        *,
        cost: int = 1,
    ) -> None:
        """Count ``cost`` hits of ``key`` in ``bucket`` against each of ``rules``, or raise
        :class:`RateLimited` (429, ``Retry-After``) counting none when any rule would be
        exceeded. Rules must have distinct windows, and ``cost`` fit each rule's limit; no
        rules: nothing is limited."""
        if len({rule.seconds for rule in rules}) != len(rules):
            raise ValueError("rate rules of one bucket need distinct windows")
        if any(cost > rule.limit for rule in rules) or cost < 1:
            raise ValueError(f"a hit of cost {cost} can never fit these rules")
        now = self.clock.now()
        counted: list[RateRule] = []
        refusal: RateLimited | None = None
        # Rows are locked in a fixed order (by window), so two hits of one key never deadlock.
        for rule in sorted(rules, key=lambda r: r.seconds):
            counter = await _increment(session, bucket, key, rule, now, cost)
            counted.append(rule)
            retry_after = _retry_after(rule, counter, now, cost)
            if retry_after is not None:
                refusal = RateLimited(bucket, rule, retry_after)
                break
        if refusal is not None:
            for rule in counted:
                await _decrement(session, bucket, key, rule, cost)
            raise refusal


def _window_start(rule: RateRule, now: datetime) -> datetime:
    elapsed = math.floor((now - _EPOCH).total_seconds())
    return _EPOCH + timedelta(seconds=elapsed - elapsed % rule.seconds)


async def _increment(
    session: AsyncSession, bucket: str, key: str, rule: RateRule, now: datetime, cost: int
) -> _Counter:
    start = _window_start(rule, now)
    window = timedelta(seconds=rule.seconds)
    table, new = rate_limits.c, insert(rate_limits).excluded
    same = table.window_start == new.window_start
    follows = table.window_start + window == new.window_start
    statement = (
        insert(rate_limits)
        .values(
            bucket=bucket,
            key=key,
            window_seconds=rule.seconds,
            window_start=start,
            count=cost,
            previous=0,
        )
        .on_conflict_do_update(
            index_elements=[table.bucket, table.key, table.window_seconds],
            set_={
                # The same window counts on; the next one keeps this one's count as the
                # previous (for sliding windows); after a gap both start again.
                "count": sa.case((same, table.count + new.count), else_=new.count),
                "previous": sa.case((same, table.previous), (follows, table.count), else_=0),
                "window_start": new.window_start,
            },
        )
        .returning(table.window_start, table.count, table.previous)
    )
    window_start, count, previous = (await session.execute(statement)).one()
    return _Counter(window_start=window_start, count=count, previous=previous)


async def _decrement(
    session: AsyncSession, bucket: str, key: str, rule: RateRule, cost: int
) -> None:
    table = rate_limits.c
    await session.execute(
        sa.update(rate_limits)
        .where(table.bucket == bucket, table.key == key, table.window_seconds == rule.seconds)
        .values(count=sa.func.greatest(table.count - cost, 0))
    )


def _retry_after(rule: RateRule, counter: _Counter, now: datetime, cost: int) -> int | None:
    """None when the hit that made ``counter`` fits the rule, else the seconds to wait."""
    window, limit = float(rule.seconds), rule.limit
    elapsed = (now - counter.window_start).total_seconds()
    previous = counter.previous if rule.sliding else 0
    # The estimate previous * (1 - elapsed / window) + count <= limit, multiplied out by the
    # window so that whole numbers compare exactly.
    if previous * (window - elapsed) + counter.count * window <= limit * window:
        return None
    before = counter.count - cost  # the current window's count without this hit
    if not rule.sliding:
        wait = window - elapsed
    elif before + cost <= limit:
        # Within this window, once enough of the previous one has slid out:
        # previous * (1 - (elapsed + t) / window) + before + cost <= limit.
        wait = window * (previous - (limit - before - cost)) / previous - elapsed
    else:
        # Only in the next window, once enough of this one has slid out:
        # before * (1 - t / window) + cost <= limit, t counted from the boundary.
        wait = window - elapsed + window * (before - (limit - cost)) / before
    return max(1, math.ceil(wait))


#: Every counter of a request, incremented in one statement (the arrays are zipped by unnest).
_DRIVER_HIT_SQL = """
INSERT INTO rate_limits AS r (bucket, key, window_seconds, window_start, count, previous)
SELECT u.bucket, u.key, u.window_seconds, u.window_start, $5::int, 0
FROM unnest($1::text[], $2::text[], $3::int[], $4::timestamptz[])
     AS u (bucket, key, window_seconds, window_start)
ORDER BY u.bucket, u.key, u.window_seconds
ON CONFLICT (bucket, key, window_seconds) DO UPDATE
SET count = CASE WHEN r.window_start = excluded.window_start
                 THEN r.count + excluded.count ELSE excluded.count END,
    previous = CASE WHEN r.window_start = excluded.window_start THEN r.previous
                    WHEN r.window_start + make_interval(secs => r.window_seconds)
                         = excluded.window_start THEN r.count
                    ELSE 0 END,
    window_start = excluded.window_start
RETURNING r.bucket, r.key, r.window_seconds, r.window_start, r.count, r.previous
"""

_DRIVER_UNDO_SQL = """
UPDATE rate_limits AS r SET count = greatest(r.count - $4::int, 0)
FROM unnest($1::text[], $2::text[], $3::int[]) AS u (bucket, key, window_seconds)
WHERE r.bucket = u.bucket AND r.key = u.key AND r.window_seconds = u.window_seconds
"""


async def hit_on_driver(
    driver: Any,
    hits: Sequence[tuple[str, str, Sequence[RateRule]]],
    now: datetime,
    *,
    cost: int = 1,
) -> None:
    """Count ``cost`` hits of each ``(bucket, key, rules)`` on an asyncpg connection outside a
    transaction, in one statement; or take them all back and raise :class:`RateLimited` for
    the first exhausted rule (by bucket, key, window). Same rules as :meth:`RateLimiter.hit`."""
    rules_of: dict[tuple[str, str, int], RateRule] = {}
    for bucket, key, rules in hits:
        if len({rule.seconds for rule in rules}) != len(rules):
            raise ValueError("rate rules of one bucket need distinct windows")
        for rule in rules:
            if cost > rule.limit or cost < 1:
                raise ValueError(f"a hit of cost {cost} can never fit these rules")
            rules_of[(bucket, key, rule.seconds)] = rule
    if not rules_of:
        return
    names = sorted(rules_of)
    buckets, keys, windows = ([n[i] for n in names] for i in range(3))
    starts = [_window_start(rules_of[n], now) for n in names]
    rows = await driver.fetch(_DRIVER_HIT_SQL, buckets, keys, windows, starts, cost)
    refusal: RateLimited | None = None
    for bucket, key, seconds, window_start, count, previous in sorted(tuple(r) for r in rows):
        rule = rules_of[(bucket, key, seconds)]
        retry_after = _retry_after(rule, _Counter(window_start, count, previous), now, cost)
        if retry_after is not None:
            refusal = RateLimited(bucket, rule, retry_after)
            break
    if refusal is not None:
        await driver.execute(_DRIVER_UNDO_SQL, buckets, keys, windows, cost)
        raise refusal


async def purge(session: AsyncSession, now: datetime) -> int:
    """Delete counters whose window and the one after it have ended before ``now`` (they hold
    nothing a fixed or sliding rule still reads); the number of rows deleted."""
    table = rate_limits.c
    ended = table.window_start + sa.func.make_interval(0, 0, 0, 0, 0, 0, table.window_seconds * 2)
    result = await session.execute(sa.delete(rate_limits).where(ended <= now))
    return int(getattr(result, "rowcount", 0) or 0)


def create_rate_limit_table(*, unlogged: bool = False) -> None:
    """Create the ``rate_limits`` table (call from a service's migration, like
    :func:`services.migrations.create_outbox_and_inbox`). ``unlogged``: an UNLOGGED table, whose
    writes skip the WAL, so a transaction that touches only it commits without a WAL flush; a
    crash (or a failover to a standby) empties it, which only forgets recent hits. For a path
    that counts in a transaction of its own (:func:`hit_on_driver` before a hot statement)."""
    from alembic import op as alembic_op

    alembic_op.create_table(
        "rate_limits",
        sa.Column("bucket", sa.String(100), nullable=False),
        sa.Column("key", sa.String(200), nullable=False),
        sa.Column("window_seconds", sa.Integer(), nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("previous", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket", "key", "window_seconds", name="pk_rate_limits"),
        prefixes=["UNLOGGED"] if unlogged else [],
    )
