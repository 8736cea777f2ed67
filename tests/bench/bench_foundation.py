"""Foundation benchmarks: outbox relay throughput and identity-svc over real HTTP.

Run with ``make bench`` (python tests/bench/bench_foundation.py). It starts its own PostgreSQL and
NATS on free ports in a temporary directory, runs identity-svc under uvicorn (one worker), and
writes the figures with the command and the machine to docs/BENCHMARKS.md. Nothing here asserts
a time: figures are measured and recorded, not tested.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

import httpx
import nats
from bench_report import BENCHMARKS_HEADER, replace_section

from services import nats as nats_mod
from services import outbox
from services.consumer import InboxMessage
from services.db import Base, create_engine, create_sessionmaker, to_asyncpg_url, transaction
from services.events import Event
from services.migrations import upgrade
from services.nats import StreamSpec
from services.outbox import OutboxMessage, OutboxRelay
from services_dev.localrt.nats import EmbeddedNats
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "docs" / "BENCHMARKS.md"
MARK_BEGIN = "<!-- foundation:begin -->"
MARK_END = "<!-- foundation:end -->"


class BenchEvent(Event):
    name: ClassVar[str] = "bench.happened"
    source: ClassVar[str] = "/bench"
    n: int


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_outbox(pg: EmbeddedPostgres, nats_url: str, events: int) -> dict[str, float]:
    pg.create_database("bench_outbox")
    engine = create_engine(to_asyncpg_url(pg.dsn("bench_outbox")))
    async with engine.begin() as conn:
        await conn.run_sync(
            Base.metadata.create_all,
            tables=[OutboxMessage.__table__, InboxMessage.__table__],  # type: ignore[list-item]
        )
    sessions = create_sessionmaker(engine)
    started = time.perf_counter()
    for start in range(0, events, 500):
        async with transaction(sessions) as session:
            for n in range(start, min(events, start + 500)):
                outbox.add(session, BenchEvent(n=n))
    staged = time.perf_counter() - started
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await nats_mod.ensure_streams(js, (StreamSpec("BENCH", ("bench.>",)),))
    relay = OutboxRelay(sessions, js, batch_size=500)
    started = time.perf_counter()
    published = 0
    while (n := await relay.relay_once()) > 0:
        published += n
    relayed = time.perf_counter() - started
    info = await js.stream_info("BENCH")
    await nc.close()
    await engine.dispose()
    assert published == events == info.state.messages
    return {"events": events, "stage_per_s": events / staged, "relay_per_s": events / relayed}


async def bench_identity(
    pg: EmbeddedPostgres, nats_url: str, citizens: int, concurrency: int
) -> dict[str, Any]:
    pg.create_database("bench_identity")
    dsn = to_asyncpg_url(pg.dsn("bench_identity"))
    await asyncio.to_thread(
        upgrade, ROOT / "identity-svc" / "src" / "identity_svc" / "migrations", dsn
    )
    port = free_port()
    env = {
        **os.environ,
        "IDENTITY_DATABASE_URL": dsn,
        "IDENTITY_NATS_URL": nats_url,
        "IDENTITY_ENVIRONMENT": "test",
        "IDENTITY_LOG_LEVEL": "WARNING",
    }
    server = await asyncio.create_subprocess_exec(
        *[
            sys.executable,
            "-m",
            "uvicorn",
            "identity_svc.main:create_app",
            "--factory",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-access-log",
            "--log-level",
            "warning",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=base, timeout=30) as client:
            for _ in range(200):
                try:
                    if (await client.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
            semaphore = asyncio.Semaphore(concurrency)
            latencies: list[float] = []
            tokens: list[str] = []

            async def sign_in(i: int) -> None:
                async with semaphore:
                    t0 = time.perf_counter()
                    started = await client.post(
                        "/v1/identity/verifications", json={"provider": "sandbox"}
                    )
                    vid = started.json()["verification_id"]
                    done = await client.post(
                        f"/v1/identity/verifications/{vid}/complete",
                        json={
                            "persona": {
                                "name": "벤치",
                                "birthdate": "1990-01-01",
                                "phone": "010-0000-0000",
                                "ci_seed": f"bench-{i}",
                            }
                        },
                    )
                    latencies.append(time.perf_counter() - t0)
                    assert done.status_code == 200, done.text
                    tokens.append(done.json()["access_token"])

            t0 = time.perf_counter()
            await asyncio.gather(*(sign_in(i) for i in range(citizens)))
            sign_in_elapsed = time.perf_counter() - t0

            me_latencies: list[float] = []

            async def me(token: str) -> None:
                async with semaphore:
                    t = time.perf_counter()
                    response = await client.get(
                        "/v1/identity/me", headers={"Authorization": f"Bearer {token}"}
                    )
                    me_latencies.append(time.perf_counter() - t)
                    assert response.status_code == 200

            t0 = time.perf_counter()
            await asyncio.gather(*(me(tokens[i % len(tokens)]) for i in range(citizens * 2)))
            me_elapsed = time.perf_counter() - t0
    finally:
        server.terminate()
        await asyncio.wait_for(server.wait(), timeout=30)
    return {
        "citizens": citizens,
        "concurrency": concurrency,
        "sign_in_per_s": citizens / sign_in_elapsed,
        "sign_in_p50_ms": statistics.median(latencies) * 1000,
        "sign_in_p99_ms": percentile(latencies, 0.99) * 1000,
        "me_per_s": len(me_latencies) / me_elapsed,
        "me_p50_ms": statistics.median(me_latencies) * 1000,
        "me_p99_ms": percentile(me_latencies, 0.99) * 1000,
    }


def write_report(command: str, outbox_fig: dict[str, float], identity_fig: dict[str, Any]) -> None:
    section = f"""{MARK_BEGIN}
## Foundation: outbox relay and identity-svc

Command: `{command}` — run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores,
{platform.python_implementation()} {platform.python_version()}, PostgreSQL and NATS from the
embedded wheels on loopback, identity-svc as one uvicorn worker, load generator in the same machine.

| measure | figure |
|---|---|
| outbox: events staged (500 per transaction) | {outbox_fig["stage_per_s"]:,.0f} events/s |
| outbox relay: published to JetStream with PubAck and marked sent ({outbox_fig["events"]:,.0f} events, batches of 500) | {outbox_fig["relay_per_s"]:,.0f} events/s |
| sign-in (start + complete verification, new citizen, tokens issued; {identity_fig["citizens"]} citizens, {identity_fig["concurrency"]} concurrent) | {identity_fig["sign_in_per_s"]:,.0f} sign-ins/s, p50 {identity_fig["sign_in_p50_ms"]:.0f} ms, p99 {identity_fig["sign_in_p99_ms"]:.0f} ms |
| `GET /v1/identity/me` (ES256 verification + one query) | {identity_fig["me_per_s"]:,.0f} req/s, p50 {identity_fig["me_p50_ms"]:.0f} ms, p99 {identity_fig["me_p99_ms"]:.0f} ms |
{MARK_END}"""
    replace_section(REPORT, MARK_BEGIN, MARK_END, section, empty=BENCHMARKS_HEADER)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--citizens", type=int, default=1_000)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg", free_port())
        server = EmbeddedNats(Path(tmp) / "nats", free_port(), free_port())
        with pg, server:
            outbox_fig = await bench_outbox(pg, server.url, args.events)
            print(f"outbox: {outbox_fig}")  # noqa: T201
            identity_fig = await bench_identity(pg, server.url, args.citizens, args.concurrency)
            print(f"identity: {identity_fig}")  # noqa: T201
    command = (
        "make bench"
        if sys.argv[1:] == []
        else "python tests/bench/bench_foundation.py " + " ".join(sys.argv[1:])
    )
    write_report(command, outbox_fig, identity_fig)
    print(f"wrote {REPORT.relative_to(ROOT)}")  # noqa: T201


if __name__ == "__main__":
    asyncio.run(main())
