"""Service settings: one pydantic-settings class per service, each with its own env prefix."""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["dev", "test", "production"]


class ServiceSettings(BaseSettings):
    """Settings every service has. Subclass with ``model_config = service_config("VOTE_")``."""

    model_config = SettingsConfigDict(extra="ignore")

    service_name: str = "service"
    environment: Environment = "dev"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:55432/postgres"
    nats_url: str = "nats://127.0.0.1:4222"
    #: Replicas of each JetStream stream (3 on a 3-node production cluster; 1 locally).
    nats_stream_replicas: int = Field(default=1, ge=1, le=5)
    port: int = 8000
    log_level: str = "INFO"
    #: Largest request body accepted, in bytes; larger bodies get 413.
    max_body_bytes: int = Field(default=1_048_576, ge=1024)
    #: Where the public keys of identity-svc are published.
    jwks_url: str = "http://127.0.0.1:8001/.well-known/jwks.json"
    jwt_issuer: str = "https://democracy.seoul.example/identity"
    jwt_audience: str = "democracy-platform"
    jwks_cache_seconds: float = Field(default=300.0, gt=0)
    #: Verified access tokens kept per process until their ``exp`` (0: verify every request);
    #: see services.auth for what the cache may and may not serve.
    token_cache_size: int = Field(default=10_000, ge=0)
    #: Connections kept open: the most statements the API runs at once. Size it for the
    #: concurrency wanted (and PostgreSQL's max_connections for every process and replica).
    db_pool_size: int = Field(default=30, ge=1)
    #: Connections opened beyond the pool and closed after each use. Each one costs a
    #: PostgreSQL backend fork, TLS negotiation and type introspection, under load above all,
    #: which made overload collapse throughput (docs/performance.md): 0 by default, so that
    #: requests wait for a pooled connection and the in-flight bound below sheds the excess.
    db_max_overflow: int = Field(default=0, ge=0)
    #: Ping each connection before use (a round trip per checkout). Off by default: a dropped
    #: connection fails one statement and SQLAlchemy then discards the whole stale pool.
    db_pool_pre_ping: bool = False
    #: Requests the API serves at once (services.limits); more wait up to
    #: ``max_queue_seconds`` for a slot and are then answered 503 with ``Retry-After``. Unset:
    #: the pool size (``db_pool_size + db_max_overflow``), so that admitted requests do not
    #: queue for a connection; 0: no bound. Health and metrics endpoints are not counted.
    max_in_flight: int | None = Field(default=None, ge=0)
    #: How long a request may wait for an in-flight slot before it is refused (0: not at all).
    #: Long enough to absorb a burst (a few hundred requests at once), short enough that a
    #: sustained overload is answered 503 within seconds instead of piling up.
    max_queue_seconds: float = Field(default=2.0, ge=0)
    #: Where identity-svc answers internal requests (a citizen's current roles and status,
    #: services.live_principal).
    identity_url: str = "http://127.0.0.1:8001"
    #: Base64 key (>= 32 bytes) this service signs its internal requests with
    #: (docs/internal-api.md). Unset: the service's development key, refused in production.
    service_key: SecretStr | None = None
    #: Addresses or networks of the reverse proxies whose ``X-Forwarded-For`` is believed
    #: (services.client): the entry point (Caddy, the ingress). JSON list; loopback by default.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1/32", "::1/128"])
    #: Browser origins granted CORS (services.cors), comma-separated, from
    #: ``PLATFORM_CORS_ORIGINS`` (one variable for every service). Unset: the development front
    #: ends (localhost:5173 and :3000) outside production, none in production.
    cors_origins: str | None = Field(
        default=None, validation_alias=AliasChoices("PLATFORM_CORS_ORIGINS", "cors_origins")
    )

    #: The language of problem titles and details when a request's ``Accept-Language`` names
    #: neither English nor Korean (services.problem_catalogue), from
    #: ``PLATFORM_PROBLEM_LANGUAGE``.
    problem_language: Literal["en", "ko"] = Field(
        default="en",
        validation_alias=AliasChoices("PLATFORM_PROBLEM_LANGUAGE", "problem_language"),
    )

    @property
    def cors_allow_origins(self) -> frozenset[str]:
        """The origins granted CORS."""
        from services.cors import parse_origins

        return parse_origins(self.cors_origins, production=self.environment == "production")

    @property
    def service_key_bytes(self) -> bytes:
        """The key this service signs internal requests with; ``ValueError`` in production while
        unset or set to a development key."""
        from services.internal_auth import decode_service_key, dev_service_key, is_dev_key

        secret = self.service_key.get_secret_value() if self.service_key is not None else None
        key = decode_service_key(secret or dev_service_key(self.service_name))
        if self.environment == "production" and is_dev_key(key):
            raise ValueError(
                "the service key (<PREFIX>SERVICE_KEY) must be set in production "
                "(the dev default is refused)"
            )
        return key

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_networks(cls, values: list[str]) -> list[str]:
        import ipaddress

        for value in values:
            ipaddress.ip_network(value, strict=False)  # ValueError: refused at start
        return values

    @property
    def in_flight_limit(self) -> int:
        """The effective bound on requests served at once (0: none)."""
        if self.max_in_flight is not None:
            return self.max_in_flight
        return self.db_pool_size + self.db_max_overflow


def service_config(prefix: str) -> SettingsConfigDict:
    """The settings config of a service whose environment variables start with ``prefix``."""
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", env_file=None)
