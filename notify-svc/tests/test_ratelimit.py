"""The per-provider token bucket, driven by a fake clock."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence

import pytest

from notify_svc.providers.base import (
    Channel,
    DeliveryReport,
    DeliveryStatus,
    NotifyProvider,
    OutboundMessage,
    SendResult,
)
from notify_svc.providers.ratelimit import RateLimitedProvider, SystemClock, TokenBucket


class FakeClock:
    """Time moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        await asyncio.sleep(0)


async def test_burst_is_available_at_once_then_one_token_per_interval() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)

    waits = [await bucket.acquire() for _ in range(3)]
    assert waits == [0.0, 0.0, 0.0]
    assert clock.sleeps == []

    assert await bucket.acquire() == pytest.approx(0.5)
    assert await bucket.acquire() == pytest.approx(0.5)
    assert clock.now == pytest.approx(101.0)


async def test_tokens_refill_with_time_up_to_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=10, burst=5, clock=clock)
    for _ in range(5):
        assert bucket.try_acquire()
    assert not bucket.try_acquire()

    clock.now += 0.25
    assert bucket.available == pytest.approx(2.5)
    clock.now += 3600
    assert bucket.available == pytest.approx(5.0)


async def test_waiters_are_served_in_arrival_order_at_the_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=4, burst=1, clock=clock)
    finished: list[tuple[int, float]] = []

    async def take(number: int) -> None:
        await bucket.acquire()
        finished.append((number, clock.now))

    await asyncio.gather(*(take(n) for n in range(6)))

    assert [number for number, _ in finished] == list(range(6))
    assert [at - 100.0 for _, at in finished] == pytest.approx([0, 0.25, 0.5, 0.75, 1.0, 1.25])


async def test_try_acquire_does_not_jump_the_queue() -> None:
    clock = FakeClock()
    bucket = TokenBucket(rate=1, burst=1, clock=clock)
    assert bucket.try_acquire()
    waiter = asyncio.create_task(bucket.acquire())
    await asyncio.sleep(0)  # the waiter holds the queue while it sleeps
    assert not bucket.try_acquire()
    assert await waiter == pytest.approx(1.0)


def test_bucket_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(rate=0, burst=1)
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(rate=1, burst=0)
    bucket = TokenBucket(rate=1, burst=2, clock=FakeClock())
    with pytest.raises(ValueError, match="cannot take 3"):
        bucket.try_acquire(3)
    with pytest.raises(ValueError, match="positive"):
        bucket.try_acquire(0)


async def test_system_clock_sleeps_for_real() -> None:
    clock = SystemClock()
    start = clock.monotonic()
    await clock.sleep(0.01)
    assert clock.monotonic() - start >= 0.009


class RecordingProvider:
    name = "recording"
    channels = frozenset({Channel.SMS})

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.sent_at: list[float] = []

    async def send(self, message: OutboundMessage) -> SendResult:
        self.sent_at.append(self.clock.now)
        return SendResult(idempotency_key=message.idempotency_key, accepted=True)

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[DeliveryReport]:
        return [DeliveryReport("id", DeliveryStatus.DELIVERED, Channel.SMS)]

    async def poll(self, provider_message_ids: Sequence[str]) -> list[DeliveryReport]:
        return []


async def test_rate_limited_provider_spaces_sends_and_passes_webhooks_through() -> None:
    clock = FakeClock()
    inner = RecordingProvider(clock)
    provider: NotifyProvider = RateLimitedProvider(inner, TokenBucket(rate=2, burst=1, clock=clock))
    message = OutboundMessage(idempotency_key="k", to="01012345678", channel=Channel.SMS, text="x")

    results = [await provider.send(message) for _ in range(3)]

    assert all(result.accepted for result in results)
    assert [at - 100.0 for at in inner.sent_at] == pytest.approx([0.0, 0.5, 1.0])
    assert provider.name == "recording"
    assert provider.channels == frozenset({Channel.SMS})
    assert len(provider.parse_webhook({}, b"")) == 1
    assert await provider.poll(["id"]) == []
    assert clock.now - 100.0 == pytest.approx(1.5)
