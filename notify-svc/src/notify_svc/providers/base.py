"""The one interface every message provider implements (NHN Cloud AlimTalk, NHN Cloud SMS,
Solapi, and the local ``dev`` provider).

A provider sends one message per call (or, where its documented API has one, many per request:
:class:`BulkProvider`), carrying the message's idempotency key (providers that
support one receive it, e.g. NHN's ``X-NC-API-IDEMPOTENCY-KEY``), parses the signed delivery
webhooks it posts back, and can be polled for delivery status. Deciding *what* to send (templates,
fallback from AlimTalk to SMS/LMS, preferences, quiet hours, retries) is not a provider's job.

Phone numbers pass through :class:`OutboundMessage.to` only: providers never log them (use
:func:`mask_phone`) and never put them in exceptions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol


class Channel(StrEnum):
    """How a message reaches a phone."""

    ALIMTALK = "alimtalk"
    SMS = "sms"
    LMS = "lms"


class DeliveryStatus(StrEnum):
    """What a provider says about a message after it accepted it."""

    DELIVERED = "delivered"
    FAILED = "failed"
    PENDING = "pending"


@dataclass(frozen=True)
class OutboundMessage:
    """One message to one phone on one channel."""

    #: Stable per (event, recipient, channel): a retry of the same message reuses it.
    idempotency_key: str
    #: Korean mobile number, digits only (``01012345678``). Never logged, never stored.
    to: str
    channel: Channel
    #: The full text as sent. For AlimTalk it is the registered template rendered with
    #: ``variables`` (Kakao rejects any other text); for SMS/LMS it is the body.
    text: str
    #: AlimTalk: the registered template code; None for SMS/LMS.
    template_code: str | None = None
    #: AlimTalk: the values of the template's ``#{variables}``.
    variables: Mapping[str, str] = field(default_factory=dict)
    #: LMS: the title (<= 40 bytes in cp949); None otherwise.
    title: str | None = None


@dataclass(frozen=True)
class SendResult:
    """The provider's answer to one send."""

    idempotency_key: str
    accepted: bool
    #: The provider's id of the message (used to match delivery reports).
    provider_message_id: str | None = None
    #: True for 429, 5xx, timeouts and connection errors: the same message may be sent again
    #: with the same idempotency key. False for refusals that will not change (4xx, bad number).
    retryable: bool = False
    #: Seconds the provider asked us to wait (Retry-After), if it said.
    retry_after: float | None = None
    #: The provider's result code, and message with any phone number masked.
    error_code: str | None = None
    error_message: str | None = None
    #: True when the provider answered that it had already accepted this idempotency key
    #: (the earlier send went through; nothing new was sent).
    already_accepted: bool = False


@dataclass(frozen=True)
class DeliveryReport:
    """One delivery result, from a webhook or a poll."""

    provider_message_id: str
    status: DeliveryStatus
    channel: Channel
    #: The provider's result code (kept for operators).
    code: str | None = None
    reported_at: datetime | None = None


class WebhookSignatureError(Exception):
    """A webhook's signature is missing, malformed or wrong (answer 401, change nothing)."""


class ProviderError(Exception):
    """A provider could not be used at all (e.g. misconfigured); not a per-message refusal."""


class NotifyProvider(Protocol):
    """What notify-svc needs from a provider."""

    name: str
    channels: frozenset[Channel]

    async def send(self, message: OutboundMessage) -> SendResult:
        """Send one message. Network failures are returned as retryable results, not raised."""
        ...

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[DeliveryReport]:
        """Verify the webhook's signature (raise :class:`WebhookSignatureError` if it fails)
        and return the delivery reports it carries."""
        ...

    async def poll(self, provider_message_ids: Sequence[str]) -> list[DeliveryReport]:
        """Ask the provider for the status of messages it accepted."""
        ...


class BulkProvider(NotifyProvider, Protocol):
    """A provider whose documented API sends many messages in one request (NHN AlimTalk's
    ``recipientList``)."""

    #: Messages per request.
    max_batch: int

    async def send_many(self, messages: Sequence[OutboundMessage]) -> list[SendResult]:
        """Send up to :attr:`max_batch` messages of one template in one request; one result per
        message, in order (failures returned, not raised)."""
        ...


def batch_capacity(provider: NotifyProvider) -> int:
    """How many messages ``provider`` sends per request (1: it has no bulk API)."""
    if not callable(getattr(provider, "send_many", None)):
        return 1
    return max(1, int(getattr(provider, "max_batch", 1)))


def mask_phone(phone: str) -> str:
    """``01012345678`` → ``010-****-5678``: what logs and error messages may show."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if len(digits) < 8:
        return "***"
    return f"{digits[:3]}-****-{digits[-4:]}"
