"""Identity-verification providers as adapters behind one interface."""

from identity_svc.providers.base import (
    IdentityProvider,
    ProviderError,
    ProviderRegistry,
    VerificationContext,
    VerifiedIdentity,
)
from identity_svc.providers.sandbox import SandboxProvider

__all__ = [
    "IdentityProvider",
    "ProviderError",
    "ProviderRegistry",
    "SandboxProvider",
    "VerificationContext",
    "VerifiedIdentity",
]
