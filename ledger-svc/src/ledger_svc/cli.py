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
from ledger_svc.verify import add_verify_command
from services.cli import service_cli
from services.db import create_engine, create_sessionmaker, transaction
from services.worker import run_worker

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def _context() -> LedgerContext:
    settings = get_settings()
    return LedgerContext(backend=build_backend(settings), kek=settings.kek)


async def _consume(
    sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, stop: asyncio.Event
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


def consume(_: argparse.Namespace) -> int:
    """Append vote records to the ledger in batches."""
    asyncio.run(run_worker(get_settings(), role="consumer", body=_consume))
    return 0


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
    sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, stop: asyncio.Event
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


def run_audit(_: argparse.Namespace) -> int:
    """Audit every active target periodically."""
    asyncio.run(run_worker(get_settings(), role="auditor", body=_audit_loop))
    return 0


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


def _extra(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("consume", help="append vote records in batches").set_defaults(func=consume)
    sub.add_parser("audit", help="run the periodic auditor").set_defaults(func=run_audit)
    sub.add_parser("rotate-keys", help="rotate the tree-head signing key").set_defaults(
        func=rotate_keys
    )
    add_verify_command(sub)
    add_fabric_options(sub.choices["verify-receipt"])


_main = service_cli(
    prog="ledger-svc", settings=get_settings, migrations_dir=MIGRATIONS, extra=_extra
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ledger-svc`` script."""
    return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
