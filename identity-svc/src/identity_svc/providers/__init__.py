"""Identity-verification providers as adapters behind one interface."""

from identity_svc.providers.barocert import BarocertKakaoProvider
from identity_svc.providers.base import (
    Channel,
    IdentityProvider,
    PersonHint,
    ProviderError,
    ProviderRegistry,
    StartRequest,
    StartResult,
    VerificationContext,
    VerifiedIdentity,
)
from identity_svc.providers.portone import PortOneProvider
from identity_svc.providers.sandbox import SandboxProvider

__all__ = [
    "BarocertKakaoProvider",
    "Channel",
    "IdentityProvider",
    "PersonHint",
    "PortOneProvider",
    "ProviderError",
    "ProviderRegistry",
    "SandboxProvider",
    "StartRequest",
    "StartResult",
    "VerificationContext",
    "VerifiedIdentity",
]
