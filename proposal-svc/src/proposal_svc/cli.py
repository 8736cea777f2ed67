"""``proposal-svc`` command line: migrate, relay, consume, tick."""

from __future__ import annotations

import argparse
import asyncio
import logging
import uuid
from pathlib import Path

from nats.js import JetStreamContext
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc import service, similarity
from proposal_svc.config import get_settings
from proposal_svc.consumers import consumers
from proposal_svc.models import Proposal
from proposal_svc.service import ProposalContext
from services.bootstrap import ServiceContext
from services.cli import service_cli
from services.clock import SystemClock
from services.db import create_engine, create_sessionmaker, transaction
from services.worker import Worker

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


async def _tick_loop(
    _: object, sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, stop: asyncio.Event
) -> None:
    settings = get_settings()
    ctx = ProposalContext(settings=settings, clock=SystemClock())
    while not stop.is_set():
        try:
            async with transaction(sessions) as session:
                result = await service.tick(session, ctx)
            if any(vars(result).values()):
                log.info("tick: %s", vars(result))
        except Exception:
            log.exception("tick failed; retrying")
        try:
            await asyncio.wait_for(stop.wait(), timeout=settings.tick_seconds)
        except TimeoutError:
            pass


async def _reindex(batch: int) -> int:
    settings = get_settings()
    engine = create_engine(settings.database_url, pool_size=1, max_overflow=0)
    sessions = create_sessionmaker(engine)
    done = 0
    last: uuid.UUID | None = None
    try:
        while True:
            async with transaction(sessions) as session:
                query = select(Proposal).order_by(Proposal.id).limit(batch).with_for_update()
                if last is not None:
                    query = query.where(Proposal.id > last)
                rows = (await session.scalars(query)).all()
                for proposal in rows:
                    proposal.lemmas, proposal.search_text = await asyncio.to_thread(
                        similarity.index_fields, proposal.title, proposal.body
                    )
            if not rows:
                return done
            done += len(rows)
            last = rows[-1].id
    finally:
        await engine.dispose()


def reindex(args: argparse.Namespace) -> int:
    """Recompute every proposal's search fields (after a Kiwi upgrade or a dictionary change)."""
    count = asyncio.run(_reindex(args.batch))
    print(f"reindexed {count} proposals")  # noqa: T201
    return 0


def _extra(sub: argparse._SubParsersAction[argparse.ArgumentParser], _: object) -> None:
    parser = sub.add_parser("reindex", help="recompute the similar-proposal search fields")
    parser.add_argument("--batch", type=int, default=500)
    parser.set_defaults(func=reindex)


_main = service_cli(
    prog="proposal-svc",
    bootstrap=lambda: ServiceContext(get_settings(), SystemClock()),
    migrations_dir=MIGRATIONS,
    consumers=lambda ctx, sessions, js: consumers(sessions, js),
    workers={"tick": Worker("run the time-driven transitions", _tick_loop)},
    extra=_extra,
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``proposal-svc`` script."""
    return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
