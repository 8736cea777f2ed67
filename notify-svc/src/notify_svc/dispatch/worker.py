"""The ``notify-svc send`` process: the dispatcher built from the service's context."""

from __future__ import annotations

import asyncio
import logging

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify_svc.bootstrap import NotifyContext
from notify_svc.directory import HttpDirectory
from notify_svc.dispatch.dispatcher import Dispatcher, crash_after_send_hook
from notify_svc.dispatch.providers import describe
from notify_svc.registry import build_providers

log = logging.getLogger(__name__)


async def send_body(
    ctx: NotifyContext,
    sessions: async_sessionmaker[AsyncSession],
    js: JetStreamContext,
    stop: asyncio.Event,
) -> None:
    """Run the dispatcher until ``stop`` is set, with the configured providers and the signed
    directory of identity-svc, vote-svc and proposal-svc (both closed when it ends)."""
    settings = ctx.settings
    directory = HttpDirectory(
        identity_url=settings.identity_url,
        vote_url=settings.vote_url,
        proposal_url=settings.proposal_url,
        key=settings.service_key_bytes,
        timeout=settings.directory_timeout_seconds,
    )
    try:
        async with build_providers(settings, sessions, clock=ctx.clock) as providers:
            dispatcher = Dispatcher(
                sessions,
                providers=providers,
                directory=directory,
                policy=ctx.policy,
                clock=ctx.clock,
                after_send=crash_after_send_hook() if settings.fault_crash_after_send else None,
            )
            log.info("dispatcher ready: %s", dict(describe(providers, ctx.policy)))
            await dispatcher.run(stop, idle=settings.send_idle_seconds)
    finally:
        await directory.aclose()
