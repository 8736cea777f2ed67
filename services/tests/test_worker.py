"""services.worker: a worker started while NATS is away waits for it instead of exiting, and
stops at once on SIGTERM even while waiting."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from services.worker import retry_until_stopped
from services_dev.localrt.nats import EmbeddedNats
from services_dev.testing.servers import free_port

SCRIPT = Path(__file__).with_name("worker_waits.py")


@contextlib.asynccontextmanager
async def _worker(database_url: str, nats_url: str) -> AsyncIterator[asyncio.subprocess.Process]:
    """The worker process of worker_waits.py, killed afterwards if it still runs."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        database_url,
        nats_url,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def _line_with(proc: asyncio.subprocess.Process, text: str, within: float) -> str:
    assert proc.stdout is not None
    seen: list[str] = []

    async def read() -> str:
        assert proc.stdout is not None
        while line := (await proc.stdout.readline()).decode():
            seen.append(line)
            if text in line:
                return line
        raise AssertionError(f"the worker ended without saying {text!r}:\n{''.join(seen)}")

    try:
        return await asyncio.wait_for(read(), within)
    except TimeoutError:
        raise AssertionError(f"no {text!r} within {within}s:\n{''.join(seen)}") from None


async def test_a_worker_started_while_nats_is_down_waits_and_then_runs(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    server = EmbeddedNats(tmp_path / "nats", free_port(), free_port())
    try:
        async with _worker(service_env["database_url"], server.url) as proc:
            await _line_with(proc, "waiting for NATS", within=20)
            await asyncio.sleep(1.0)
            assert proc.returncode is None  # still waiting, not crashed
            server.start()
            await _line_with(proc, "body running; stream VOTE", within=20)
            proc.send_signal(signal.SIGTERM)
            await _line_with(proc, "body stopping", within=10)
            assert await asyncio.wait_for(proc.wait(), 10) == 0
    finally:
        server.stop()


async def test_a_worker_waiting_for_nats_stops_at_once_on_sigterm(
    service_env: dict[str, str], tmp_path: Path
) -> None:
    async with _worker(service_env["database_url"], f"nats://127.0.0.1:{free_port()}") as proc:
        await _line_with(proc, "waiting for NATS", within=20)
        proc.send_signal(signal.SIGTERM)
        await _line_with(proc, "probe-svc probe stopped", within=10)
        assert await asyncio.wait_for(proc.wait(), 10) == 0


async def test_retry_until_stopped_retries_with_a_growing_delay_and_gives_up_on_stop() -> None:
    stop = asyncio.Event()
    calls: list[float] = []
    loop = asyncio.get_running_loop()

    async def flaky() -> None:
        calls.append(loop.time())
        if len(calls) < 4:
            raise ConnectionRefusedError("not yet")

    assert await retry_until_stopped(stop, "flaky", flaky, delay=0.05, max_delay=0.1)
    gaps = [round(b - a, 2) for a, b in itertools.pairwise(calls)]
    assert len(calls) == 4
    assert gaps[0] >= 0.04
    assert gaps[2] >= 0.09  # doubled, then capped

    async def never() -> None:
        raise ConnectionRefusedError("down")

    loop.call_later(0.2, stop.set)
    assert not await retry_until_stopped(stop, "never", never, delay=0.05)
