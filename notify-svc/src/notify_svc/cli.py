"""``notify-svc`` command line: migrate, relay (outbox), consume (events → planned messages),
send (the dispatcher)."""

from __future__ import annotations

import asyncio
import logging
from datetime import time, timedelta
from pathlib import Path

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify_svc import templates
from notify_svc.config import NotifySettings, get_settings
from notify_svc.consumers import build_consumers
from notify_svc.directory import HttpDirectory
from notify_svc.dispatcher import (
    Dispatcher,
    DispatchPolicy,
    crash_after_send_hook,
    describe,
)
from notify_svc.quiet import QuietHours
from notify_svc.registry import build_providers
from services.bootstrap import ServiceContext
from services.cli import service_cli
from services.clock import SystemClock
from services.worker import Worker

MIGRATIONS = Path(__file__).parent / "migrations"
log = logging.getLogger(__name__)


def policy(settings: NotifySettings) -> DispatchPolicy:
    """The dispatcher's numbers from the settings."""
    return DispatchPolicy(
        batch_size=settings.send_batch_size,
        concurrency=settings.send_concurrency,
        lease=timedelta(seconds=settings.send_lease_seconds),
        max_attempts=settings.max_attempts,
        retry_base=settings.retry_base_seconds,
        retry_max=settings.retry_max_seconds,
        confirm_after=settings.confirm_after_seconds,
        quiet=QuietHours(time(settings.quiet_start_hour), time(settings.quiet_end_hour)),
    )


async def _send_loop(
    _: object, sessions: async_sessionmaker[AsyncSession], js: JetStreamContext, stop: asyncio.Event
) -> None:
    settings = get_settings()
    directory = HttpDirectory(
        identity_url=settings.identity_url,
        vote_url=settings.vote_url,
        key=settings.service_key_bytes,
        timeout=settings.directory_timeout_seconds,
    )
    try:
        async with build_providers(settings, sessions) as providers:
            rules = policy(settings)
            dispatcher = Dispatcher(
                sessions,
                providers=providers,
                directory=directory,
                policy=rules,
                after_send=crash_after_send_hook() if settings.fault_crash_after_send else None,
            )
            log.info("dispatcher ready: %s", dict(describe(providers, rules)))
            await dispatcher.run(stop, idle=settings.send_idle_seconds)
    finally:
        await directory.aclose()


_main = service_cli(
    prog="notify-svc",
    bootstrap=lambda: ServiceContext(get_settings(), SystemClock()),
    migrations_dir=MIGRATIONS,
    consumers=lambda ctx, sessions, js: build_consumers(sessions, js),
    workers={"send": Worker("run the dispatcher (sends messages)", _send_loop)},
)


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``notify-svc`` script. The AlimTalk templates are checked first:
    a template Kakao would refuse stops every command."""
    templates.validate_all()
    return _main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
