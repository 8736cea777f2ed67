"""vote-svc settings (environment variables prefixed ``VOTE_``)."""

from __future__ import annotations

from functools import lru_cache

from services.config import ServiceSettings, service_config


class VoteSettings(ServiceSettings):
    """Configuration of vote-svc."""

    model_config = service_config("VOTE_")

    service_name: str = "vote-svc"
    port: int = 8003


@lru_cache
def get_settings() -> VoteSettings:
    """Settings read once per process from the environment."""
    return VoteSettings()
