"""Open-loop HTTP/1.1 load generator of the agreement benchmark, run as a process of its own.

``python tests/bench/bench_loadgen.py JOB.json`` reads a job written by bench_agreements.py: where
to send, which requests (bearer token + proposal id per request), at what offered rate and for
how long. Request ``i`` is *scheduled* at ``t0 + i / rate`` whatever happened to the earlier
ones (open loop); its latency is measured from that scheduled time, so time spent queued in the
client while every connection was busy counts (no coordinated omission).

The client is deliberately lean so that it is not the bottleneck on a machine it shares with the
system under test: uvloop, a fixed pool of keep-alive connections driven by asyncio protocol
callbacks (no task or future per request), requests rendered to bytes before the clock starts,
and an incremental response parser that reads only the status line, ``Content-Length`` (or
chunked framing) and skips the body. Its own CPU time over the
window is reported with the figures.

Protocol on stdout (one line each, read by the orchestrator): ``ready`` once the connections
are open, ``start`` when the clock starts, ``end`` when the last request has been scheduled, and
finally ``result <json>``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Any, Final, cast

_HEADER_END: Final = b"\r\n\r\n"
#: How long after the window the generator waits for answers before counting the rest as lost.
DEFAULT_DRAIN_SECONDS: Final = 5.0
MIN_SLEEP: Final = 0.001


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def render(job: dict[str, Any]) -> list[bytes]:
    """Every request of the job as the bytes put on the wire: agreements (``pairs``), or reads
    (``get_paths``, taken in turn, with the job's ``headers``)."""
    host = f"{job['host']}:{job['port']}".encode()
    if "get_paths" in job:
        return render_gets(job, host)
    path = job["path"].encode()
    tokens: list[str] = job["tokens"]
    proposals: list[str] = job["proposals"]
    requests = []
    for citizen, proposal in job["pairs"]:
        body = b'{"proposal_id":"' + proposals[proposal].encode() + b'"}'
        requests.append(
            b"POST "
            + path
            + b" HTTP/1.1\r\nHost: "
            + host
            + b"\r\nAuthorization: Bearer "
            + tokens[citizen].encode()
            + b"\r\nContent-Type: application/json\r\nContent-Length: "
            + str(len(body)).encode()
            + b"\r\n\r\n"
            + body
        )
    return requests


def render_gets(job: dict[str, Any], host: bytes) -> list[bytes]:
    headers = b"".join(f"{k}: {v}\r\n".encode() for k, v in job.get("headers", {}).items())
    paths = [
        b"GET " + p.encode() + b" HTTP/1.1\r\nHost: " + host + b"\r\n" + headers + b"\r\n"
        for p in job["get_paths"]
    ]
    total = int(float(job["rate"]) * float(job["duration"])) + 1
    return [paths[i % len(paths)] for i in range(total)]


class Parser:
    """Incremental parser of HTTP/1.1 responses: status, ``Content-Length`` or chunked body."""

    def __init__(self) -> None:
        self.buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[int, bool]]:
        """Add received bytes; every response now complete as (status, keep-alive)."""
        self.buffer += data
        done = []
        while (found := self._one()) is not None:
            done.append(found)
        return done

    def _one(self) -> tuple[int, bool] | None:
        buffer = self.buffer
        head_end = buffer.find(_HEADER_END)
        if head_end < 0:
            return None
        head = bytes(buffer[:head_end]).lower()
        status = int(head[9:12])
        keep_alive = b"\r\nconnection: close" not in head
        start = head_end + 4
        if b"\r\ntransfer-encoding: chunked" in head:
            pos = start
            while True:
                line_end = buffer.find(b"\r\n", pos)
                if line_end < 0:
                    return None
                size = int(bytes(buffer[pos:line_end]).split(b";")[0], 16)
                pos = line_end + 2 + size + 2
                if len(buffer) < pos:
                    return None
                if size == 0:
                    end = pos
                    break
        elif status in (204, 304):
            end = start  # no body whatever the headers say (RFC 9112 §6.3)
        else:
            marker = head.find(b"\r\ncontent-length:")
            if marker < 0:
                raise ValueError("a response without Content-Length or chunked framing")
            value_end = head.find(b"\r\n", marker + 2)
            length = int(head[marker + 17 : value_end if value_end >= 0 else len(head)])
            end = start + length
            if len(buffer) < end:
                return None
        del buffer[:end]
        return status, keep_alive


class Connection(asyncio.Protocol):
    """One keep-alive connection carrying one request at a time; everything happens in the
    event loop's callbacks (no task per request)."""

    def __init__(self, pool: Pool) -> None:
        self.pool = pool
        self.parser = Parser()
        self.transport: asyncio.Transport | None = None
        self.current: int | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without deriving from it.
        self.transport = cast(asyncio.Transport, transport)

    def send(self, i: int) -> None:
        assert self.transport is not None
        self.current = i
        self.transport.write(self.pool.requests[i])

    def data_received(self, data: bytes) -> None:
        try:
            answers = self.parser.feed(data)
        except ValueError:
            self._fail()
            return
        for status, keep_alive in answers:
            if self.current is None:
                continue
            i, self.current = self.current, None
            self.pool.record(i, status)
            if not keep_alive:
                self._fail()
                return
            self.pool.free(self)

    def _fail(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    def connection_lost(self, exc: Exception | None) -> None:
        self.transport = None
        if self.current is not None:
            i, self.current = self.current, None
            self.pool.record(i, 0)
        self.pool.replace(self)


class Pool:
    """The connections, the requests scheduled but not sent yet, and what came back."""

    def __init__(self, host: str, port: int, requests: list[bytes], total: int) -> None:
        self.host = host
        self.port = port
        self.requests = requests
        self.total = total
        self.loop = asyncio.get_running_loop()
        self.waiting: collections.deque[int] = collections.deque()
        self.idle: list[Connection] = []
        self.status = [-1] * total  # -1: no answer (yet); 0: transport error
        self.finished = [0.0] * total
        self.completed = 0
        self.done = asyncio.Event()
        self.closing = False
        self._tasks: set[asyncio.Task[None]] = set()

    async def open(self, n: int) -> None:
        for _ in range(n):
            await self._connect()

    async def _connect(self) -> None:
        _, conn = await self.loop.create_connection(lambda: Connection(self), self.host, self.port)
        self.free(conn)

    def submit(self, i: int) -> None:
        if self.idle:
            self.idle.pop().send(i)
        else:
            self.waiting.append(i)

    def free(self, conn: Connection) -> None:
        if self.waiting:
            conn.send(self.waiting.popleft())
        else:
            self.idle.append(conn)

    def record(self, i: int, status: int) -> None:
        self.finished[i] = time.monotonic()
        self.status[i] = status
        self.completed += 1
        if self.completed == self.total:
            self.done.set()

    def replace(self, conn: Connection) -> None:
        if conn in self.idle:
            self.idle.remove(conn)
        if not self.closing:
            task = self.loop.create_task(self._reconnect())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _reconnect(self) -> None:
        while not self.closing:
            try:
                await self._connect()
                return
            except OSError:
                await asyncio.sleep(0.05)

    def close(self) -> None:
        self.closing = True
        for conn in self.idle:
            if conn.transport is not None:
                conn.transport.abort()


def percentile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run(job: dict[str, Any]) -> dict[str, Any]:
    requests = render(job)
    rate = float(job["rate"])
    duration = float(job["duration"])
    expected = int(job.get("expect", 201))
    drain = float(job.get("drain", DEFAULT_DRAIN_SECONDS))
    total = min(len(requests), int(rate * duration))
    pool = Pool(job["host"], int(job["port"]), requests, total)
    await pool.open(int(job["connections"]))
    say("ready")

    # time.monotonic(), not loop.time(): uvloop's clock has a resolution of 1 ms and is read
    # once per loop iteration.
    clock = time.monotonic
    t0 = clock() + 0.05
    cpu0 = time.process_time()
    say("start")
    scheduled = 0
    while scheduled < total:
        due = min(total, int((clock() - t0) * rate) + 1)
        while scheduled < due:
            pool.submit(scheduled)
            scheduled += 1
        # uvloop's timers have a resolution of 1 ms: a shorter sleep would spin.
        await asyncio.sleep(max(MIN_SLEEP, t0 + scheduled / rate - clock()))
    t_end = t0 + duration
    await asyncio.sleep(max(0.0, t_end - clock()))
    cpu_window = time.process_time() - cpu0
    say("end")
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(pool.done.wait(), timeout=max(0.0, t_end + drain - clock()))
    pool.close()

    latencies = []
    ok_in_window = ok = unanswered = transport = 0
    by_status: dict[str, int] = {}
    for i in range(total):
        code = pool.status[i]
        if code < 0:
            unanswered += 1
            latencies.append(float("inf"))
            continue
        latencies.append(pool.finished[i] - (t0 + i / rate))
        if code == 0:
            transport += 1
        elif code == expected:
            ok += 1
            ok_in_window += pool.finished[i] <= t_end
        else:
            by_status[str(code)] = by_status.get(str(code), 0) + 1
    latencies.sort()

    def ms(value: float) -> float | None:
        return None if value == float("inf") else round(value * 1000, 2)

    return {
        "offered_per_s": rate,
        "duration_s": duration,
        "scheduled": total,
        "ok": ok,
        "accepted_per_s": ok_in_window / duration,
        "errors": transport + sum(by_status.values()),
        "transport_errors": transport,
        "unanswered": unanswered,
        "by_status": by_status,
        "p50_ms": ms(percentile(latencies, 0.50)),
        "p90_ms": ms(percentile(latencies, 0.90)),
        "p99_ms": ms(percentile(latencies, 0.99)),
        "max_ms": ms(latencies[-1]),
        "generator_cpu_percent": 100 * cpu_window / duration,
        "connections": int(job["connections"]),
    }


def main() -> None:
    job: dict[str, Any] = json.loads(Path(sys.argv[1]).read_text())
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        result = asyncio.run(run(job))
    else:
        result = uvloop.run(run(job))
    say("result " + json.dumps(result))


if __name__ == "__main__":
    main()
