"""``ledger-svc`` command line: migrate, relay, consume, audit, rotate-keys, verify-receipt."""

from __future__ import annotations

import argparse
import asyncio
import functools
from collections.abc import Callable
from pathlib import Path

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ledger_svc import audit, keys
from ledger_svc.bootstrap import LedgerContext, bootstrap
from ledger_svc.consumers import consumers
from ledger_svc.fabric.receipts import add_fabric_options
from ledger_svc.verify_cli import add_verify_command
from services.cli import service_cli
from services.db import create_engine, create_sessionmaker, transaction
from services.periodic import periodic
from services.worker import Worker, WorkerBody, consumers_body

MIGRATIONS = Path(__file__).parent / "migrations"


def _closing_backend(body: WorkerBody[LedgerContext]) -> WorkerBody[LedgerContext]:
    """``body``, then the backend's connections closed (the worker's context built it)."""

    async def run(
        ctx: LedgerContext,
        sessions: async_sessionmaker[AsyncSession],
        js: JetStreamContext,
        stop: asyncio.Event,
    ) -> None:
        try:
            await body(ctx, sessions, js, stop)
        finally:
            await ctx.backend.aclose()

    return run


async def _auditor(
    ctx: LedgerContext,
    sessions: async_sessionmaker[AsyncSession],
    js: JetStreamContext,
    stop: asyncio.Event,
) -> None:
    """An audit round every ``LEDGER_AUDIT_INTERVAL_SECONDS`` until stopped."""
    votes = audit.VoteServiceClient(ctx.settings.vote_url)
    try:
        await periodic(
            stop,
            ctx.settings.audit_interval_seconds,
            functools.partial(audit.logged_audit_round, ctx, sessions, votes),
            name="audit round",
        )
    finally:
        await votes.aclose()


async def _rotate(ctx: LedgerContext) -> str:
    engine = create_engine(ctx.settings.database_url, pool_size=1, max_overflow=0)
    try:
        async with transaction(create_sessionmaker(engine)) as session:
            return await keys.rotate(session, ctx)
    finally:
        await engine.dispose()
        await ctx.backend.aclose()


def _extra(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    make_context: Callable[[], LedgerContext],
) -> None:
    def rotate_keys(_: argparse.Namespace) -> int:
        """Start signing tree heads with a new key (the old one stays published)."""
        print(f"new tree-head key {asyncio.run(_rotate(make_context()))}")  # noqa: T201
        return 0

    sub.add_parser("rotate-keys", help="rotate the tree-head signing key").set_defaults(
        func=rotate_keys
    )
    add_verify_command(sub)
    add_fabric_options(sub.choices["verify-receipt"])


_main = service_cli(
    prog="ledger-svc",
    bootstrap=bootstrap,
    migrations_dir=MIGRATIONS,
    workers={
        "consume": Worker(
            "append vote records in batches", _closing_backend(consumers_body(consumers))
        ),
        "audit": Worker("run the periodic auditor", _closing_backend(_auditor)),
    },
    extra=_extra,
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``ledger-svc`` script."""
    return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
