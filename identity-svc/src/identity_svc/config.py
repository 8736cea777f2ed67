"""identity-svc settings (environment variables prefixed ``IDENTITY_``)."""

from __future__ import annotations

import base64
from functools import lru_cache

from pydantic import Field, SecretStr, model_validator

from services.config import ServiceSettings, service_config
from services.internal_auth import decode_service_keys, dev_internal_keys
from services.ratelimit import RateRule, RateRules

#: Generous: a carrier's NAT or an office puts many people behind one network.
DEFAULT_VERIFICATION_LIMITS = (
    RateRule(limit=60, seconds=600, sliding=True),
    RateRule(limit=1000, seconds=86400),
)

#: Development-only secrets. Production refuses to start with any of them.
_DEV_CI_PEPPER = "dev-only-ci-pepper-change-me"
_DEV_DI_PEPPER = "dev-only-di-pepper-change-me"
_DEV_KEK = base64.b64encode(b"dev-only-key-encryption-key-32b!").decode()
_DEV_CONTACT_KEY = base64.b64encode(b"dev-only-contact-key-32-bytes!!!").decode()


class IdentitySettings(ServiceSettings):
    """Configuration of identity-svc."""

    model_config = service_config("IDENTITY_")

    service_name: str = "identity-svc"
    port: int = 8001
    #: HMAC key for ``ci_hmac``; in production it comes from a KMS-backed secret.
    ci_pepper: SecretStr = SecretStr(_DEV_CI_PEPPER)
    #: HMAC key for per-provider DI hashes (kept apart from the CI pepper).
    di_pepper: SecretStr = SecretStr(_DEV_DI_PEPPER)
    #: Base64 of 32 bytes: encrypts the token-signing private keys at rest (AES-256-GCM).
    key_encryption_key: SecretStr = SecretStr(_DEV_KEK)
    #: Base64 of 32 bytes: encrypts citizens' phone numbers at rest (AES-256-GCM, bound to the
    #: citizen id). Kept apart from the KEK: it protects personal data, not signing keys.
    contact_key: SecretStr = SecretStr(_DEV_CONTACT_KEY)
    #: JSON object: service name -> base64 key (>= 32 bytes) of the services allowed to sign
    #: requests to ``/internal/*`` (docs/internal-api.md). Dev default: every platform service's
    #: development key (services.internal_auth.dev_internal_keys).
    internal_keys: dict[str, SecretStr] = Field(default_factory=dev_internal_keys)
    access_token_ttl_seconds: int = Field(default=900, ge=60, le=3600)
    refresh_token_ttl_seconds: int = Field(default=30 * 86400, ge=3600)
    verification_ttl_seconds: int = Field(default=600, ge=60, le=3600)
    #: Per client network (/24, /48; services.client): verification attempts started, e.g.
    #: ``IDENTITY_VERIFICATION_RATE_LIMITS='[{"limit": 30, "seconds": 600}]'``; ``[]``: none.
    #: Starting costs a provider request (and, with barocert, a message to a person's phone),
    #: so a script must not start thousands (docs/abuse-limits.md).
    verification_rate_limits: RateRules = Field(
        default_factory=lambda: list(DEFAULT_VERIFICATION_LIMITS)
    )
    #: How long a retired signing key stays in the JWKS (tokens it signed must still verify).
    retired_key_grace_seconds: int = Field(default=7200, ge=0)
    #: The sandbox provider (fake personas). ``None`` means: on unless the environment is production.
    sandbox_enabled: bool | None = None
    #: Honour ``roles`` in sandbox personas (dev/test only).
    sandbox_roles: bool = False
    #: How long a call to an identity provider may take.
    provider_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    # PortOne V2 identity verification: offered when the secret, store and channel are all set.
    portone_api_secret: SecretStr | None = None
    portone_store_id: str | None = None
    portone_channel_key: str | None = None
    portone_api_url: str = "https://api.portone.io"
    # barocert Kakao identity verification: offered when the link id, secret key and client
    # code are all set. The static-IP hosts (static-barocert / static-auth.linkhub.co.kr) are
    # for deployments whose egress is allow-listed.
    barocert_link_id: str | None = None
    #: Base64 of the 32-byte SecretKey Linkhub issued (signs requests, encrypts personal fields).
    barocert_secret_key: SecretStr | None = None
    #: The 12-digit 이용기관코드.
    barocert_client_code: str | None = Field(default=None, pattern=r"^\d{12}$")
    barocert_api_url: str = "https://barocert.linkhub.co.kr"
    barocert_auth_url: str = "https://auth.linkhub.co.kr"
    #: Where KakaoTalk hands a mobile app back after an app-to-app confirmation (its deep
    #: link); the app channel is offered only when it is set.
    barocert_app_return_url: str | None = None
    #: The title of the request the person sees in KakaoTalk.
    barocert_request_title: str = Field(
        default="서울시 시민참여 본인인증", min_length=1, max_length=40
    )

    @property
    def portone_active(self) -> bool:
        """Whether PortOne is configured (and so offered)."""
        return self._configured(
            "IDENTITY_PORTONE_",
            api_secret=self.portone_api_secret,
            store_id=self.portone_store_id,
            channel_key=self.portone_channel_key,
        )

    @property
    def barocert_active(self) -> bool:
        """Whether barocert is configured (and so offered)."""
        return self._configured(
            "IDENTITY_BAROCERT_",
            link_id=self.barocert_link_id,
            secret_key=self.barocert_secret_key,
            client_code=self.barocert_client_code,
        )

    @staticmethod
    def _configured(prefix: str, **values: object) -> bool:
        """All of ``values`` set (True), none (False); some but not all is a configuration error."""
        missing = [name for name, value in values.items() if not value]
        if missing and len(missing) < len(values):
            names = ", ".join(prefix + name.upper() for name in missing)
            raise ValueError(f"{names} must be set too (or none of {prefix}*)")
        return not missing

    @property
    def sandbox_active(self) -> bool:
        """Whether the sandbox providers are offered."""
        return (
            self.environment != "production"
            if self.sandbox_enabled is None
            else self.sandbox_enabled
        )

    @property
    def kek(self) -> bytes:
        """The key-encryption key as bytes."""
        return base64.b64decode(self.key_encryption_key.get_secret_value())

    @property
    def contact_key_bytes(self) -> bytes:
        """The contact-encryption key as bytes."""
        return base64.b64decode(self.contact_key.get_secret_value())

    @property
    def internal_key_bytes(self) -> dict[str, bytes]:
        """Caller name -> key, what ``app.state.internal_keys`` holds."""
        return decode_service_keys(
            self.internal_keys, setting="IDENTITY_INTERNAL_KEYS", production=False
        )

    @model_validator(mode="after")
    def _production_is_safe(self) -> IdentitySettings:
        if len(self.kek) != 32:
            raise ValueError("IDENTITY_KEY_ENCRYPTION_KEY must be base64 of exactly 32 bytes")
        try:
            contact_key = base64.b64decode(self.contact_key.get_secret_value(), validate=True)
        except ValueError:
            contact_key = b""
        if len(contact_key) != 32:
            raise ValueError("IDENTITY_CONTACT_KEY must be base64 of exactly 32 bytes")
        if self.environment == "production":
            if self.sandbox_enabled:
                raise ValueError("the sandbox identity provider is refused in production")
            if self.sandbox_roles:
                raise ValueError("IDENTITY_SANDBOX_ROLES is refused in production")
            dev_values = {
                "IDENTITY_CI_PEPPER": (self.ci_pepper, _DEV_CI_PEPPER),
                "IDENTITY_DI_PEPPER": (self.di_pepper, _DEV_DI_PEPPER),
                "IDENTITY_KEY_ENCRYPTION_KEY": (self.key_encryption_key, _DEV_KEK),
                "IDENTITY_CONTACT_KEY": (self.contact_key, _DEV_CONTACT_KEY),
            }
            for env, (value, dev) in dev_values.items():
                if value.get_secret_value() == dev:
                    raise ValueError(
                        f"{env} must be set in production (the dev default is refused)"
                    )
        decode_service_keys(
            self.internal_keys,
            setting="IDENTITY_INTERNAL_KEYS",
            production=self.environment == "production",
        )
        self._providers_are_sound()
        return self

    def _providers_are_sound(self) -> None:
        urls = {"IDENTITY_PORTONE_API_URL": self.portone_api_url} if self.portone_active else {}
        if self.barocert_active and self.barocert_secret_key is not None:
            try:
                key = base64.b64decode(self.barocert_secret_key.get_secret_value(), validate=True)
            except ValueError:
                key = b""
            if len(key) != 32:
                raise ValueError("IDENTITY_BAROCERT_SECRET_KEY must be base64 of 32 bytes")
            urls |= {
                "IDENTITY_BAROCERT_API_URL": self.barocert_api_url,
                "IDENTITY_BAROCERT_AUTH_URL": self.barocert_auth_url,
            }
        if self.environment == "production":
            # Secrets and personal data travel on these: never in the clear.
            for env, url in urls.items():
                if not url.startswith("https://"):
                    raise ValueError(f"{env} must be an https:// URL in production")


@lru_cache
def get_settings() -> IdentitySettings:
    """Settings read once per process from the environment."""
    return IdentitySettings()
