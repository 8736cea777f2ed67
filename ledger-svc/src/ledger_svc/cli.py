"""``ledger-svc`` command line: migrate, relay, consume, audit, rotate-keys, verify-receipt."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ledger_svc import audit, keys
from ledger_svc.backend import BackendUnavailable
from ledger_svc.config import get_settings
from ledger_svc.consumers import BatchConsumer
from ledger_svc.fabric.receipts import add_fabric_options
from ledger_svc.ledger import LedgerContext
from ledger_svc.main import build_backend
from ledger_svc.verify_cli import add_verify_command
from services.bootstrap import ServiceContext
from services.cli import service_cli
from services.clock import SystemClock
from services.db import create_engine, create_sessionmaker, transaction
from services.worker import Worker

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def _context() -> LedgerContext:
    settings = get_settings()
    return LedgerContext(backend=build_backend(settings), kek=settings.kek)


async def _consume(
    _: object, sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, stop: asyncio.Event
) -> None:
    settings = get_settings()
    ctx = _context()
    consumer = BatchConsumer(
        sessions=sessions,
        js=js,
        ctx=ctx,
        batch_max=settings.batch_max,
        batch_ms=settings.batch_ms,
    )
    try:
        await consumer.setup()
        await consumer.run(stop)
    finally:
        await ctx.backend.aclose()


async def audit_round(
    sessions: async_sessionmaker[AsyncSession],
    votes: audit.VoteServiceClient,
    ctx: LedgerContext | None = None,
) -> int:
    """One round: the ledger's integrity, then every active target; returns the mismatches."""
    settings = get_settings()
    ctx = ctx or _context()
    mismatches = 0
    async with transaction(sessions) as session:
        mismatches += not (await audit.audit_integrity(session)).consistent
        targets = await audit.active_targets(session, days=settings.audit_active_days)
    for target in targets:
        async with transaction(sessions) as session:
            mismatches += not (await audit.audit_target(session, ctx, votes, target)).consistent
    return mismatches


async def _audit_loop(
    _: object, sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, stop: asyncio.Event
) -> None:
    settings = get_settings()
    votes = audit.VoteServiceClient(settings.vote_url)
    ctx = _context()
    try:
        while not stop.is_set():
            try:
                found = await audit_round(sessions, votes, ctx)
                if found:
                    log.warning("audit: %d inconsistencies", found)
            except BackendUnavailable as exc:
                log.warning("audit: the ledger's backend is unreachable; next round: %s", exc)
            except Exception:
                log.exception("audit round failed; retrying next round")
            try:
                await asyncio.wait_for(stop.wait(), timeout=settings.audit_interval_seconds)
            except TimeoutError:
                pass
    finally:
        await votes.aclose()
        await ctx.backend.aclose()


async def _rotate() -> str:
    settings = get_settings()
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            return await keys.rotate(session, settings.kek)
    finally:
        await engine.dispose()


def rotate_keys(_: argparse.Namespace) -> int:
    """Start signing tree heads with a new key (the old one stays published)."""
    print(f"new tree-head key {asyncio.run(_rotate())}")  # noqa: T201
    return 0


def _extra(sub: argparse._SubParsersAction[argparse.ArgumentParser], _: object) -> None:
    sub.add_parser("rotate-keys", help="rotate the tree-head signing key").set_defaults(
        func=rotate_keys
    )
    add_verify_command(sub)
    add_fabric_options(sub.choices["verify-receipt"])


_main = service_cli(
    prog="ledger-svc",
    bootstrap=lambda: ServiceContext(get_settings(), SystemClock()),
    migrations_dir=MIGRATIONS,
    workers={
        "consume": Worker("append vote records in batches", _consume),
        "audit": Worker("run the periodic auditor", _audit_loop),
    },
    extra=_extra,
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ledger-svc`` script."""
    return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
