"""Per-provider rate limiting: an async token bucket with an injectable clock.

The providers publish batch caps but no per-second figures (docs/notifications-providers.md),
so each provider gets a configurable bucket: ``rate`` tokens per second refill a bucket of
``burst`` tokens; a send takes one (a bulk request too, whatever its number of messages). Callers that find the bucket empty wait, in arrival order,
for exactly as long as the refill takes. Provider 429 answers are handled by the retry policy
on top of this (the bucket only keeps us from causing them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Protocol, cast

from notify_svc.providers.base import (
    BulkProvider,
    Channel,
    DeliveryReport,
    NotifyProvider,
    OutboundMessage,
    SendResult,
    batch_capacity,
)


class Clock(Protocol):
    """Where the bucket reads time and waits (tests pass a fake one)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""
        ...


class SystemClock:
    """The real clock: :func:`time.monotonic` and :func:`asyncio.sleep`."""

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; :meth:`acquire` waits for one."""

    def __init__(self, rate: float, burst: int, *, clock: Clock | None = None) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        if burst < 1:
            raise ValueError("burst must be at least 1")
        self.rate = float(rate)
        self.burst = burst
        self._clock: Clock = clock or SystemClock()
        self._tokens = float(burst)
        self._updated = self._clock.monotonic()
        # Held while a caller waits for its tokens, so callers are served in arrival order.
        self._lock = asyncio.Lock()

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._updated)
        self._tokens = min(float(self.burst), self._tokens + elapsed * self.rate)
        self._updated = now

    @property
    def available(self) -> float:
        """Tokens in the bucket now."""
        self._refill()
        return self._tokens

    def _check(self, tokens: float) -> None:
        if tokens <= 0:
            raise ValueError("tokens must be positive")
        if tokens > self.burst:
            raise ValueError(f"cannot take {tokens} tokens from a bucket of {self.burst}")

    def try_acquire(self, tokens: float = 1.0) -> bool:
        """Take ``tokens`` if they are there now (and nobody is waiting); never waits."""
        self._check(tokens)
        if self._lock.locked():
            return False
        self._refill()
        if self._tokens >= tokens:
            self._tokens -= tokens
            return True
        return False

    async def acquire(self, tokens: float = 1.0) -> float:
        """Take ``tokens``, waiting until the bucket has them; the seconds waited."""
        self._check(tokens)
        waited = 0.0
        async with self._lock:
            while True:
                self._refill()
                if self._tokens >= tokens:
                    self._tokens -= tokens
                    return waited
                delay = (tokens - self._tokens) / self.rate
                await self._clock.sleep(delay)
                waited += delay


class RateLimitedProvider:
    """A provider whose sends and polls each wait for a token of ``bucket`` first."""

    def __init__(self, provider: NotifyProvider, bucket: TokenBucket, *, bulk: bool = True) -> None:
        self.provider = provider
        self.bucket = bucket
        self.name: str = provider.name
        self.channels: frozenset[Channel] = provider.channels
        #: The inner provider's messages per request (1 without a bulk API, or ``bulk`` off).
        self.max_batch: int = batch_capacity(provider) if bulk else 1

    async def send(self, message: OutboundMessage) -> SendResult:
        await self.bucket.acquire()
        return await self.provider.send(message)

    async def send_many(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """One token per request (the providers limit requests), then the inner bulk send (or
        the messages one by one, each with its token, if it has none)."""
        if self.max_batch <= 1:
            return [await self.send(m) for m in messages]
        await self.bucket.acquire()
        bulk = cast(BulkProvider, self.provider)
        return await bulk.send_many(messages)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[DeliveryReport]:
        return self.provider.parse_webhook(headers, body)

    async def poll(self, provider_message_ids: Sequence[str]) -> list[DeliveryReport]:
        await self.bucket.acquire()
        return await self.provider.poll(provider_message_ids)
