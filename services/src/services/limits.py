"""A bound on the requests an API serves at once, so that overload is answered, not queued.

Without it, an API offered more than it can serve keeps accepting: every request waits for a
pooled database connection (up to the pool's 30 s timeout), latency grows without bound, and
clients retry into the queue. :class:`InFlightLimitMiddleware` lets ``limit`` requests in at
once (by default the database pool's size: an admitted request finds a free connection); the
next ones wait up to ``max_wait`` seconds for a slot, first come first served, and are then
answered ``503`` ``overloaded`` (problem+json) with ``Retry-After``, before their body is read or
their token verified, which costs next to nothing. Health and metrics endpoints are exempt:
probes must not fail because the API is busy.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from prometheus_client import Counter
from starlette.types import ASGIApp, Receive, Scope, Send

from services.problems import problem_response

#: Paths never counted nor refused (operations endpoints of services.app).
EXEMPT_PATHS: frozenset[str] = frozenset({"/healthz", "/readyz", "/metrics"})

REQUESTS_SHED = Counter(
    "http_requests_shed_total", "Requests answered 503 because too many were in flight"
)


class InFlightLimitMiddleware:
    """At most ``limit`` requests in flight (0: no limit); others wait up to ``max_wait``
    seconds for a slot, then get 503 with ``Retry-After: retry_after``."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        limit: int,
        max_wait: float = 2.0,
        retry_after: int = 1,
        exempt: Collection[str] = EXEMPT_PATHS,
    ) -> None:
        self.app = app
        self.limit = limit
        self.max_wait = max_wait
        self.retry_after = retry_after
        self.exempt = frozenset(exempt)
        #: Requests being served (admitted and not finished).
        self.in_flight = 0
        # asyncio.Semaphore is first come, first served, and passes a slot on when a woken
        # waiter is cancelled, so a waiter that gives up never loses one.
        self._slots = asyncio.Semaphore(max(limit, 1))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0 or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if not await self._admit():
            REQUESTS_SHED.inc()
            response = problem_response(
                scope.get("path"),
                503,
                "overloaded",
                "Service overloaded",
                "Too many requests are in progress; try again shortly.",
                headers={"Retry-After": str(self.retry_after)},
            )
            await response(scope, receive, send)
            return
        self.in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.in_flight -= 1
            self._slots.release()

    async def _admit(self) -> bool:
        """Take a slot, waiting up to ``max_wait`` for one; False when none came in time."""
        if not self._slots.locked():
            await self._slots.acquire()  # returns at once
            return True
        if self.max_wait <= 0:
            return False
        try:
            async with asyncio.timeout(self.max_wait):
                await self._slots.acquire()
        except TimeoutError:
            return False
        return True
