"""identity-svc settings (environment variables prefixed ``IDENTITY_``)."""

from __future__ import annotations

import base64
from functools import lru_cache

from pydantic import Field, SecretStr, model_validator

from services.config import ServiceSettings, service_config
from services.internal_auth import decode_service_keys, dev_internal_keys

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
    #: How long a retired signing key stays in the JWKS (tokens it signed must still verify).
    retired_key_grace_seconds: int = Field(default=7200, ge=0)
    #: The sandbox provider (fake personas). ``None`` means: on unless the environment is production.
    sandbox_enabled: bool | None = None
    #: Honour ``roles`` in sandbox personas (dev/test only).
    sandbox_roles: bool = False

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
        return self


@lru_cache
def get_settings() -> IdentitySettings:
    """Settings read once per process from the environment."""
    return IdentitySettings()
