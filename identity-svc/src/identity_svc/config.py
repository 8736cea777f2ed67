"""identity-svc settings (environment variables prefixed ``IDENTITY_``)."""

from __future__ import annotations

import base64
from functools import lru_cache

from pydantic import Field, SecretStr, model_validator

from services.config import ServiceSettings, service_config

#: Development-only secrets. Production refuses to start with any of them.
_DEV_CI_PEPPER = "dev-only-ci-pepper-change-me"
_DEV_DI_PEPPER = "dev-only-di-pepper-change-me"
_DEV_KEK = base64.b64encode(b"dev-only-key-encryption-key-32b!").decode()


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

    @model_validator(mode="after")
    def _production_is_safe(self) -> IdentitySettings:
        if len(self.kek) != 32:
            raise ValueError("IDENTITY_KEY_ENCRYPTION_KEY must be base64 of exactly 32 bytes")
        if self.environment == "production":
            if self.sandbox_enabled:
                raise ValueError("the sandbox identity provider is refused in production")
            if self.sandbox_roles:
                raise ValueError("IDENTITY_SANDBOX_ROLES is refused in production")
            dev_values = {
                "IDENTITY_CI_PEPPER": (self.ci_pepper, _DEV_CI_PEPPER),
                "IDENTITY_DI_PEPPER": (self.di_pepper, _DEV_DI_PEPPER),
                "IDENTITY_KEY_ENCRYPTION_KEY": (self.key_encryption_key, _DEV_KEK),
            }
            for env, (value, dev) in dev_values.items():
                if value.get_secret_value() == dev:
                    raise ValueError(
                        f"{env} must be set in production (the dev default is refused)"
                    )
        return self


@lru_cache
def get_settings() -> IdentitySettings:
    """Settings read once per process from the environment."""
    return IdentitySettings()
