"""Building the configured providers (composition root of the API and the workers)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify_svc.config import NotifySettings, ProviderName, RateLimit
from notify_svc.dispatch.providers import FindSent, Providers
from notify_svc.providers.base import NotifyProvider, OutboundMessage
from notify_svc.providers.dev import DevProvider
from notify_svc.providers.nhn_alimtalk import NhnAlimTalkProvider
from notify_svc.providers.nhn_sms import NhnSmsProvider
from notify_svc.providers.ratelimit import RateLimitedProvider, TokenBucket
from notify_svc.providers.solapi import SolapiProvider
from services.clock import Clock, SystemClock


def _limit(settings: NotifySettings, name: str) -> RateLimit:
    return settings.rate_limits.get(name, settings.default_rate_limit)


def _nhn_alimtalk(
    settings: NotifySettings,
    http: httpx.AsyncClient,
    clock: Clock,
    finders: dict[str, FindSent],
) -> NhnAlimTalkProvider:
    alimtalk = NhnAlimTalkProvider(
        app_key=settings.nhn_alimtalk_app_key,
        secret_key=settings.nhn_alimtalk_secret_key.get_secret_value(),
        sender_key=settings.nhn_alimtalk_sender_key,
        client=http,
        base_url=settings.nhn_alimtalk_base_url,
        webhook_secret=settings.nhn_alimtalk_webhook_secret.get_secret_value(),
        clock=clock.now,
    )

    async def find_alimtalk(message: OutboundMessage) -> str | None:
        # A message retried alone may have gone out in a bulk request, whose key is not its
        # own: look it up by its grouping key first (dispatch/claims.py).
        return await alimtalk.find_sent(message.idempotency_key)

    finders[alimtalk.name] = find_alimtalk
    return alimtalk


@contextlib.asynccontextmanager
async def build_providers(
    settings: NotifySettings,
    sessions: async_sessionmaker[AsyncSession],
    *,
    client: httpx.AsyncClient | None = None,
    clock: Clock | None = None,
) -> AsyncIterator[Providers]:
    """The providers of ``settings``, each behind its token bucket; their HTTP client closes
    when the block ends. ``client`` replaces the HTTP client (tests pass a MockTransport);
    ``clock`` is the service's (the system's by default)."""
    clock = clock or SystemClock()
    own_client = client is None
    http = client or httpx.AsyncClient(trust_env=False)
    built: dict[str, NotifyProvider] = {}
    finders: dict[str, FindSent] = {}

    def make(kind: ProviderName, channel: str) -> NotifyProvider:
        # One instance per provider (Solapi or dev may carry both channels).
        key = f"nhn_{channel}" if kind == "nhn" else kind
        if key in built:
            return built[key]
        provider: Any
        if kind == "dev":
            provider = DevProvider(
                sessions,
                webhook_secret=settings.dev_webhook_secret.get_secret_value(),
                clock=clock,
            )
        elif key == "nhn_alimtalk":
            provider = _nhn_alimtalk(settings, http, clock, finders)
        elif kind == "nhn":
            sms = NhnSmsProvider(
                app_key=settings.nhn_sms_app_key,
                secret_key=settings.nhn_sms_secret_key.get_secret_value(),
                send_no=settings.nhn_sms_send_no,
                client=http,
                base_url=settings.nhn_sms_base_url,
                webhook_secret=settings.nhn_sms_webhook_secret.get_secret_value(),
                clock=clock.now,
            )

            async def find_sms(message: OutboundMessage) -> str | None:
                return await sms.find_sent(message.idempotency_key, message.channel)

            finders[sms.name] = find_sms
            provider = sms
        else:
            provider = SolapiProvider(
                api_key=settings.solapi_api_key,
                api_secret=settings.solapi_api_secret.get_secret_value(),
                sender=settings.solapi_sender,
                pf_id=settings.solapi_pf_id,
                client=http,
                base_url=settings.solapi_base_url,
                template_ids=settings.solapi_template_ids,
                webhook_secret=settings.solapi_webhook_secret.get_secret_value(),
                clock=clock.now,
            )
        limit = _limit(settings, provider.name)
        limited = RateLimitedProvider(
            provider, TokenBucket(limit.rate, limit.burst), bulk=settings.bulk_send
        )
        built[key] = limited
        return limited

    try:
        alimtalk = make(settings.alimtalk, "alimtalk")
        sms = make(settings.sms, "sms")
        yield Providers(alimtalk, sms, finders=finders)
    finally:
        if own_client:
            await http.aclose()
