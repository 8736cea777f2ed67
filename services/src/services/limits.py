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
from collections import deque
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
        self.in_flight = 0
        #: Requests waiting for a slot, oldest first; a finishing request hands its slot over.
        self._waiters: deque[asyncio.Future[None]] = deque()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.limit <= 0 or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        if self.in_flight < self.limit:
            self.in_flight += 1
        elif not await self._wait_for_slot():
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
        try:
            await self.app(scope, receive, send)
        finally:
            self._release()

    async def _wait_for_slot(self) -> bool:
        """Queue for a slot; True once one was handed over, False after ``max_wait``."""
        if self.max_wait <= 0:
            return False
        slot: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(slot)
        try:
            async with asyncio.timeout(self.max_wait):
                await slot
            return True
        except BaseException as exc:
            # Timed out or cancelled; if the slot was handed over at that very moment, it is
            # ours: pass it on rather than lose it.
            if slot.done() and not slot.cancelled():
                self._release()
            if isinstance(exc, TimeoutError):
                return False
            raise
        finally:
            if not slot.done() or slot.cancelled():
                try:
                    self._waiters.remove(slot)
                except ValueError:
                    pass

    def _release(self) -> None:
        """Hand the slot to the oldest waiter still waiting, or free it."""
        while self._waiters:
            slot = self._waiters.popleft()
            if not slot.done():
                slot.set_result(None)
                return
        self.in_flight -= 1
