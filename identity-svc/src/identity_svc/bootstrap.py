"""identity-svc's composition root: the one place that reads the settings and builds what the use
cases need (providers, peppers, keys, lifetimes, the clock). The API, the workers and the command
line all receive the :class:`IdentityContext` that :func:`bootstrap` returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from identity_svc.config import IdentitySettings, get_settings
from identity_svc.keys import KeyRing
from identity_svc.providers import (
    BarocertKakaoProvider,
    IdentityProvider,
    PortOneProvider,
    ProviderRegistry,
    SandboxProvider,
)
from services.bootstrap import ServiceContext
from services.clock import Clock, SystemClock


@dataclass(frozen=True)
class IdentityContext(ServiceContext[IdentitySettings]):
    """What identity-svc's use cases need besides the session. The secrets are left out of the
    ``repr`` (a context may end up in a log line or a traceback)."""

    providers: ProviderRegistry
    #: HMAC key of ``citizens.ci_hmac``.
    ci_pepper: str = field(repr=False)
    #: HMAC key of the per-provider DI hashes.
    di_pepper: str = field(repr=False)
    #: Encrypts the token-signing private keys at rest.
    kek: bytes = field(repr=False)
    #: Encrypts citizens' phone numbers at rest.
    contact_key: bytes = field(repr=False)
    access_token_ttl: timedelta
    refresh_token_ttl: timedelta
    verification_ttl: timedelta
    #: How long a retired signing key stays published: its own grace period plus the lifetime of
    #: the last access token it signed.
    retired_key_grace: timedelta
    #: Honour the roles a sandbox persona asks for (dev/test only).
    sandbox_roles: bool

    def key_ring(self, sessions: async_sessionmaker[AsyncSession]) -> KeyRing:
        """The per-process cache of the signing keys, reading through ``sessions`` (built by the
        process that owns the database engine, the API's lifespan)."""
        return KeyRing(sessions, self.kek, grace=self.retired_key_grace, clock=self.clock)


def build_providers(
    settings: IdentitySettings,
    *,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ProviderRegistry:
    """The providers this deployment offers: each real one whose settings are complete, the
    sandbox ones never in production. The real ones share one HTTP client (over ``transport``
    if given: tests simulate the providers with ``httpx.MockTransport``)."""
    clock = clock or SystemClock()
    providers: list[IdentityProvider] = []
    if settings.sandbox_active:
        providers += [SandboxProvider("sandbox"), SandboxProvider("sandbox_pass")]
    if not (settings.portone_active or settings.barocert_active):
        return ProviderRegistry(providers)
    client = httpx.AsyncClient(transport=transport, timeout=settings.provider_timeout_seconds)
    if settings.portone_active and settings.portone_api_secret is not None:
        providers.append(
            PortOneProvider(
                client=client,
                api_url=settings.portone_api_url,
                api_secret=settings.portone_api_secret,
                store_id=str(settings.portone_store_id),
                channel_key=str(settings.portone_channel_key),
            )
        )
    if settings.barocert_active and settings.barocert_secret_key is not None:
        providers.append(
            BarocertKakaoProvider(
                client=client,
                api_url=settings.barocert_api_url,
                auth_url=settings.barocert_auth_url,
                link_id=str(settings.barocert_link_id),
                secret_key=settings.barocert_secret_key,
                client_code=str(settings.barocert_client_code),
                request_title=settings.barocert_request_title,
                expire_in=settings.verification_ttl_seconds,
                app_return_url=settings.barocert_app_return_url,
                clock=clock.now,
            )
        )
    return ProviderRegistry(providers, client)


def bootstrap(
    settings: IdentitySettings | None = None,
    *,
    clock: Clock | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> IdentityContext:
    """Build identity-svc's context from ``settings`` (default: the environment's) and ``clock``
    (default: the system's); the identity providers' HTTP calls go over ``transport`` (default:
    the network)."""
    settings = settings or get_settings()
    clock = clock or SystemClock()
    access_ttl = timedelta(seconds=settings.access_token_ttl_seconds)
    return IdentityContext(
        settings=settings,
        clock=clock,
        providers=build_providers(settings, clock=clock, transport=transport),
        ci_pepper=settings.ci_pepper.get_secret_value(),
        di_pepper=settings.di_pepper.get_secret_value(),
        kek=settings.kek,
        contact_key=settings.contact_key_bytes,
        access_token_ttl=access_ttl,
        refresh_token_ttl=timedelta(seconds=settings.refresh_token_ttl_seconds),
        verification_ttl=timedelta(seconds=settings.verification_ttl_seconds),
        retired_key_grace=timedelta(seconds=settings.retired_key_grace_seconds) + access_ttl,
        sandbox_roles=settings.sandbox_roles,
    )
