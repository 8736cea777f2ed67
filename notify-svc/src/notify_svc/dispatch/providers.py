"""Which provider sends each channel (AlimTalk and SMS/LMS may be different ones)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any

from notify_svc.providers.base import Channel, NotifyProvider, OutboundMessage

if TYPE_CHECKING:
    from notify_svc.dispatch.policy import DispatchPolicy

#: Looks up whether a message already went out (by its idempotency key) at a provider that has
#: no idempotency key of its own; returns the provider's message id or None.
FindSent = Callable[[OutboundMessage], Awaitable[str | None]]


class Providers:
    """Which provider sends each channel (AlimTalk and SMS/LMS may be different ones)."""

    def __init__(
        self,
        alimtalk: NotifyProvider,
        sms: NotifyProvider,
        *,
        finders: Mapping[str, FindSent] | None = None,
    ) -> None:
        self._finders = dict(finders or {})
        self._by_channel: dict[Channel, NotifyProvider] = {
            Channel.ALIMTALK: alimtalk,
            Channel.SMS: sms,
            Channel.LMS: sms,
        }
        self._by_name: dict[str, NotifyProvider] = {alimtalk.name: alimtalk, sms.name: sms}

    def for_channel(self, channel: str) -> NotifyProvider:
        """The provider that sends ``channel``."""
        return self._by_channel[Channel(channel)]

    def named(self, name: str) -> NotifyProvider | None:
        """The configured provider called ``name`` (webhooks are addressed by name)."""
        return self._by_name.get(name)

    def finder(self, name: str) -> FindSent | None:
        """How to look up an earlier send at provider ``name`` that has no idempotency key of
        its own (None: the provider recognises a repeated key by itself)."""
        return self._finders.get(name)

    @property
    def names(self) -> list[str]:
        """Names of the configured providers."""
        return sorted(self._by_name)


def describe(providers: Providers, policy: DispatchPolicy) -> Mapping[str, Any]:
    """A log-friendly summary of the dispatcher's configuration."""
    return {
        "providers": providers.names,
        "batch_size": policy.batch_size,
        "lease_seconds": policy.lease.total_seconds(),
        "max_attempts": policy.max_attempts,
    }
