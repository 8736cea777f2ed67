"""ledger-svc settings (environment variables prefixed ``LEDGER_``)."""

from __future__ import annotations

from functools import lru_cache

from services.config import ServiceSettings, service_config


class LedgerSettings(ServiceSettings):
    """Configuration of ledger-svc."""

    model_config = service_config("LEDGER_")

    service_name: str = "ledger-svc"
    port: int = 8004


@lru_cache
def get_settings() -> LedgerSettings:
    """Settings read once per process from the environment."""
    return LedgerSettings()
