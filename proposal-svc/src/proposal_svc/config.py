"""proposal-svc settings (environment variables prefixed ``PROPOSAL_``)."""

from __future__ import annotations

from functools import lru_cache

from services.config import ServiceSettings, service_config


class ProposalSettings(ServiceSettings):
    """Configuration of proposal-svc."""

    model_config = service_config("PROPOSAL_")

    service_name: str = "proposal-svc"
    port: int = 8002


@lru_cache
def get_settings() -> ProposalSettings:
    """Settings read once per process from the environment."""
    return ProposalSettings()
