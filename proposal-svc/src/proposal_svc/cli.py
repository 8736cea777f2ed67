"""``proposal-svc`` command line: migrate, relay, consume, tick, reindex."""

from __future__ import annotations

import argparse
import asyncio
import logging
from collections.abc import Callable
from pathlib import Path

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc.bootstrap import ProposalContext, bootstrap
from proposal_svc.consumers import build_consumers
from proposal_svc.opendata import snapshots
from proposal_svc.service import proposals, tick
from services.cli import service_cli
from services.db import create_engine, create_sessionmaker, transaction
from services.periodic import periodic
from services.worker import Worker

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


async def _tick_loop(
    ctx: ProposalContext,
    sessions: async_sessionmaker[AsyncSession],
    _: JetStreamContext,
    stop: asyncio.Event,
) -> None:
    async def once() -> None:
        async with transaction(sessions) as session:
            result = await tick.tick(session, ctx)
        if any(vars(result).values()):
            log.info("tick: %s", vars(result))

    async def snapshot() -> None:
        await snapshots.snapshot_round(sessions, ctx)

    # The daily open-data snapshot rides along (docs/open-data.md): one check every
    # PROPOSAL_OPEN_DATA_SNAPSHOT_CHECK_SECONDS, a write once a day.
    await asyncio.gather(
        periodic(stop, ctx.settings.tick_seconds, once, name="tick"),
        periodic(
            stop,
            ctx.settings.open_data_snapshot_check_seconds,
            snapshot,
            name="open-data snapshot",
        ),
    )


async def _reindex(ctx: ProposalContext, batch: int) -> int:
    # One connection is enough: the batches run one after the other.
    engine = create_engine(ctx.settings.database_url, pool_size=1, max_overflow=0)
    try:
        return await proposals.reindex(create_sessionmaker(engine), batch=batch)
    finally:
        await engine.dispose()


def _extra(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    make_ctx: Callable[[], ProposalContext],
) -> None:
    parser = sub.add_parser("reindex", help="recompute the similar-proposal search fields")
    parser.add_argument("--batch", type=int, default=500)

    def reindex(args: argparse.Namespace) -> int:
        """Recompute every proposal's search fields (after a Kiwi upgrade or a dictionary
        change)."""
        count = asyncio.run(_reindex(make_ctx(), args.batch))
        print(f"reindexed {count} proposals")  # noqa: T201
        return 0

    parser.set_defaults(func=reindex)


_main = service_cli(
    prog="proposal-svc",
    bootstrap=bootstrap,
    migrations_dir=MIGRATIONS,
    consumers=build_consumers,
    workers={
        "tick": Worker(
            "run the time-driven transitions and write the daily open-data snapshot", _tick_loop
        )
    },
    extra=_extra,
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``proposal-svc`` script."""
    return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
