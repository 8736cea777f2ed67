"""notify-svc settings (environment variables prefixed ``NOTIFY_``).

Providers: ``NOTIFY_PROVIDER`` (``dev``, ``nhn`` or ``solapi``) picks one for every channel;
``NOTIFY_ALIMTALK_PROVIDER`` / ``NOTIFY_SMS_PROVIDER`` override it per channel (e.g. AlimTalk
through NHN, SMS/LMS through Solapi). Each provider's keys are its own settings below. The
``dev`` provider, the development service key and the crash hook are refused in production.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from services.config import ServiceSettings, service_config
from services.internal_auth import DEV_NOTIFY_SERVICE_KEY, decode_service_key

ProviderName = Literal["dev", "nhn", "solapi"]

#: Development-only secret of the dev provider's webhook (refused with the dev provider itself).
DEV_WEBHOOK_SECRET = "dev-only-notify-webhook-secret"


class RateLimit(BaseModel):
    """A provider's token bucket: ``rate`` sends per second, ``burst`` at once."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rate: float = Field(gt=0)
    burst: int = Field(ge=1)


class NotifySettings(ServiceSettings):
    """Configuration of notify-svc."""

    model_config = service_config("NOTIFY_")

    service_name: str = "notify-svc"
    port: int = 8005

    # --- providers -----------------------------------------------------------------------------
    provider: ProviderName = "dev"
    alimtalk_provider: ProviderName | None = None
    sms_provider: ProviderName | None = None
    #: Token bucket per provider name (``nhn_alimtalk``, ``nhn_sms``, ``solapi``, ``dev``), as
    #: JSON; providers not listed get ``default_rate_limit``.
    rate_limits: dict[str, RateLimit] = Field(default_factory=dict)
    default_rate_limit: RateLimit = RateLimit(rate=20.0, burst=20)
    #: Send messages of one template in one request where the provider's API allows it (NHN
    #: AlimTalk's ``recipientList``); off: one request per message (docs/notifications.md).
    bulk_send: bool = True

    nhn_alimtalk_app_key: str = ""
    nhn_alimtalk_secret_key: SecretStr = SecretStr("")
    nhn_alimtalk_sender_key: str = ""
    nhn_alimtalk_base_url: str = "https://api-alimtalk.cloud.toast.com"
    #: The signature configured for NHN's webhook (compared with ``X-Toast-Webhook-Signature``).
    nhn_alimtalk_webhook_secret: SecretStr = SecretStr("")

    nhn_sms_app_key: str = ""
    nhn_sms_secret_key: SecretStr = SecretStr("")
    #: The pre-registered sending number (발신번호).
    nhn_sms_send_no: str = ""
    nhn_sms_base_url: str = "https://api-sms.cloud.toast.com"
    nhn_sms_webhook_secret: SecretStr = SecretStr("")

    solapi_api_key: str = ""
    solapi_api_secret: SecretStr = SecretStr("")
    solapi_sender: str = ""
    #: The Kakao channel (pfId) AlimTalk is sent from.
    solapi_pf_id: str = ""
    #: Our template code → Solapi's template id (JSON).
    solapi_template_ids: dict[str, str] = Field(default_factory=dict)
    solapi_base_url: str = "https://api.solapi.com"
    solapi_webhook_secret: SecretStr = SecretStr("")

    dev_webhook_secret: SecretStr = SecretStr(DEV_WEBHOOK_SECRET)

    # --- other services ------------------------------------------------------------------------
    #: base64 key notify-svc signs its internal requests to identity-svc, vote-svc and
    #: proposal-svc with.
    service_key: SecretStr = SecretStr(DEV_NOTIFY_SERVICE_KEY)
    identity_url: str = "http://127.0.0.1:8001"
    vote_url: str = "http://127.0.0.1:8003"
    #: proposal-svc: a proposal's followers (``/internal/v1/proposals/{id}/followers``).
    proposal_url: str = "http://127.0.0.1:8002"
    directory_timeout_seconds: float = Field(default=5.0, gt=0)

    # --- what a notification links to ---------------------------------------------------------
    #: The citizen web app; a notification's ``link`` is ``{web_base_url}/proposals/{id}`` or
    #: ``{web_base_url}/forums/{id}``.
    web_base_url: str = "http://localhost:5173"

    # --- dispatching ---------------------------------------------------------------------------
    send_batch_size: int = Field(default=50, ge=1, le=1000)
    send_concurrency: int = Field(default=8, ge=1, le=256)
    send_idle_seconds: float = Field(default=0.5, gt=0)
    #: How long a worker owns a message it is sending. Past it, another worker re-sends with the
    #: same idempotency key; NHN remembers keys for 10 minutes, so keep it well below that.
    send_lease_seconds: float = Field(default=60.0, ge=1, le=300)
    max_attempts: int = Field(default=6, ge=1, le=50)
    retry_base_seconds: float = Field(default=2.0, gt=0)
    retry_max_seconds: float = Field(default=900.0, gt=0)
    #: After a provider accepted a message, when to first poll it for delivery.
    confirm_after_seconds: float = Field(default=60.0, gt=0)
    #: Local hours (KST) of the quiet window for non-urgent messages.
    quiet_start_hour: int = Field(default=21, ge=0, le=23)
    quiet_end_hour: int = Field(default=8, ge=0, le=23)

    #: Test-only fault hook: SIGKILL the ``send`` process right after a provider accepted a
    #: message, before the result is recorded (tests/faults/test_notify_kill.py).
    fault_crash_after_send: bool = False

    @property
    def alimtalk(self) -> ProviderName:
        """The provider of AlimTalk messages."""
        return self.alimtalk_provider or self.provider

    @property
    def sms(self) -> ProviderName:
        """The provider of SMS/LMS messages."""
        return self.sms_provider or self.provider

    @property
    def service_key_bytes(self) -> bytes:
        """The service key as bytes."""
        return decode_service_key(self.service_key.get_secret_value())

    @property
    def dev_endpoints(self) -> bool:
        """Whether ``/v1/notifications/dev/...`` exists (dev provider, not production)."""
        return self.environment != "production" and "dev" in (self.alimtalk, self.sms)

    @model_validator(mode="after")
    def _usable(self) -> NotifySettings:
        try:
            key = self.service_key_bytes
        except ValueError as exc:
            raise ValueError(f"NOTIFY_SERVICE_KEY must be base64 of >= 32 bytes ({exc})") from None
        production = self.environment == "production"
        if production:
            if key == decode_service_key(DEV_NOTIFY_SERVICE_KEY):
                raise ValueError(
                    "NOTIFY_SERVICE_KEY must be set in production (the dev default is refused)"
                )
            if "dev" in (self.alimtalk, self.sms):
                raise ValueError("the dev provider sends nothing: it is refused in production")
            if self.fault_crash_after_send:
                raise ValueError(
                    "NOTIFY_FAULT_CRASH_AFTER_SEND is a test hook, refused in production"
                )
        missing: list[str] = []
        if self.alimtalk == "nhn":
            missing += _blank(
                nhn_alimtalk_app_key=self.nhn_alimtalk_app_key,
                nhn_alimtalk_secret_key=self.nhn_alimtalk_secret_key.get_secret_value(),
                nhn_alimtalk_sender_key=self.nhn_alimtalk_sender_key,
            )
        if self.sms == "nhn":
            missing += _blank(
                nhn_sms_app_key=self.nhn_sms_app_key,
                nhn_sms_secret_key=self.nhn_sms_secret_key.get_secret_value(),
                nhn_sms_send_no=self.nhn_sms_send_no,
            )
        if "solapi" in (self.alimtalk, self.sms):
            missing += _blank(
                solapi_api_key=self.solapi_api_key,
                solapi_api_secret=self.solapi_api_secret.get_secret_value(),
                solapi_sender=self.solapi_sender,
            )
        if self.alimtalk == "solapi":
            missing += _blank(solapi_pf_id=self.solapi_pf_id)
        if missing:
            names = ", ".join(f"NOTIFY_{name.upper()}" for name in dict.fromkeys(missing))
            raise ValueError(f"the chosen providers need {names}")
        return self


def _blank(**values: str) -> list[str]:
    return [name for name, value in values.items() if not value.strip()]


@lru_cache
def get_settings() -> NotifySettings:
    """Settings read once per process from the environment."""
    return NotifySettings()
