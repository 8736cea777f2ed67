"""Loops of long-lived workers: wait or stop, and run something every so often until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Wait ``seconds`` or until ``stop`` is set, whichever comes first; True when it was set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.0))
    return stop.is_set()


async def periodic(
    stop: asyncio.Event,
    interval: float | Callable[[], float],
    fn: Callable[[], Awaitable[object]],
    *,
    name: str | None = None,
) -> None:
    """Run ``fn`` now and then every ``interval`` seconds until ``stop`` is set. ``interval`` may
    be a function, asked after each run (a loop that backs off when idle). An exception in ``fn``
    is logged and the loop goes on: a worker must outlive one failed round."""
    label = name or getattr(fn, "__qualname__", repr(fn))
    while not stop.is_set():
        try:
            await fn()
        except Exception:
            log.exception("%s failed; next round in its interval", label)
        seconds = interval() if callable(interval) else interval
        if await sleep_or_stop(stop, seconds):
            return
