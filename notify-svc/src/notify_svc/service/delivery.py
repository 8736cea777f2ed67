"""The state changes of a message after it was planned (``sending``, ``deferred``, a retry,
``sent``, ``failed``, ``dead``, ``skipped``), the SMS/LMS fallback of a failed AlimTalk, and the
delivery reports that move a sent message on. The events the platform hears about
(``notify.delivered``, ``notify.failed``, ``notify.dead_lettered``) go to the outbox in the
caller's transaction."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notify_svc import repository
from notify_svc.encoding import choose_fallback
from notify_svc.models import DeliveryReportRow, Notification
from notify_svc.providers.base import Channel, DeliveryReport, DeliveryStatus
from notify_svc.service.planning import idempotency_key
from notify_svc.service.preferences import allowed_channels
from services import outbox
from services.events.schemas import (
    NotificationDeadLettered,
    NotificationDelivered,
    NotificationFailed,
)


def _event_fields(row: Notification) -> dict[str, Any]:
    return {
        "notification_id": row.id,
        "citizen_id": row.citizen_id,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "channel": row.channel,
        "template_code": row.template_code,
    }


def mark_sending(row: Notification, *, provider: str, lease: timedelta, now: datetime) -> None:
    """A worker takes the message for one more attempt through ``provider``, owning it until the
    lease ends."""
    row.status = "sending"
    row.attempts += 1
    row.lease_until = now + lease
    row.provider = provider
    row.updated_at = now


def mark_deferred(row: Notification, resume_at: datetime, now: datetime) -> None:
    """Quiet hours: the message waits until ``resume_at``."""
    row.status = "deferred"
    row.next_attempt_at = resume_at
    row.updated_at = now


def mark_retry(
    row: Notification, *, code: str | None, message: str | None, delay: float, now: datetime
) -> None:
    """The attempt failed in a way worth retrying: ``pending`` again in ``delay`` seconds."""
    row.status = "pending"
    row.next_attempt_at = now + timedelta(seconds=delay)
    row.lease_until = None
    row.updated_at = now
    row.error_code = code
    row.error_message = message


async def queue_fallback(session: AsyncSession, row: Notification, now: datetime) -> str | None:
    """Queue the SMS/LMS that stands in for a failed AlimTalk ``row``, once; returns its channel
    (None when there is none: not AlimTalk, no fallback text, or SMS not allowed)."""
    if row.channel != Channel.ALIMTALK or row.fallback_text is None:
        return None
    preference = await repository.preference(session, row.citizen_id)
    if "sms" not in allowed_channels(preference):
        return None
    channel, body, title = choose_fallback(row.fallback_text, row.fallback_title)
    await session.execute(
        insert(Notification)
        .values(
            id=uuid.uuid4(),
            event_id=row.event_id,
            event_type=row.event_type,
            citizen_id=row.citizen_id,
            channel=channel.value,
            template_code=row.template_code,
            variables=row.variables,
            text=body,
            title=title,
            urgent=row.urgent,
            proposal_id=row.proposal_id,
            forum_id=row.forum_id,
            read_at=row.read_at,
            status="pending",
            next_attempt_at=now,
            idempotency_key=idempotency_key(row.event_id, row.citizen_id, channel.value),
            fallback_of=row.id,
            created_at=now,
            updated_at=now,
        )
        .on_conflict_do_nothing()
    )
    return channel.value


async def mark_sent(
    session: AsyncSession,
    row: Notification,
    *,
    provider: str,
    provider_message_id: str | None,
    now: datetime,
    confirm_after: float,
) -> None:
    """The provider accepted the message; apply any report that arrived before we knew its id."""
    row.status = "sent"
    row.provider = provider
    row.provider_message_id = provider_message_id or row.provider_message_id
    row.sent_at = now
    row.updated_at = now
    row.lease_until = None
    row.error_code = None
    row.error_message = None
    # From now on next_attempt_at is when to ask the provider whether it was delivered.
    row.next_attempt_at = now + timedelta(seconds=confirm_after)
    if row.provider_message_id is None:
        return
    for report in await repository.unapplied_reports(session, provider, row.provider_message_id):
        await _apply_to(session, row, report, now)


async def mark_failed(
    session: AsyncSession,
    row: Notification,
    *,
    reason: str,
    code: str | None,
    message: str | None,
    now: datetime,
) -> None:
    """The provider refused the message or reported it undelivered: queue the fallback and
    tell the platform (``notify.failed``)."""
    row.status = "failed"
    row.failed_at = now
    row.updated_at = now
    row.lease_until = None
    row.error_code = code
    row.error_message = message
    fallback = await queue_fallback(session, row, now)
    outbox.add(
        session,
        NotificationFailed(
            **_event_fields(row),
            provider=row.provider,
            reason="rejected" if reason == "rejected" else "undelivered",
            code=code,
            fallback_channel=fallback,
            failed_at=now,
        ),
    )


async def mark_dead(
    session: AsyncSession,
    row: Notification,
    *,
    code: str | None,
    message: str | None,
    now: datetime,
) -> None:
    """Retries are exhausted: the message waits for an operator (``notify.dead_lettered``); an
    AlimTalk's SMS/LMS fallback is queued so that the citizen is told anyway."""
    row.status = "dead"
    row.updated_at = now
    row.lease_until = None
    row.error_code = code
    row.error_message = message
    await queue_fallback(session, row, now)
    outbox.add(
        session,
        NotificationDeadLettered(
            **_event_fields(row), attempts=row.attempts, code=code, dead_at=now
        ),
    )


def mark_skipped(row: Notification, reason: str, now: datetime) -> None:
    """Nothing will be sent (opted out, no phone, citizen not active, channel refused)."""
    row.status = "skipped"
    row.skip_reason = reason
    row.updated_at = now
    row.lease_until = None


# --- delivery reports -------------------------------------------------------------------------


async def record_report(
    session: AsyncSession, provider: str, report: DeliveryReport, now: datetime
) -> bool:
    """Keep a delivery report and apply it to its message; False when the message is not
    known yet (the report is applied when the send result is recorded)."""
    stored = DeliveryReportRow(
        provider=provider,
        provider_message_id=report.provider_message_id,
        channel=report.channel.value,
        status=report.status.value,
        code=report.code,
        reported_at=report.reported_at,
        received_at=now,
    )
    session.add(stored)
    row = await repository.by_provider_message_id(session, provider, report.provider_message_id)
    if row is None:
        await session.flush()
        return False
    await _apply_to(session, row, stored, now)
    return True


async def _apply_to(
    session: AsyncSession, row: Notification, report: DeliveryReportRow, now: datetime
) -> None:
    report.applied = True
    report.notification_id = row.id
    if row.status != "sent" or report.status == DeliveryStatus.PENDING:
        # Final already (a repeated webhook), or no news.
        return
    at = report.reported_at or now
    if report.status == DeliveryStatus.DELIVERED:
        row.status = "delivered"
        row.delivered_at = at
        row.updated_at = now
        outbox.add(
            session,
            NotificationDelivered(
                **_event_fields(row), provider=row.provider or report.provider, delivered_at=at
            ),
        )
    elif report.status == DeliveryStatus.FAILED:
        await mark_failed(
            session, row, reason="undelivered", code=report.code, message=None, now=now
        )
