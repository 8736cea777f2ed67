"""proposal-svc settings (environment variables prefixed ``PROPOSAL_``).

The tier rules are configuration: ``PROPOSAL_TIERS`` is a JSON list, so the pre-2020 rules
(50 / 500 / 5,000) are one environment variable away, with no code change.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from proposal_svc.deliberation.settings import DeliberationSettings
from proposal_svc.opendata.settings import OpenDataSettings
from services.config import ServiceSettings, service_config
from services.eligibility import EligibilitySettings
from services.internal_auth import decode_service_keys, dev_internal_keys
from services.ratelimit import RateRule, RateRules

ObligationKind = Literal["department_answer", "forum", "mayor_answer", "budget_review"]


class TierRule(BaseModel):
    """Reaching ``threshold`` agreements creates an obligation of ``obligation`` due in ``due_days``."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(min_length=1, max_length=40)
    threshold: int = Field(ge=1)
    obligation: Literal["department_answer", "forum", "mayor_answer"]
    due_days: int = Field(ge=1, le=365)


DEFAULT_TIERS = [
    TierRule(name="department_answer", threshold=50, obligation="department_answer", due_days=30),
    TierRule(name="forum", threshold=100, obligation="forum", due_days=30),
    TierRule(name="mayor_answer", threshold=1000, obligation="mayor_answer", due_days=30),
]

DEFAULT_PROPOSAL_LIMITS = (RateRule(limit=5, seconds=3600), RateRule(limit=20, seconds=86400))
DEFAULT_PROPOSAL_NETWORK_LIMITS = (RateRule(limit=60, seconds=3600, sliding=True),)

DEFAULT_CATEGORIES = [
    "transport",
    "environment",
    "welfare",
    "housing",
    "safety",
    "culture",
    "economy",
    "education",
    "health",
    "administration",
    "other",
]


class ProposalSettings(
    ServiceSettings, EligibilitySettings, DeliberationSettings, OpenDataSettings
):
    """Configuration of proposal-svc (and the platform's eligibility rules,
    ``PLATFORM_ELIGIBILITY``; and, mixed in, of its comments: ``DeliberationSettings``, and of
    its open data: ``OpenDataSettings``)."""

    model_config = service_config("PROPOSAL_")

    service_name: str = "proposal-svc"
    port: int = 8002
    tiers: list[TierRule] = Field(default_factory=lambda: list(DEFAULT_TIERS))
    #: Per citizen: proposals submitted, e.g. ``PROPOSAL_PROPOSAL_RATE_LIMITS='[{"limit": 3,
    #: "seconds": 3600}]'``; ``[]``: none (docs/abuse-limits.md).
    proposal_rate_limits: RateRules = Field(default_factory=lambda: list(DEFAULT_PROPOSAL_LIMITS))
    #: Per client network (/24, /48; services.client): proposals submitted from it.
    proposal_network_rate_limits: RateRules = Field(
        default_factory=lambda: list(DEFAULT_PROPOSAL_NETWORK_LIMITS)
    )
    #: Days a proposal accepts agreements.
    agreement_days: int = Field(default=30, ge=1, le=365)
    #: Days an automatically opened forum runs.
    forum_days: int = Field(default=14, ge=1, le=90)
    #: Options of an automatically opened forum.
    forum_options: list[str] = Field(default_factory=lambda: ["찬성", "반대", "유보"])
    #: Participants that make a forum's proposal a budget-linked project.
    budget_participants: int = Field(default=1000, ge=1)
    #: Days the budget office has to review a budget-linked proposal.
    budget_review_days: int = Field(default=90, ge=1)
    categories: list[str] = Field(default_factory=lambda: list(DEFAULT_CATEGORIES))
    title_max: int = Field(default=100, ge=10, le=500)
    body_max: int = Field(default=5000, ge=100, le=50_000)
    #: Seconds between runs of the time-driven transitions in the worker.
    tick_seconds: float = Field(default=5.0, gt=0)
    #: JSON object: service name -> base64 key (>= 32 bytes) of the services allowed to sign
    #: requests to ``/internal/*`` (docs/internal-api.md). Dev default: every platform service's
    #: development key (services.internal_auth.dev_internal_keys), refused in production.
    internal_keys: dict[str, SecretStr] = Field(default_factory=dev_internal_keys)

    @property
    def internal_key_bytes(self) -> dict[str, bytes]:
        """Caller name -> key, what ``app.state.internal_keys`` holds."""
        return decode_service_keys(
            self.internal_keys, setting="PROPOSAL_INTERNAL_KEYS", production=False
        )

    @model_validator(mode="after")
    def _internal_keys_are_usable(self) -> ProposalSettings:
        decode_service_keys(
            self.internal_keys,
            setting="PROPOSAL_INTERNAL_KEYS",
            production=self.environment == "production",
        )
        return self

    @field_validator("tiers")
    @classmethod
    def _distinct_tiers(cls, tiers: list[TierRule]) -> list[TierRule]:
        names = [t.name for t in tiers]
        kinds = [t.obligation for t in tiers]
        if len(set(names)) != len(names) or len(set(kinds)) != len(kinds):
            raise ValueError("tier names and obligations must be distinct")
        return sorted(tiers, key=lambda t: t.threshold)


@lru_cache
def get_settings() -> ProposalSettings:
    """Settings read once per process from the environment."""
    return ProposalSettings()
