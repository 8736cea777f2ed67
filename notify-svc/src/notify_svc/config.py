"""notify-svc settings (environment variables prefixed ``NOTIFY_``)."""

from __future__ import annotations

from functools import lru_cache

from services.config import ServiceSettings, service_config


class NotifySettings(ServiceSettings):
    """Configuration of notify-svc."""

    model_config = service_config("NOTIFY_")

    service_name: str = "notify-svc"
    port: int = 8005


@lru_cache
def get_settings() -> NotifySettings:
    """Settings read once per process from the environment."""
    return NotifySettings()
