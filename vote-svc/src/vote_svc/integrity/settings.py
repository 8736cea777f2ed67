"""The integrity signals' settings, mixed into ``VoteSettings`` (so ``VOTE_SIGNAL_KEY``,
``VOTE_INTEGRITY_...``); docs/integrity.md explains each threshold."""

from __future__ import annotations

import base64
import binascii

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

#: Development-only signal key. Production refuses to start with it.
DEV_SIGNAL_KEY = base64.b64encode(b"dev-only-vote-signal-key-32byte!").decode()

#: The age bands identity-svc keeps (identity_svc.claims.age_band), and "unknown".
AGE_BANDS = (
    "under_14",
    "14_17",
    "18_29",
    "30_39",
    "40_49",
    "50_59",
    "60_69",
    "70_plus",
)

#: Seoul's residents aged 14 and over by band, as shares (rounded from the resident
#: registration statistics, 주민등록인구통계, 2025); replace with the city's own figures.
DEFAULT_CITY_AGE_BANDS = {
    "14_17": 0.035,
    "18_29": 0.170,
    "30_39": 0.165,
    "40_49": 0.160,
    "50_59": 0.165,
    "60_69": 0.150,
    "70_plus": 0.155,
}


class IntegritySettings(BaseModel):
    """Recording per-vote signals and computing per-proposal integrity signals from them."""

    #: Base64 of 32 bytes: the secret the month keys of the network and user-agent hashes are
    #: derived from (``HMAC-SHA256(secret, "vote-signals/YYYY-MM")``, docs/integrity.md).
    signal_key: SecretStr = SecretStr(DEV_SIGNAL_KEY)
    #: Days a vote's signals are kept; the ``integrity`` worker deletes older ones.
    signal_retention_days: int = Field(default=90, ge=1, le=366)
    #: Seconds between two rounds of the ``integrity`` worker.
    integrity_seconds: float = Field(default=60.0, gt=0, le=3600)
    #: The window signals are computed over (minutes), and the baseline's length (windows).
    integrity_window_minutes: int = Field(default=10, ge=1, le=1440)
    integrity_baseline_windows: int = Field(default=12, ge=2, le=1000)
    #: A proposal's window is looked at only with at least this many votes in it.
    integrity_min_votes: int = Field(default=50, ge=10)
    #: Arrival spike: the window's votes above ``spike_factor`` times the baseline's mean
    #: (the baseline counts at least one vote per window, so a first burst also shows).
    integrity_spike_factor: float = Field(default=5.0, gt=1)
    #: Brand-new accounts: created less than ``new_account_hours`` before voting, more than
    #: ``new_account_share`` of the window's votes.
    integrity_new_account_hours: int = Field(default=24, ge=1, le=24 * 90)
    integrity_new_account_share: float = Field(default=0.5, gt=0, le=1)
    #: Concentration: one network hash, or one user-agent hash, above these shares of the
    #: window's votes.
    integrity_network_share: float = Field(default=0.3, gt=0, le=1)
    integrity_agent_share: float = Field(default=0.6, gt=0, le=1)
    #: Night burst: a window that starts between these hours (Korean time, start inclusive,
    #: end exclusive) with at least ``night_min_votes`` votes.
    integrity_night_start_hour: int = Field(default=1, ge=0, le=23)
    integrity_night_end_hour: int = Field(default=5, ge=1, le=24)
    integrity_night_min_votes: int = Field(default=50, ge=10)
    #: Complete windows each round looks at again (a worker that was down catches up).
    integrity_catch_up_windows: int = Field(default=3, ge=1, le=1000)
    #: Age-band skew: total variation distance between the window's bands (known ones) and
    #: ``city_age_bands`` above this.
    integrity_age_skew: float = Field(default=0.4, gt=0, le=1)
    integrity_city_age_bands: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_CITY_AGE_BANDS)
    )
    #: The public report shows a count only when it is at least this (k-anonymity).
    integrity_report_min_count: int = Field(default=10, ge=10)

    @property
    def signal_key_bytes(self) -> bytes:
        """The signal secret as bytes."""
        return base64.b64decode(self.signal_key.get_secret_value(), validate=True)

    @field_validator("integrity_city_age_bands")
    @classmethod
    def _bands(cls, bands: dict[str, float]) -> dict[str, float]:
        unknown = set(bands) - set(AGE_BANDS)
        if unknown:
            raise ValueError(f"unknown age bands {sorted(unknown)}")
        total = sum(bands.values())
        if total <= 0 or any(share < 0 for share in bands.values()):
            raise ValueError("the city's age bands need non-negative shares")
        return {band: share / total for band, share in bands.items()}

    @model_validator(mode="after")
    def _usable(self) -> IntegritySettings:
        try:
            key = self.signal_key_bytes
        except (binascii.Error, ValueError) as exc:
            raise ValueError("VOTE_SIGNAL_KEY must be base64") from exc
        if len(key) != 32:
            raise ValueError("VOTE_SIGNAL_KEY must be base64 of exactly 32 bytes")
        if self.integrity_night_start_hour >= self.integrity_night_end_hour:
            raise ValueError("the night starts before it ends (hours 0-24, Korean time)")
        return self
