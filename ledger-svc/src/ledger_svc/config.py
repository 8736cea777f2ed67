"""ledger-svc settings (environment variables prefixed ``LEDGER_``)."""

from __future__ import annotations

import base64
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator

from services.config import ServiceSettings, service_config

_DEV_KEK = base64.b64encode(b"dev-only-ledger-kek-32-bytes!!!!").decode()


class LedgerSettings(ServiceSettings):
    """Configuration of ledger-svc."""

    model_config = service_config("LEDGER_")

    service_name: str = "ledger-svc"
    port: int = 8004
    #: ``local``: the Merkle log in our own database; ``fabric``: anchored on Hyperledger Fabric.
    backend: Literal["local", "fabric"] = "local"
    #: A batch closes at this many records...
    batch_max: int = Field(default=200, ge=1, le=5000)
    #: ...or after this many milliseconds, whichever comes first.
    batch_ms: int = Field(default=200, ge=10, le=10_000)
    #: vote-svc's base URL, for the audit (its public per-target records).
    vote_url: str = "http://127.0.0.1:8003"
    #: Seconds between audit rounds of the worker.
    audit_interval_seconds: float = Field(default=60.0, gt=0)
    #: Targets with a record newer than this many days are audited each round.
    audit_active_days: int = Field(default=60, ge=1)
    #: Base64 of 32 bytes: encrypts the tree-head signing keys at rest (AES-256-GCM).
    key_encryption_key: SecretStr = SecretStr(_DEV_KEK)

    # --- backend "fabric" (docs/ledger.md, "Fabric backend") ---------------------------------
    #: The connection profile (profile.json: channel, chaincode, peers, TLS CAs, MSP dirs).
    fabric_profile: Path | None = None
    #: The organisation to act as (default: the profile's ``client_org``).
    fabric_org: str | None = None
    #: Deadline of a query (Evaluate), in seconds.
    fabric_evaluate_timeout: float = Field(default=10.0, gt=0)
    #: Deadline of collecting the endorsements of a batch.
    fabric_endorse_timeout: float = Field(default=30.0, gt=0)
    #: Deadline of handing a transaction to the ordering service.
    fabric_submit_timeout: float = Field(default=10.0, gt=0)
    #: Deadline of waiting for a transaction's block (CommitStatus).
    fabric_commit_timeout: float = Field(default=60.0, gt=0)
    #: How long transient failures (peer or orderer unreachable, read conflicts) are retried
    #: before a batch is given back to NATS to be tried again later.
    fabric_retry_seconds: float = Field(default=15.0, ge=0)
    #: Records per page when reading a target's records from the chain (the chaincode's most).
    fabric_page_size: int = Field(default=1000, ge=1, le=1000)

    @property
    def kek(self) -> bytes:
        """The key-encryption key as bytes."""
        return base64.b64decode(self.key_encryption_key.get_secret_value())

    @model_validator(mode="after")
    def _safe(self) -> LedgerSettings:
        if self.backend == "fabric" and self.fabric_profile is None:
            raise ValueError(
                "LEDGER_BACKEND=fabric needs LEDGER_FABRIC_PROFILE (the network's profile.json; "
                "`make fabric-up` writes one to .data/fabric/profile.json)"
            )
        if len(self.kek) != 32:
            raise ValueError("LEDGER_KEY_ENCRYPTION_KEY must be base64 of exactly 32 bytes")
        if (
            self.environment == "production"
            and self.key_encryption_key.get_secret_value() == _DEV_KEK
        ):
            raise ValueError(
                "LEDGER_KEY_ENCRYPTION_KEY must be set in production (the dev default is refused)"
            )
        return self


@lru_cache
def get_settings() -> LedgerSettings:
    """Settings read once per process from the environment."""
    return LedgerSettings()
