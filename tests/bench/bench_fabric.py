"""Fabric benchmark: how many vote records per second the ledger can anchor on the local
two-organisation Fabric network, batched (one transaction per batch, as ledger-svc does) against
one transaction per record, and the vote→anchored-receipt lag through the batching consumer.

Run with ``python tests/bench/bench_fabric.py`` (after ``uv sync``; Go is needed for the first
``fabric.sh up``). It starts its own network (deploy/fabric/fabric.sh, ``.data/fabric-bench``,
ports +400) and, for the lag, its own PostgreSQL and NATS on free ports, then measures on that
one network:

1. ``RecordBatch`` with batches of ``--batch-sizes`` records (default 100, 200, 500): endorse
   (both organisations), submit, wait for the block; one transaction at a time as ledger-svc's
   single writer submits them, and ``--batch-in-flight`` (8) at a time;
2. the same records one transaction per record, ``--concurrency`` transactions in flight (each
   record on its own target, so no two transactions touch the same key: the per-transaction
   path at its best);
3. the lag: ``vote.cast`` events published open-loop at ``--rate`` per second for ``--seconds``,
   taken by the batching consumer (``LEDGER_BATCH_MAX=200``, ``LEDGER_BATCH_MS=200``, the
   defaults) and anchored on Fabric; a vote's lag is the time from its publication to the moment
   its record is visible in ledger-svc's database, i.e. its receipt can be served (the batch's
   Fabric transaction is committed before the database transaction is).

Figures go to docs/BENCHMARKS.md between the ``fabric`` markers (``--no-report`` leaves it
alone); nothing here asserts a time.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import nats

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "ledger-svc" / "tests"))

from bench_report import BENCHMARKS_HEADER, replace_section  # noqa: E402
from fabric_network import FabricNetwork  # noqa: E402
from ledger_helpers import KEY, vote_cast  # noqa: E402

from ledger_svc.backend import FabricBackend, batch_root  # noqa: E402
from ledger_svc.bootstrap import bootstrap  # noqa: E402
from ledger_svc.config import LedgerSettings  # noqa: E402
from ledger_svc.consumers import records_consumer  # noqa: E402
from ledger_svc.fabric import Gateway, VotesContract, load_profile  # noqa: E402
from services import nats as nats_mod  # noqa: E402
from services.canonical import VoteRecord, voter_tag  # noqa: E402
from services.db import create_engine, create_sessionmaker, to_asyncpg_url  # noqa: E402
from services.events import to_envelope  # noqa: E402
from services.migrations import upgrade  # noqa: E402
from services_dev.localrt.nats import EmbeddedNats  # noqa: E402
from services_dev.localrt.postgres import EmbeddedPostgres  # noqa: E402
from services_dev.testing.servers import free_port  # noqa: E402

REPORT = ROOT / "docs" / "BENCHMARKS.md"
BEGIN, END = "<!-- fabric:begin -->", "<!-- fabric:end -->"
MIGRATIONS = ROOT / "ledger-svc" / "src" / "ledger_svc" / "migrations"
#: Votes of the batched runs are spread over this many proposals (a few popular ones at a time).
TARGETS = 20


def _records(count: int, targets: int) -> list[VoteRecord]:
    now = datetime.now(UTC)
    names = [f"proposal:{uuid.uuid4()}" for _ in range(targets)]
    records = []
    for i in range(count):
        target = names[i % targets]
        records.append(
            VoteRecord.build(
                target=target,
                voter_tag=voter_tag(KEY, uuid.uuid4(), target),
                vote_id=uuid.uuid4(),
                cast_at=now,
                choice="agree",
            )
        )
    return records


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def bench_batched(
    contract: VotesContract, records: int, size: int, in_flight: int
) -> dict[str, float]:
    """``records`` records in batches of ``size``, ``in_flight`` transactions at a time. Each
    batch has proposals of its own, so concurrent batches never touch the same counter."""
    batches = [_records(size, min(TARGETS, size)) for _ in range(0, records, size)]
    gate = asyncio.Semaphore(in_flight)
    latencies: list[float] = []

    async def one(seq: int, chunk: list[VoteRecord]) -> None:
        async with gate:
            t0 = time.perf_counter()
            result = await contract.record_batch(seq, batch_root(chunk), chunk)
            latencies.append(time.perf_counter() - t0)
            assert len(result.recorded) == len(chunk), result

    started = time.perf_counter()
    await asyncio.gather(*(one(seq, c) for seq, c in enumerate(batches, start=1)))
    elapsed = time.perf_counter() - started
    return {
        "records": size * len(batches),
        "size": size,
        "in_flight": in_flight,
        "records_per_s": size * len(batches) / elapsed,
        "tx_per_s": len(batches) / elapsed,
        "tx_p50_ms": _percentile(latencies, 0.5) * 1000,
        "tx_p99_ms": _percentile(latencies, 0.99) * 1000,
    }


async def bench_per_record(
    contract: VotesContract, records: int, concurrency: int
) -> dict[str, float]:
    """One transaction per record, ``concurrency`` in flight, every record on its own target."""
    batch = _records(records, records)
    gate = asyncio.Semaphore(concurrency)
    latencies: list[float] = []

    async def one(seq: int, record: VoteRecord) -> None:
        async with gate:
            t0 = time.perf_counter()
            result = await contract.record_batch(seq, batch_root([record]), [record])
            latencies.append(time.perf_counter() - t0)
            assert result.recorded == [str(record.vote_id)], result

    started = time.perf_counter()
    await asyncio.gather(*(one(seq, r) for seq, r in enumerate(batch, start=1)))
    elapsed = time.perf_counter() - started
    return {
        "records": records,
        "concurrency": concurrency,
        "records_per_s": records / elapsed,
        "tx_p50_ms": _percentile(latencies, 0.5) * 1000,
        "tx_p99_ms": _percentile(latencies, 0.99) * 1000,
    }


async def bench_lag(
    profile: Path, pg: EmbeddedPostgres, nats_url: str, rate: float, seconds: float
) -> dict[str, float]:
    """Open-loop ``vote.cast`` events through the batching consumer onto Fabric."""
    pg.create_database("bench_fabric_lag")
    url = to_asyncpg_url(pg.dsn("bench_fabric_lag"))
    await asyncio.to_thread(upgrade, MIGRATIONS, url)
    settings = LedgerSettings(
        environment="test",
        database_url=url,
        nats_url=nats_url,
        backend="fabric",
        fabric_profile=profile,
    )
    backend = FabricBackend.connect(str(profile))
    engine = create_engine(url)
    sessions = create_sessionmaker(engine)
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await nats_mod.ensure_streams(js)
    consumer = records_consumer(bootstrap(settings, backend=backend), sessions, js)
    await consumer.setup()
    stop = asyncio.Event()
    running = asyncio.create_task(consumer.run(stop))
    published: dict[uuid.UUID, float] = {}
    seen: dict[uuid.UUID, float] = {}
    batch_of: dict[uuid.UUID, int] = {}
    targets = [uuid.uuid4() for _ in range(TARGETS)]
    total = int(rate * seconds)

    async def publish() -> None:
        start = time.perf_counter()
        for i in range(total):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            event = vote_cast(targets[i % TARGETS])
            envelope = to_envelope(event)
            published[event.vote_id] = time.perf_counter()
            await js.publish(
                event.subject_name(),
                json.dumps(envelope.model_dump(mode="json")).encode(),
                headers={"Nats-Msg-Id": envelope.id},
            )

    async def watch() -> None:
        conn = await asyncpg.connect(pg.dsn("bench_fabric_lag"))
        try:
            next_index = 0
            deadline = time.perf_counter() + seconds + 120
            while len(seen) < total and time.perf_counter() < deadline:
                rows = await conn.fetch(
                    "SELECT leaf_index, vote_id, batch_seq FROM ledger_records "
                    "WHERE leaf_index >= $1 ORDER BY leaf_index",
                    next_index,
                )
                now = time.perf_counter()
                for row in rows:
                    seen[row["vote_id"]] = now
                    batch_of[row["vote_id"]] = row["batch_seq"]
                if rows:
                    next_index = rows[-1]["leaf_index"] + 1
                await asyncio.sleep(0.01)
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(publish(), watch())
    elapsed = time.perf_counter() - started
    stop.set()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(running, timeout=60)
    await nc.close()
    await engine.dispose()
    await backend.aclose()
    lags = [(seen[v] - published[v]) * 1000 for v in published if v in seen]
    sizes: dict[int, int] = {}
    for seq in batch_of.values():
        sizes[seq] = sizes.get(seq, 0) + 1
    return {
        "offered": rate,
        "votes": total,
        "anchored": len(lags),
        "p50_ms": _percentile(lags, 0.5),
        "p99_ms": _percentile(lags, 0.99),
        "max_ms": max(lags),
        "batches": len(sizes),
        "mean_batch": sum(n * n for n in sizes.values()) / max(1, sum(sizes.values())),
        "elapsed_s": elapsed,
    }


def write_report(command: str, results: dict[str, Any]) -> None:
    batched = results["batched"]
    single = results["per_record"]
    lag = results["lag"]
    best = max(b["records_per_s"] for b in batched)
    sequential = max(b["records_per_s"] for b in batched if b["in_flight"] == 1)
    rows = "\n".join(
        f"| {b['size']} records per transaction, {b['in_flight']} in flight ({b['records']:,} records) | "
        f"{b['records_per_s']:,.0f} | {b['tx_per_s']:,.1f} | {b['tx_p50_ms']:,.0f} / {b['tx_p99_ms']:,.0f} |"
        for b in batched
    )
    section = f"""{BEGIN}
## Ledger on Hyperledger Fabric: batched vs one transaction per vote, and the receipt lag

Command: `{command}` — run on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores shared
by everything, {platform.python_implementation()} {platform.python_version()}. One network for
every figure (deploy/fabric/fabric.sh: Fabric {results["fabric_version"]}, one Raft orderer with a
{results["batch_timeout"]} block timeout, one peer each for SeoulCityMSP and CitizenAuditMSP, the Go `votes`
chaincode as a service, endorsement policy both organisations), all on loopback with TLS; the
client is ledger-svc's Python gateway client (`ledger_svc.fabric`). Each transaction is endorsed
by both peers, ordered, and waited for until it is committed in a block.

| workload | records/s | tx/s | tx latency p50 / p99 (ms) |
|---|---|---|---|
{rows}
| 1 record per transaction, {single["concurrency"]} in flight ({single["records"]:,} records, one target each) | {single["records_per_s"]:,.0f} | {single["records_per_s"]:,.0f} | {single["tx_p50_ms"]:,.0f} / {single["tx_p99_ms"]:,.0f} |

Batching anchors **{best / single["records_per_s"]:,.1f}x** as many records per second as one
transaction per vote at its best (every transaction on keys of its own: votes on one proposal
sent concurrently would also conflict on its counter and be invalidated as MVCC read conflicts),
and **{sequential / single["records_per_s"]:,.1f}x** with one batch at a time, as ledger-svc's single
writer submits them (each transaction waits about one block timeout for its block, so one batch
in flight is bounded by the batch size over that time).

Vote→anchored-receipt lag through the batching consumer (`ledger-svc consume`, defaults
`LEDGER_BATCH_MAX=200`, `LEDGER_BATCH_MS=200`) with {lag["offered"]:,.0f} `vote.cast` events/s offered
open-loop for {lag["votes"] / lag["offered"]:,.0f} s ({lag["anchored"]:,} of {lag["votes"]:,} anchored,
{lag["batches"]:,} Fabric transactions, {lag["mean_batch"]:,.0f} records per batch on average, weighted by
record): from publication to the record's visibility in ledger-svc's database (its receipt can be
served, its batch committed in a Fabric block first): **p50 {lag["p50_ms"]:,.0f} ms, p99
{lag["p99_ms"]:,.0f} ms**, max {lag["max_ms"]:,.0f} ms.
{END}"""
    replace_section(REPORT, BEGIN, END, section, empty=BENCHMARKS_HEADER)


def _fabric_setting(name: str, default: str) -> str:
    script = (ROOT / "deploy" / "fabric" / "fabric.sh").read_text()
    for line in script.splitlines():
        if line.startswith(f"{name}="):
            value = line.split("=", 1)[1].strip('"')
            return value.split(":-", 1)[1].rstrip("}") if ":-" in value else value
    return default


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=20_000, help="records per batched run")
    parser.add_argument("--batch-sizes", type=int, nargs="+", default=[100, 200, 500])
    parser.add_argument("--single", type=int, default=2_000, help="records sent one per tx")
    parser.add_argument("--concurrency", type=int, default=64, help="single txs in flight")
    parser.add_argument("--batch-in-flight", type=int, default=8, help="batches in flight")
    parser.add_argument("--rate", type=float, default=300.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--no-report", action="store_true", help="print, do not write the doc")
    args = parser.parse_args()
    network = FabricNetwork(
        home=ROOT / ".data" / "fabric-bench",
        port_offset=400,
        log=ROOT / ".data" / "fabric-bench.log",
    )
    await asyncio.to_thread(network.up)
    results: dict[str, Any] = {
        "fabric_version": _fabric_setting("FABRIC_VERSION", "?"),
        "batch_timeout": os.environ.get("FABRIC_BATCH_TIMEOUT")
        or _fabric_setting("FABRIC_BATCH_TIMEOUT", "?"),
    }
    try:
        gateway = Gateway(load_profile(network.profile))
        contract = VotesContract(gateway)
        try:
            results["batched"] = []
            for in_flight in sorted({1, args.batch_in_flight}):
                for size in args.batch_sizes:
                    result = await bench_batched(contract, args.records, size, in_flight)
                    print(f"batches of {size}, {in_flight} in flight: {result}")  # noqa: T201
                    results["batched"].append(result)
            results["per_record"] = await bench_per_record(contract, args.single, args.concurrency)
            print(f"one per tx: {results['per_record']}")  # noqa: T201
        finally:
            await gateway.close()
        with tempfile.TemporaryDirectory(prefix="bench-fabric-", dir="/var/tmp") as tmp:
            pg = EmbeddedPostgres(Path(tmp) / "pg", free_port())
            server = EmbeddedNats(Path(tmp) / "nats", free_port(), free_port())
            with pg, server:
                results["lag"] = await bench_lag(
                    network.profile, pg, server.url, args.rate, args.seconds
                )
        print(f"lag: {results['lag']}")  # noqa: T201
    finally:
        await asyncio.to_thread(network.down)
    if not args.no_report:
        command = " ".join(["python tests/bench/bench_fabric.py", *sys.argv[1:]])
        write_report(command, results)


if __name__ == "__main__":
    asyncio.run(main())
