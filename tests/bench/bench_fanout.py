"""Fan-out benchmark: how long notify-svc's dispatcher takes to tell a proposal's followers, and
how many requests it makes to the provider, with and without NHN AlimTalk's bulk sends.

Run with ``python tests/bench/bench_fanout.py`` (``make bench`` runs it too). It

1. starts an embedded PostgreSQL (notify-svc's migrations) and, in a process of its own on
   127.0.0.1, the **simulated** outside world: NHN Cloud AlimTalk v2.3's send endpoint as its
   guide documents it (``recipientList`` in, one ``sendResults`` entry per recipient out, after
   ``--latency-ms`` per request), and stand-ins of proposal-svc's followers endpoint and
   identity-svc's contact endpoint, both checking notify-svc's signed requests;
2. for each configuration, on a fresh database: records the fan-out of one
   ``proposal.threshold_reached`` to ``--followers`` followers (the recipient job the consumer
   writes), then runs notify-svc's real dispatcher (``Dispatcher.run_once`` rounds, providers
   from ``build_providers`` with the configuration's settings, the signed ``HttpDirectory``)
   until every message is ``sent``;
3. writes the figures to docs/BENCHMARKS.md (between the ``fanout`` markers).

The dispatcher's clock is fixed at noon KST (outside quiet hours); the token bucket, HTTP and the
database run in real time. Nothing here asserts a time: figures are measured and recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Final

import httpx
from bench_report import BENCHMARKS_HEADER, replace_section
from fastapi import Depends, FastAPI, Request
from sqlalchemy import func, select

from notify_svc.config import NotifySettings, RateLimit
from notify_svc.directory import HttpDirectory
from notify_svc.dispatch.dispatcher import Dispatcher
from notify_svc.dispatch.policy import DispatchPolicy
from notify_svc.models import Notification
from notify_svc.registry import build_providers
from notify_svc.service import planning
from notify_svc.service.planning import Message
from services.clock import ManualClock
from services.db import create_engine, create_sessionmaker, transaction
from services.internal_auth import DEV_NOTIFY_SERVICE_KEY, decode_service_key, require_service
from services.paging import decode_cursor, encode_cursor
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing.plugin import clone_database, migrated_template
from services_dev.testing.servers import free_port

ROOT: Final = Path(__file__).resolve().parents[2]
REPORT: Final = ROOT / "docs" / "BENCHMARKS.md"
MIGRATIONS: Final = ROOT / "notify-svc" / "src" / "notify_svc" / "migrations"
MARK_BEGIN: Final = "<!-- fanout:begin -->"
MARK_END: Final = "<!-- fanout:end -->"
#: Noon in Seoul: outside quiet hours.
NOON_KST: Final = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
#: A request signed by notify-svc (the stand-ins check it as the real services do).
NotifyCaller = Annotated[str, Depends(require_service("notify-svc"))]
#: The followers' ids, the same in both processes.
_NAMESPACE: Final = uuid.UUID("0e7f3f5a-3b7e-4f0e-9a53-6c1d2a4b5e60")


def follower_ids(count: int) -> list[uuid.UUID]:
    return sorted(uuid.uuid5(_NAMESPACE, str(i)) for i in range(count))


# --- the simulated outside world (a process of its own) --------------------------------------


def simulation_app(followers: int, latency: float) -> Any:
    """NHN AlimTalk's send endpoint, proposal-svc's followers and identity-svc's contacts."""
    app = FastAPI()
    app.state.internal_keys = {"notify-svc": decode_service_key(DEV_NOTIFY_SERVICE_KEY)}
    ids = follower_ids(followers)
    known = set(ids)
    stats = {"nhn_requests": 0, "nhn_recipients": 0, "contacts": 0, "follower_pages": 0}

    @app.post("/alimtalk/v2.3/appkeys/{app_key}/messages")
    async def send(app_key: str, request: Request) -> dict[str, Any]:
        body = await request.json()
        recipients = body["recipientList"]
        stats["nhn_requests"] += 1
        stats["nhn_recipients"] += len(recipients)
        await asyncio.sleep(latency)
        request_id = uuid.uuid4().hex[:20]
        return {
            "header": {"isSuccessful": True, "resultCode": 0, "resultMessage": "SUCCESS"},
            "message": {
                "requestId": request_id,
                "sendResults": [
                    {
                        "recipientSeq": seq,
                        "recipientNo": r["recipientNo"],
                        "resultCode": 0,
                        "resultMessage": "SUCCESS",
                        "recipientGroupingKey": r.get("recipientGroupingKey"),
                    }
                    for seq, r in enumerate(recipients, start=1)
                ],
            },
        }

    @app.get("/internal/v1/proposals/{proposal_id}/followers")
    async def page(
        proposal_id: uuid.UUID, _: NotifyCaller, cursor: str | None = None, limit: int = 100
    ) -> dict[str, Any]:
        stats["follower_pages"] += 1
        after = decode_cursor(cursor)
        rest = [i for i in ids if after is None or i > after]
        items = rest[:limit]
        more = len(rest) > limit
        return {
            "items": [{"citizen_id": str(i)} for i in items],
            "next_cursor": encode_cursor(items[-1]) if more else None,
        }

    @app.get("/internal/v1/citizens/{citizen_id}/contact")
    async def contact(citizen_id: uuid.UUID, _: NotifyCaller) -> dict[str, Any]:
        stats["contacts"] += 1
        number = f"010{int(citizen_id.hex[:8], 16) % 100_000_000:08d}"
        status = "active" if citizen_id in known else "unknown"
        return {"citizen_id": str(citizen_id), "phone": number, "status": status}

    @app.post("/stats/reset")
    async def reset() -> dict[str, int]:
        stats.update(dict.fromkeys(stats, 0))
        return stats

    @app.get("/stats")
    async def read() -> dict[str, int]:
        return stats

    return app


def serve_simulation(port: int, followers: int, latency: float) -> None:
    import uvicorn

    uvicorn.run(
        simulation_app(followers, latency), host="127.0.0.1", port=port, log_level="warning"
    )


# --- one configuration ------------------------------------------------------------------------


@dataclass(frozen=True)
class Config:
    label: str
    bulk_send: bool
    batch_size: int
    rate: float
    burst: int


async def run_config(
    pg: EmbeddedPostgres, template: str, sim: str, config: Config, followers: int
) -> dict[str, Any]:
    settings = NotifySettings(
        environment="test",
        database_url=await clone_database(pg, template),
        provider="nhn",
        nhn_alimtalk_app_key="bench-app",
        nhn_alimtalk_secret_key="bench-secret",
        nhn_alimtalk_sender_key="bench-sender",
        nhn_alimtalk_base_url=sim,
        nhn_sms_app_key="bench-sms",
        nhn_sms_secret_key="bench-sms-secret",
        nhn_sms_send_no="0212345678",
        nhn_sms_base_url=sim,
        bulk_send=config.bulk_send,
        send_batch_size=config.batch_size,
        default_rate_limit=RateLimit(rate=config.rate, burst=config.burst),
    )
    engine = create_engine(settings.database_url)
    sessions = create_sessionmaker(engine)
    clock = ManualClock(NOON_KST)
    directory = HttpDirectory(
        identity_url=sim, vote_url=sim, proposal_url=sim, key=settings.service_key_bytes
    )
    async with httpx.AsyncClient(base_url=sim, trust_env=False) as control:
        await control.post("/stats/reset")
        try:
            async with build_providers(settings, sessions, clock=clock) as providers:
                dispatcher = Dispatcher(
                    sessions,
                    providers=providers,
                    directory=directory,
                    policy=DispatchPolicy.from_settings(settings),
                    clock=clock,
                )
                async with transaction(sessions) as session:
                    # What the consumer records for a tier reached by a followed proposal.
                    await planning.add_recipient_job(
                        session,
                        event_id=uuid.uuid4(),
                        event_type="kr.seoul.democracy.proposal.threshold_reached.v1",
                        kind="proposal_followers",
                        params={"proposal_id": str(uuid.uuid4())},
                        message=Message(
                            "FOLLOWED_TIER_REACHED",
                            {
                                "제안제목": "따릉이 대여소를 늘려주세요",
                                "동의수": "1,000",
                                "의무": "시장 답변",
                                "기한": "2026-12-25",
                            },
                        ),
                        now=clock.now(),
                    )
                started = time.perf_counter()
                rounds = 0
                sent = 0
                while sent < followers:
                    if time.perf_counter() - started > 600:
                        raise RuntimeError(f"{config.label}: {sent} of {followers} sent")
                    await dispatcher.run_once()
                    rounds += 1
                    async with sessions() as session:
                        sent = int(
                            await session.scalar(
                                select(func.count())
                                .select_from(Notification)
                                .where(Notification.status == "sent")
                            )
                            or 0
                        )
                elapsed = time.perf_counter() - started
        finally:
            await directory.aclose()
            await engine.dispose()
        stats = (await control.get("/stats")).json()
    return {
        "label": config.label,
        "seconds": elapsed,
        "per_s": followers / elapsed,
        "rounds": rounds,
        **stats,
    }


def write_report(
    command: str, followers: int, latency_ms: float, rows: list[dict[str, Any]]
) -> None:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"| {r['label']} | {r['nhn_requests']:,} | {r['seconds']:.2f} s | {r['per_s']:,.0f}/s "
        f"| {r['rounds']} | {r['contacts']:,} | {r['follower_pages']} |"
        for r in rows
    ]
    table = "\n".join(lines)
    section = f"""{MARK_BEGIN}
## Notifications: one event to {followers:,} followers, bulk vs one request per message

Command: `{command}` — run on {when}, {os.cpu_count()} cores, CPython
{platform.python_version()}, notify-svc's dispatcher (one process, `NOTIFY_SEND_CONCURRENCY` 8)
on an embedded PostgreSQL, the simulated NHN AlimTalk API ({latency_ms:g} ms per request) and
stand-ins of proposal-svc (followers, pages of 100) and identity-svc (contacts) in another
process on 127.0.0.1. From the fan-out recorded to every message `sent`.

| configuration | requests to NHN | time | messages/s | dispatcher rounds | contact look-ups | follower pages |
|---|---|---|---|---|---|---|
{table}

Rate limit: the provider's token bucket (`NOTIFY_DEFAULT_RATE_LIMIT`, one token per request,
bulk or not); the shipped default is 20 requests/s with a burst of 20. The phone numbers are
still looked up one citizen at a time (identity-svc has no bulk contact endpoint), 8 at a time:
with bulk sends that is what the time is made of. The request counts are exact; the times were
taken on a machine shared with other work and vary from run to run.
{MARK_END}"""
    replace_section(REPORT, MARK_BEGIN, MARK_END, section, empty=BENCHMARKS_HEADER)


async def run_all(
    pg: EmbeddedPostgres, template: str, sim: str, configs: list[Config], followers: int
) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(trust_env=False) as probe:
        for _ in range(600):
            try:
                await probe.get(f"{sim}/stats")
                break
            except httpx.TransportError:
                await asyncio.sleep(0.1)
        else:
            raise RuntimeError(f"the simulation did not start on {sim}")
    rows: list[dict[str, Any]] = []
    for config in configs:
        row = await run_config(pg, template, sim, config, followers)
        print(json.dumps(row, ensure_ascii=False))  # noqa: T201
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--followers", type=int, default=1_000)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--serve-simulation", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_simulation:
        serve_simulation(args.serve_simulation, args.followers, args.latency_ms / 1000)
        return
    configs = [
        Config("one request per message (`NOTIFY_BULK_SEND=false`), defaults", False, 50, 20, 20),
        Config("one request per message, rate limit lifted (1,000/s)", False, 50, 1000, 1000),
        Config("bulk (`recipientList`), defaults (`NOTIFY_SEND_BATCH_SIZE=50`)", True, 50, 20, 20),
        Config("bulk, `NOTIFY_SEND_BATCH_SIZE=500`", True, 500, 20, 20),
    ]
    port = free_port()
    sim = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [
            sys.executable,
            __file__,
            "--serve-simulation",
            str(port),
            "--followers",
            str(args.followers),
            "--latency-ms",
            str(args.latency_ms),
        ]
    )
    try:
        with tempfile.TemporaryDirectory(prefix="bench-fanout-") as tmp:
            with EmbeddedPostgres(Path(tmp) / "pg", free_port()) as pg:
                template = migrated_template(pg, "notify_bench", MIGRATIONS)
                rows = asyncio.run(run_all(pg, template, sim, configs, args.followers))
    finally:
        server.terminate()
        server.wait(timeout=10)
    command = "python tests/bench/bench_fanout.py" + (
        " " + " ".join(sys.argv[1:]) if sys.argv[1:] else ""
    )
    write_report(command, args.followers, args.latency_ms, rows)
    print(f"wrote {REPORT.relative_to(ROOT)}")  # noqa: T201


if __name__ == "__main__":
    main()
