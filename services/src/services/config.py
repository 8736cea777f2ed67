"""Service settings: one pydantic-settings class per service, each with its own env prefix."""

from __future__ import annotations

from typing import Literal

from pydantic import Field
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
    #: Connections kept open. Overflow connections are opened and closed per use, which costs
    #: a PostgreSQL backend fork each time: size the pool for the expected concurrency.
    db_pool_size: int = Field(default=20, ge=1)
    db_max_overflow: int = Field(default=10, ge=0)
    #: Ping each connection before use (a round trip per checkout). Off by default: a dropped
    #: connection fails one statement and SQLAlchemy then discards the whole stale pool.
    db_pool_pre_ping: bool = False


def service_config(prefix: str) -> SettingsConfigDict:
    """The settings config of a service whose environment variables start with ``prefix``."""
    return SettingsConfigDict(env_prefix=prefix, extra="ignore", env_file=None)
