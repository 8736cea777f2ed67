"""The ``dev`` provider (the default of ``make run``): it sends nothing, it keeps what it would
have sent in notify-svc's own ``dev_messages`` table, readable at
``GET /v1/notifications/dev/messages``. Development and test only: the settings refuse it in
production.

It behaves like NHN Cloud where that matters to notify-svc: a message is keyed by its
idempotency key, and sending one again with the same key is answered "already accepted" with the
first message's id (the store keeps one copy); polling reports stored messages delivered; its
webhook is signed (hex HMAC-SHA256 of the body in ``X-Dev-Signature``). Only the masked number
(``010-****-5678``) is stored.
"""

from __future__ import annotations

import hashlib
import hmac
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, Final

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify_svc.models import DevMessage
from notify_svc.providers._common import (
    MalformedWebhookError,
    SignatureScheme,
    load_json,
    parse_time,
    verify_signature,
)
from notify_svc.providers.base import (
    Channel,
    DeliveryReport,
    DeliveryStatus,
    OutboundMessage,
    SendResult,
    mask_phone,
)
from services.clock import Clock, SystemClock
from services.db import transaction

#: Header of the dev webhook's signature: hex HMAC-SHA256 of the raw body.
SIGNATURE_HEADER: Final = "X-Dev-Signature"


def sign_webhook(secret: str, body: bytes) -> str:
    """The ``X-Dev-Signature`` value of a dev webhook body (what a test or a person posts)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class DevProvider:
    """Stores messages instead of sending them (see the module doc)."""

    name = "dev"
    channels: frozenset[Channel] = frozenset(Channel)

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        webhook_secret: str,
        clock: Clock | None = None,
    ) -> None:
        self._sessions = sessions
        self._webhook_secret = webhook_secret
        self._clock = clock or SystemClock()

    async def send(self, message: OutboundMessage) -> SendResult:
        """Store the message once per idempotency key."""
        new_id = f"dev-{uuid.uuid4().hex}"
        async with transaction(self._sessions) as session:
            stored = await session.scalar(
                insert(DevMessage)
                .values(
                    idempotency_key=message.idempotency_key,
                    provider_message_id=new_id,
                    channel=message.channel.value,
                    to_masked=mask_phone(message.to),
                    template_code=message.template_code,
                    title=message.title,
                    text=message.text,
                    accepted_at=self._clock.now(),
                )
                .on_conflict_do_nothing(index_elements=[DevMessage.idempotency_key])
                .returning(DevMessage.provider_message_id)
            )
            if stored is not None:
                return SendResult(
                    message.idempotency_key, accepted=True, provider_message_id=stored
                )
            first = await session.scalar(
                select(DevMessage.provider_message_id).where(
                    DevMessage.idempotency_key == message.idempotency_key
                )
            )
        return SendResult(
            message.idempotency_key,
            accepted=True,
            provider_message_id=first,
            already_accepted=True,
        )

    def parse_webhook(self, headers: Mapping[str, str], body: bytes) -> list[DeliveryReport]:
        """``{"reports": [{"provider_message_id", "status": "delivered"|"failed"|"pending",
        "channel", "code"?, "reported_at"?}]}`` signed with the dev webhook secret."""
        verify_signature(
            headers,
            body,
            header_name=SIGNATURE_HEADER,
            secret=self._webhook_secret,
            scheme=SignatureScheme.HMAC_SHA256_HEX,
        )
        data = load_json(body)
        items = data.get("reports") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise MalformedWebhookError("expected {'reports': [...]}")
        return [_report(item) for item in items]

    async def poll(self, provider_message_ids: Sequence[str]) -> list[DeliveryReport]:
        """Every stored message counts as delivered (when first polled)."""
        if not provider_message_ids:
            return []
        now = self._clock.now()
        async with transaction(self._sessions) as session:
            await session.execute(
                update(DevMessage)
                .where(
                    DevMessage.provider_message_id.in_(list(provider_message_ids)),
                    DevMessage.delivered_at.is_(None),
                )
                .values(delivered_at=now)
            )
            rows = (
                await session.execute(
                    select(
                        DevMessage.provider_message_id, DevMessage.channel, DevMessage.delivered_at
                    ).where(DevMessage.provider_message_id.in_(list(provider_message_ids)))
                )
            ).all()
        return [
            DeliveryReport(
                provider_message_id=pid,
                status=DeliveryStatus.DELIVERED,
                channel=Channel(channel),
                code="dev-delivered",
                reported_at=at,
            )
            for pid, channel, at in rows
        ]


def _report(item: Any) -> DeliveryReport:
    if not isinstance(item, dict):
        raise MalformedWebhookError("each report must be an object")
    try:
        return DeliveryReport(
            provider_message_id=str(item["provider_message_id"]),
            status=DeliveryStatus(item["status"]),
            channel=Channel(item.get("channel", "alimtalk")),
            code=str(item["code"]) if item.get("code") is not None else None,
            reported_at=parse_time(item.get("reported_at")),
        )
    except (KeyError, ValueError) as exc:
        raise MalformedWebhookError(f"bad report: {exc}") from None
