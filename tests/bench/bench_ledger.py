"""Ledger benchmark: records/s appended by the local backend.

Run with ``python tests/bench/bench_ledger.py`` (``make bench`` runs it). It starts its own
PostgreSQL and NATS on free ports in a temporary directory and measures

1. ``ledger.append`` alone: batches of ``--batch`` records appended to the Merkle log (records,
   nodes, batch, anchor, signed tree head, outbox row) one transaction each;
2. the whole consumer path: ``--records`` ``vote.cast`` events already on the VOTE stream,
   taken by the batching consumer (inbox, append, ack) until the log holds them all.

3. the vote→receipt lag on the whole platform (started as ``make run`` starts it, through
   tests/e2e/e2e_runtime.py): ``--citizens`` citizens agree with ``--proposals`` proposals at
   ``--rate`` agreements/s offered open-loop through Caddy for ``--seconds``; the lag of each
   vote is the time from its ``cast_at`` (in its canonical record) to the commit of the ledger
   batch that holds it, when its receipt becomes available.

Figures go to docs/BENCHMARKS.md between the ``ledger`` markers; nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
import nats

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ledger-svc" / "tests"))

from bench_report import BENCHMARKS_HEADER, replace_section  # noqa: E402
from ledger_helpers import publish_votes, vote_cast  # noqa: E402

from ledger_svc import ledger  # noqa: E402
from ledger_svc.backend import LocalBackend  # noqa: E402
from ledger_svc.bootstrap import bootstrap  # noqa: E402
from ledger_svc.config import LedgerSettings  # noqa: E402
from ledger_svc.consumers import records_consumer  # noqa: E402
from services import nats as nats_mod  # noqa: E402
from services.db import create_engine, create_sessionmaker, to_asyncpg_url, transaction  # noqa: E402
from services.migrations import upgrade  # noqa: E402
from services_dev.localrt.nats import EmbeddedNats  # noqa: E402
from services_dev.localrt.postgres import EmbeddedPostgres  # noqa: E402
from services_dev.testing.servers import free_port  # noqa: E402

REPORT = ROOT / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- ledger:begin -->", "<!-- ledger:end -->"
MIGRATIONS = ROOT / "ledger-svc" / "src" / "ledger_svc" / "migrations"


async def bench_append(pg: EmbeddedPostgres, records: int, batch: int) -> float:
    pg.create_database("bench_append")
    url = to_asyncpg_url(pg.dsn("bench_append"))
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    ctx = bootstrap(LedgerSettings(), backend=LocalBackend())
    events = [vote_cast() for _ in range(records)]
    started = time.perf_counter()
    for i in range(0, records, batch):
        async with transaction(sessions) as session:
            await ledger.append(session, ctx, events[i : i + batch])
    elapsed = time.perf_counter() - started
    await engine.dispose()
    return records / elapsed


async def bench_consumer(pg: EmbeddedPostgres, nats_url: str, records: int, batch: int) -> float:
    pg.create_database("bench_consume")
    url = to_asyncpg_url(pg.dsn("bench_consume"))
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await nats_mod.ensure_streams(js)
    await publish_votes(js, (vote_cast() for _ in range(records)))
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    settings = LedgerSettings(batch_max=batch, batch_ms=50)
    consumer = records_consumer(bootstrap(settings, backend=LocalBackend()), sessions, js)
    await consumer.setup()
    started = time.perf_counter()
    done = 0
    while done < records:
        done += await consumer.process_batch()
    elapsed = time.perf_counter() - started
    await engine.dispose()
    await nc.close()
    return records / elapsed


async def _until_ok(client: httpx.AsyncClient, path: str) -> None:
    """Poll ``path`` until it answers 200 (vote-svc learns of a new proposal through NATS)."""
    for _ in range(600):
        if (await client.get(path)).status_code == 200:
            return
        await asyncio.sleep(0.2)
    raise TimeoutError(path)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_receipt_lag(args: argparse.Namespace, work: Path) -> dict[str, float]:
    """Agreements at a fixed offered rate on the running platform; lag from the ledger's tables."""
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    from e2e_runtime import SERVICES, Runtime

    from services_dev.testing.servers import postgres_data_dir

    ports = {
        "PLATFORM_HTTP_PORT": free_port(),
        "PLATFORM_PG_PORT": free_port(),
        "PLATFORM_NATS_PORT": free_port(),
        "PLATFORM_NATS_MONITOR_PORT": free_port(),
        **{f"{name.upper()}_PORT": free_port() for name in SERVICES},
    }
    with postgres_data_dir(work / "data") as data_dir:
        runtime = Runtime(data_dir, ports, work / "launcher.log")
        runtime.start()
        try:
            with httpx.Client(trust_env=False, timeout=10.0) as sync_client:
                runtime.wait_healthy(sync_client)
            return await _offer_agreements(args, runtime.entry_url, ports["PLATFORM_PG_PORT"])
        finally:
            runtime.interrupt()
            runtime.kill()


async def _offer_agreements(args: argparse.Namespace, entry: str, pg_port: int) -> dict[str, float]:
    limits = httpx.Limits(max_connections=64)
    async with httpx.AsyncClient(
        base_url=entry, timeout=30.0, trust_env=False, limits=limits
    ) as client:
        gate = asyncio.Semaphore(24)

        async def sign_in(i: int) -> str:
            async with gate:
                started = await client.post(
                    "/v1/identity/verifications", json={"provider": "sandbox"}
                )
                persona = {
                    "name": "벤치",
                    "birthdate": "1990-01-01",
                    "phone": "010-0000-0000",
                    "ci_seed": f"bench-ledger-{i}",
                }
                done = await client.post(
                    f"/v1/identity/verifications/{started.json()['verification_id']}/complete",
                    json={"persona": persona},
                )
                token: str = done.json()["access_token"]
                return token

        tokens = await asyncio.gather(*(sign_in(i) for i in range(args.citizens)))

        async def propose(i: int) -> str:
            async with gate:
                created = await client.post(
                    "/v1/proposals",
                    headers={"Authorization": f"Bearer {tokens[i]}"},
                    json={"title": f"영수증 지연 측정 {i}", "body": "본문", "category": "other"},
                )
                proposal_id: str = created.json()["id"]
                return proposal_id

        proposals = await asyncio.gather(*(propose(i) for i in range(args.proposals)))
        for pid in proposals:
            await _until_ok(client, f"/v1/votes/tallies/proposals/{pid}")
        total = int(args.rate * args.seconds)
        pairs = [(c, p) for c in range(args.citizens) for p in range(args.proposals)][:total]
        start = time.monotonic()
        accepted = 0

        async def agree(i: int) -> None:
            nonlocal accepted
            await asyncio.sleep(max(0.0, start + i / args.rate - time.monotonic()))
            citizen, proposal = pairs[i]
            response = await client.post(
                "/v1/votes/agreements",
                json={"proposal_id": proposals[proposal]},
                headers={"Authorization": f"Bearer {tokens[citizen]}"},
            )
            accepted += response.status_code == 201

        await asyncio.gather(*(agree(i) for i in range(len(pairs))))
        elapsed = time.monotonic() - start
        while True:  # until the ledger holds every accepted vote
            head = await client.get("/v1/ledger/head")
            if head.status_code == 200 and head.json()["tree_size"] >= accepted:
                break
            await asyncio.sleep(0.2)
    conn = await asyncpg.connect(f"postgresql://postgres@127.0.0.1:{pg_port}/ledger")
    try:
        rows = await conn.fetch(
            "SELECT extract(epoch FROM b.committed_at - "
            "(convert_from(r.record, 'UTF8')::jsonb->>'cast_at')::timestamptz)::float8 AS lag, "
            "b.size FROM ledger_records r JOIN ledger_batches b ON b.seq = r.batch_seq"
        )
    finally:
        await conn.close()
    lags = [float(r["lag"]) for r in rows]
    sizes = [int(r["size"]) for r in rows]
    return {
        "offered": args.rate,
        "accepted_per_s": accepted / elapsed,
        "votes": len(lags),
        "p50_ms": _percentile(lags, 0.5) * 1000,
        "p99_ms": _percentile(lags, 0.99) * 1000,
        "max_ms": max(lags) * 1000,
        "mean_batch": sum(sizes) / len(sizes),
    }


def write_report(
    command: str,
    batch: int,
    records: int,
    append_rate: float,
    consume_rate: float,
    lag: dict[str, float],
) -> None:
    section = f"""{BEGIN}
## Ledger: records appended by the local backend

Command: `{command}` — run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores,
{platform.python_implementation()} {platform.python_version()}, embedded PostgreSQL and NATS on loopback.

| measure ({records:,} records, batches of {batch}) | records/s |
|---|---|
| `ledger.append` alone (checks, Merkle nodes, batch, anchor, Ed25519 tree head, outbox; one transaction per batch) | {append_rate:,.0f} |
| batching consumer from JetStream (inbox, append, ack) | {consume_rate:,.0f} |

Vote→receipt lag on the whole platform (as `make run` runs it, defaults `LEDGER_BATCH_MAX=200`,
`LEDGER_BATCH_MS=200`) under {lag["offered"]:,.0f} agreements/s offered open-loop through Caddy
({lag["accepted_per_s"]:,.0f}/s accepted, {lag["votes"]:,.0f} votes): from the vote's `cast_at` to the commit of
the ledger batch that holds it (when its receipt can be served): **p50 {lag["p50_ms"]:,.0f} ms,
p99 {lag["p99_ms"]:,.0f} ms**, max {lag["max_ms"]:,.0f} ms; {lag["mean_batch"]:,.1f} records per batch on average
(weighted by record).
{END}"""
    replace_section(REPORT, BEGIN, END, section, empty=BENCHMARKS_HEADER)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--citizens", type=int, default=400)
    parser.add_argument("--proposals", type=int, default=20)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ledger-", dir="/var/tmp") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg", free_port())
        server = EmbeddedNats(Path(tmp) / "nats", free_port(), free_port())
        with pg, server:
            append_rate = await bench_append(pg, args.records, args.batch)
            print(f"append: {append_rate:,.0f} records/s")  # noqa: T201
            consume_rate = await bench_consumer(pg, server.url, args.records, args.batch)
            print(f"consumer: {consume_rate:,.0f} records/s")  # noqa: T201
        lag = await bench_receipt_lag(args, Path(tmp))
        print(f"receipt lag: {lag}")  # noqa: T201
    command = (
        "make bench"
        if not sys.argv[1:]
        else "python tests/bench/bench_ledger.py " + " ".join(sys.argv[1:])
    )
    write_report(command, args.batch, args.records, append_rate, consume_rate, lag)


if __name__ == "__main__":
    asyncio.run(main())
