"""Ledger benchmark: records/s appended by the local backend.

Run with ``python tests/bench/bench_ledger.py`` (``make bench`` runs it). It starts its own
PostgreSQL and NATS on free ports in a temporary directory and measures

1. ``ledger.append`` alone: batches of ``--batch`` records appended to the Merkle log (records,
   nodes, batch, anchor, signed tree head, outbox row) one transaction each;
2. the whole consumer path: ``--records`` ``vote.cast`` events already on the VOTE stream,
   taken by the batching consumer (inbox, append, ack) until the log holds them all.

The vote→receipt lag under agreement load is measured on the running platform by
bench_agreements.py. Figures go to docs/BENCHMARKS.md between the ``ledger`` markers; nothing
here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import nats

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ledger-svc" / "tests"))

from ledger_helpers import vote_cast  # noqa: E402

from ledger_svc import ledger  # noqa: E402
from ledger_svc.backend import LocalBackend  # noqa: E402
from ledger_svc.config import LedgerSettings  # noqa: E402
from ledger_svc.consumers import BatchConsumer  # noqa: E402
from ledger_svc.ledger import LedgerContext  # noqa: E402
from services import nats as nats_mod  # noqa: E402
from services.db import create_engine, create_sessionmaker, to_asyncpg_url, transaction  # noqa: E402
from services.events import to_envelope  # noqa: E402
from services.localrt.nats import EmbeddedNats  # noqa: E402
from services.localrt.postgres import EmbeddedPostgres  # noqa: E402
from services.migrations import upgrade  # noqa: E402

REPORT = ROOT / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- ledger:begin -->", "<!-- ledger:end -->"
MIGRATIONS = ROOT / "ledger-svc" / "src" / "ledger_svc" / "migrations"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def bench_append(pg: EmbeddedPostgres, records: int, batch: int) -> float:
    pg.create_database("bench_append")
    url = to_asyncpg_url(pg.dsn("bench_append"))
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    ctx = LedgerContext(backend=LocalBackend(), kek=LedgerSettings().kek)
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
    for event in (vote_cast() for _ in range(records)):
        envelope = to_envelope(event)
        await js.publish(
            event.subject_name(),
            json.dumps(envelope.model_dump(mode="json")).encode(),
            headers={"Nats-Msg-Id": envelope.id},
        )
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    consumer = BatchConsumer(
        sessions=sessions,
        js=js,
        ctx=LedgerContext(backend=LocalBackend(), kek=LedgerSettings().kek),
        batch_max=batch,
        batch_ms=50,
    )
    await consumer.setup()
    started = time.perf_counter()
    done = 0
    while done < records:
        done += await consumer.process_batch()
    elapsed = time.perf_counter() - started
    await engine.dispose()
    await nc.close()
    return records / elapsed


def write_report(
    command: str, batch: int, records: int, append_rate: float, consume_rate: float
) -> None:
    section = f"""{BEGIN}
## Ledger: records appended by the local backend

Command: `{command}` — run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores,
{platform.python_implementation()} {platform.python_version()}, embedded PostgreSQL and NATS on loopback.

| measure ({records:,} records, batches of {batch}) | records/s |
|---|---|
| `ledger.append` alone (checks, Merkle nodes, batch, anchor, Ed25519 tree head, outbox; one transaction per batch) | {append_rate:,.0f} |
| batching consumer from JetStream (inbox, append, ack) | {consume_rate:,.0f} |

The vote→receipt lag under agreement load is in the agreements section (same run as the
agreement benchmark).
{END}"""
    text = REPORT.read_text() if REPORT.exists() else "# Benchmarks\n"
    if BEGIN in text:
        head, rest = text.split(BEGIN, 1)
        text = head + section + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    REPORT.write_text(text)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ledger-", dir="/var/tmp") as tmp:
        pg = EmbeddedPostgres(Path(tmp) / "pg", free_port())
        server = EmbeddedNats(Path(tmp) / "nats", free_port(), free_port())
        with pg, server:
            append_rate = await bench_append(pg, args.records, args.batch)
            print(f"append: {append_rate:,.0f} records/s")  # noqa: T201
            consume_rate = await bench_consumer(pg, server.url, args.records, args.batch)
            print(f"consumer: {consume_rate:,.0f} records/s")  # noqa: T201
    command = (
        "make bench"
        if not sys.argv[1:]
        else "python tests/bench/bench_ledger.py " + " ".join(sys.argv[1:])
    )
    write_report(command, args.batch, args.records, append_rate, consume_rate)


if __name__ == "__main__":
    asyncio.run(main())
