"""vote-svc settings (environment variables prefixed ``VOTE_``)."""

from __future__ import annotations

import base64
import binascii
from functools import lru_cache

from pydantic import Field, SecretStr, model_validator

from services.config import ServiceSettings, service_config
from services.eligibility import EligibilitySettings
from services.internal_auth import DEV_NOTIFY_SERVICE_KEY, decode_service_keys
from services.ratelimit import RateRule, RateRules
from vote_svc.integrity.settings import DEV_SIGNAL_KEY, IntegritySettings

#: Development-only voter-tag key. Production refuses to start with it.
_DEV_LEDGER_TAG_KEY = base64.b64encode(b"dev-only-ledger-tag-key-32bytes!").decode()


DEFAULT_CITIZEN_LIMITS = (RateRule(limit=30, seconds=60), RateRule(limit=1000, seconds=86400))
DEFAULT_NETWORK_LIMITS = (RateRule(limit=600, seconds=60, sliding=True),)


def _dev_internal_keys() -> dict[str, SecretStr]:
    return {"notify-svc": SecretStr(DEV_NOTIFY_SERVICE_KEY)}


class VoteSettings(ServiceSettings, EligibilitySettings, IntegritySettings):
    """Configuration of vote-svc (and the platform's eligibility rules, ``PLATFORM_ELIGIBILITY``;
    and, mixed in, of the integrity signals: ``IntegritySettings``)."""

    model_config = service_config("VOTE_")

    service_name: str = "vote-svc"
    port: int = 8003
    #: ``k_ledger``: base64 of 32 bytes, the HMAC key of the per-target voter tags on the public
    #: ledger (``VOTE_LEDGER_TAG_KEY``). Whoever holds it can link one person's tags across
    #: targets, so it lives in a KMS-backed secret and never leaves vote-svc. Changing it changes
    #: every future tag: the chaincode's duplicate check works per tag, so rotate it only between
    #: targets' lifetimes (see docs/votes.md).
    ledger_tag_key: SecretStr = SecretStr(_DEV_LEDGER_TAG_KEY)
    #: JSON object: service name -> base64 key (>= 32 bytes) of the services allowed to sign
    #: requests to ``/internal/*`` (docs/internal-api.md). Dev default: notify-svc's dev key,
    #: refused in production.
    internal_keys: dict[str, SecretStr] = Field(default_factory=_dev_internal_keys)
    #: Per citizen: votes asked for (agreements and forum ballots, accepted or refused), e.g.
    #: ``VOTE_CITIZEN_RATE_LIMITS='[{"limit": 30, "seconds": 60}]'``; ``[]``: none
    #: (docs/abuse-limits.md).
    citizen_rate_limits: RateRules = Field(default_factory=lambda: list(DEFAULT_CITIZEN_LIMITS))
    #: Per client network (/24, /48; services.client): votes asked for from it. Generous: a
    #: mobile carrier's NAT puts many citizens behind one network.
    network_rate_limits: RateRules = Field(default_factory=lambda: list(DEFAULT_NETWORK_LIMITS))
    #: proposal-svc's own port (not the public entry point, which does not route ``/internal``):
    #: on a vote for a target vote-svc has not heard of yet it asks there
    #: (``/internal/v1/targets/...``, docs/votes.md "A target vote-svc has not heard of yet").
    proposal_url: str = "http://127.0.0.1:8002"
    #: ``VOTE_SERVICE_KEY`` (``ServiceSettings.service_key``) is what vote-svc signs these
    #: requests with; proposal-svc's ``PROPOSAL_INTERNAL_KEYS`` holds it under ``vote-svc``.
    #: Seconds a vote waits for proposal-svc's answer about an unknown target.
    target_lookup_timeout: float = Field(default=2.0, gt=0, le=30)

    @property
    def tag_key(self) -> bytes:
        """The voter-tag key as bytes."""
        return base64.b64decode(self.ledger_tag_key.get_secret_value(), validate=True)

    @property
    def internal_key_bytes(self) -> dict[str, bytes]:
        """Caller name -> key, what ``app.state.internal_keys`` holds."""
        return decode_service_keys(
            self.internal_keys, setting="VOTE_INTERNAL_KEYS", production=False
        )

    @model_validator(mode="after")
    def _key_is_usable(self) -> VoteSettings:
        try:
            key = self.tag_key
        except (binascii.Error, ValueError) as exc:
            raise ValueError("VOTE_LEDGER_TAG_KEY must be base64") from exc
        if len(key) != 32:
            raise ValueError("VOTE_LEDGER_TAG_KEY must be base64 of exactly 32 bytes")
        if (
            self.environment == "production"
            and self.ledger_tag_key.get_secret_value() == _DEV_LEDGER_TAG_KEY
        ):
            raise ValueError(
                "VOTE_LEDGER_TAG_KEY must be set in production (the dev default is refused)"
            )
        decode_service_keys(
            self.internal_keys,
            setting="VOTE_INTERNAL_KEYS",
            production=self.environment == "production",
        )
        # ServiceSettings refuses a bad or (in production) development key only when it is first
        # used; vote-svc uses it on a vote's cold path, so refuse at start instead.
        try:
            self.service_key_bytes  # noqa: B018
        except ValueError as exc:
            message = str(exc)
            if "production" in message:
                raise ValueError(
                    "VOTE_SERVICE_KEY must be set in production (the dev default is refused)"
                ) from None
            raise ValueError(
                f"VOTE_SERVICE_KEY must be base64 of at least 32 bytes ({exc})"
            ) from None
        if (
            self.environment == "production"
            and self.signal_key.get_secret_value() == DEV_SIGNAL_KEY
        ):
            raise ValueError(
                "VOTE_SIGNAL_KEY must be set in production (the dev default is refused)"
            )
        return self


@lru_cache
def get_settings() -> VoteSettings:
    """Settings read once per process from the environment."""
    return VoteSettings()
