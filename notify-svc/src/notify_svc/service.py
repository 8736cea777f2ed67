"""notify-svc's use cases: planning messages for an event's recipients, the state changes of a
message (sent, delivered, failed, dead, fallback), delivery reports, preferences, and the reads
behind the API. Functions take the caller's session and never commit (the consumer, the
dispatcher or the request owns the transaction)."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from sqlalchemy import Select, and_, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from notify_svc import templates
from notify_svc.encoding import choose_fallback
from notify_svc.models import (
    DeliveryReportRow,
    Notification,
    Preference,
    ProposalRef,
    RecipientJob,
)
from notify_svc.providers.base import Channel, DeliveryReport, DeliveryStatus
from services import outbox
from services.events.schemas import (
    NotificationDeadLettered,
    NotificationDelivered,
    NotificationFailed,
)
from services.problems import ProblemError

log = logging.getLogger(__name__)

#: Channels a citizen who never chose gets: AlimTalk, with SMS/LMS when it fails.
DEFAULT_CHANNELS: Final = ("alimtalk", "sms")
#: The namespace of idempotency keys (uuid5 of ``event:citizen:channel``).
_KEY_NAMESPACE: Final = uuid.UUID("6f1c0f4e-2a7d-5b8e-9c3a-1d2e3f405162")


def idempotency_key(event_id: uuid.UUID, citizen_id: uuid.UUID, channel: str) -> str:
    """The key a provider receives with the message: stable per (event, recipient, channel), so
    every retry and every re-send after a crash carries the same one."""
    return str(uuid.uuid5(_KEY_NAMESPACE, f"{event_id}:{citizen_id}:{channel}"))


@dataclass(frozen=True)
class Message:
    """What to tell recipients of one event: a template and its variables."""

    template_code: str
    variables: Mapping[str, str]
    #: Urgent messages go out during quiet hours too (none of today's templates is).
    urgent: bool = False

    def as_params(self) -> dict[str, Any]:
        """JSON form (kept in a recipient job until its recipients are known)."""
        return {
            "template_code": self.template_code,
            "variables": dict(self.variables),
            "urgent": self.urgent,
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Message:
        """The message a recipient job keeps."""
        return cls(
            template_code=str(params["template_code"]),
            variables={str(k): str(v) for k, v in dict(params["variables"]).items()},
            urgent=bool(params.get("urgent", False)),
        )


# --- planning -------------------------------------------------------------------------------


async def preferences_of(
    session: AsyncSession, citizen_ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Preference]:
    """The stored preferences of those citizens who have any."""
    ids = list(set(citizen_ids))
    if not ids:
        return {}
    rows = await session.scalars(select(Preference).where(Preference.citizen_id.in_(ids)))
    return {p.citizen_id: p for p in rows}


def allowed_channels(preference: Preference | None) -> tuple[str, ...]:
    """The channels a citizen accepts (``alimtalk``, ``sms``; SMS covers LMS too)."""
    return tuple(preference.channels) if preference is not None else DEFAULT_CHANNELS


async def plan(
    session: AsyncSession,
    *,
    event_id: uuid.UUID,
    event_type: str,
    citizen_ids: Sequence[uuid.UUID],
    message: Message,
    now: datetime,
) -> int:
    """Queue one message per recipient for the event; returns how many rows were new.

    The first channel is AlimTalk when the citizen allows it (with the SMS/LMS text kept for a
    fallback when they allow SMS too), else SMS or LMS by length. Citizens who opted out get a
    ``skipped`` row, so that the log shows what they were not sent. Inserting is idempotent:
    a recipient planned before for this event gets nothing new.
    """
    recipients = list(dict.fromkeys(citizen_ids))
    if not recipients:
        return 0
    rendered = templates.render(message.template_code, message.variables)
    preferences = await preferences_of(session, recipients)
    rows: list[dict[str, Any]] = []
    for citizen_id in recipients:
        preference = preferences.get(citizen_id)
        channels = allowed_channels(preference)
        fallback_text: str | None = None
        fallback_title: str | None = None
        title: str | None = None
        if "alimtalk" in channels:
            channel = Channel.ALIMTALK
            body = rendered.text
            if "sms" in channels:
                fallback_text, fallback_title = rendered.sms_text, rendered.lms_title
        else:
            channel, body, title = choose_fallback(rendered.sms_text, rendered.lms_title)
        opted_out = preference is not None and preference.opt_out
        rows.append(
            {
                "id": uuid.uuid4(),
                "event_id": event_id,
                "event_type": event_type,
                "citizen_id": citizen_id,
                "channel": channel.value,
                "template_code": message.template_code,
                "variables": dict(message.variables),
                "text": body,
                "title": title,
                "fallback_text": fallback_text,
                "fallback_title": fallback_title,
                "urgent": message.urgent,
                "status": "skipped" if opted_out else "pending",
                "skip_reason": "opted_out" if opted_out else None,
                "next_attempt_at": now,
                "idempotency_key": idempotency_key(event_id, citizen_id, channel.value),
                "created_at": now,
                "updated_at": now,
            }
        )
    inserted = await session.execute(
        insert(Notification).values(rows).on_conflict_do_nothing().returning(Notification.id)
    )
    return len(inserted.all())


async def add_recipient_job(
    session: AsyncSession,
    *,
    event_id: uuid.UUID,
    event_type: str,
    kind: str,
    params: Mapping[str, Any],
    message: Message,
    now: datetime,
) -> None:
    """Record a fan-out whose recipients another service knows (expanded by the dispatcher)."""
    await session.execute(
        insert(RecipientJob)
        .values(
            event_id=event_id,
            kind=kind,
            event_type=event_type,
            params={**params, "message": message.as_params()},
            next_attempt_at=now,
            created_at=now,
        )
        .on_conflict_do_nothing()
    )


async def remember_proposal(
    session: AsyncSession, proposal_id: uuid.UUID, author_id: uuid.UUID, title: str, now: datetime
) -> None:
    """Keep (or refresh) who proposed ``proposal_id`` and its title."""
    stmt = insert(ProposalRef).values(
        proposal_id=proposal_id, author_id=author_id, title=title, updated_at=now
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[ProposalRef.proposal_id],
            set_={"author_id": author_id, "title": title, "updated_at": now},
        )
    )


async def proposal_ref(session: AsyncSession, proposal_id: uuid.UUID | None) -> ProposalRef | None:
    """The proposer and title of a proposal, if notify-svc has heard of it."""
    if proposal_id is None:
        return None
    return await session.get(ProposalRef, proposal_id)


# --- state changes of a message ---------------------------------------------------------------


def _event_fields(row: Notification) -> dict[str, Any]:
    return {
        "notification_id": row.id,
        "citizen_id": row.citizen_id,
        "event_id": row.event_id,
        "event_type": row.event_type,
        "channel": row.channel,
        "template_code": row.template_code,
    }


async def queue_fallback(session: AsyncSession, row: Notification, now: datetime) -> str | None:
    """Queue the SMS/LMS that stands in for a failed AlimTalk ``row``, once; returns its channel
    (None when there is none: not AlimTalk, no fallback text, or SMS not allowed)."""
    if row.channel != Channel.ALIMTALK or row.fallback_text is None:
        return None
    preference = await session.get(Preference, row.citizen_id)
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
    early = await session.scalars(
        select(DeliveryReportRow)
        .where(
            DeliveryReportRow.provider == provider,
            DeliveryReportRow.provider_message_id == row.provider_message_id,
            DeliveryReportRow.applied.is_(False),
        )
        .order_by(DeliveryReportRow.id)
    )
    for report in early:
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
    row = await session.scalar(
        select(Notification)
        .where(
            Notification.provider == provider,
            Notification.provider_message_id == report.provider_message_id,
        )
        .order_by(Notification.created_at)
        .limit(1)
        .with_for_update()
    )
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


# --- preferences ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Preferences:
    """A citizen's preferences as the API shows them (defaults when never set)."""

    channels: list[str]
    opt_out: bool
    night_consent: bool
    updated_at: datetime | None


async def get_preferences(session: AsyncSession, citizen_id: uuid.UUID) -> Preferences:
    """The citizen's preferences, or the defaults."""
    row = await session.get(Preference, citizen_id)
    if row is None:
        return Preferences(list(DEFAULT_CHANNELS), False, False, None)
    return Preferences(list(row.channels), row.opt_out, row.night_consent, row.updated_at)


async def put_preferences(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    *,
    channels: Sequence[str],
    opt_out: bool,
    night_consent: bool,
    now: datetime,
) -> Preferences:
    """Replace the citizen's preferences."""
    kept = list(dict.fromkeys(channels))
    values: dict[str, Any] = {
        "channels": kept,
        "opt_out": opt_out,
        "night_consent": night_consent,
        "updated_at": now,
    }
    await session.execute(
        insert(Preference)
        .values(citizen_id=citizen_id, **values)
        .on_conflict_do_update(index_elements=[Preference.citizen_id], set_=values)
    )
    return Preferences(kept, opt_out, night_consent, now)


# --- reads ------------------------------------------------------------------------------------


def _encode_cursor(at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps([at.isoformat(), str(row_id)]).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        at, row_id = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        return datetime.fromisoformat(at), uuid.UUID(row_id)
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError) as exc:
        raise ProblemError(
            400, "invalid-cursor", "Invalid cursor", "Use next_cursor from a previous page."
        ) from exc


@dataclass
class Page:
    """One page of messages, newest first, and the cursor of the next."""

    items: list[Notification] = field(default_factory=list)
    next_cursor: str | None = None


async def _newest_first(
    session: AsyncSession,
    query: Select[Notification],
    at_column: InstrumentedAttribute[datetime],
    *,
    cursor: str | None,
    limit: int,
) -> Page:
    """One page of ``query``'s messages, newest ``at_column`` first (keyset pagination)."""
    if cursor:
        at, row_id = _decode_cursor(cursor)
        query = query.where(or_(at_column < at, and_(at_column == at, Notification.id < row_id)))
    rows = list(
        await session.scalars(
            query.order_by(at_column.desc(), Notification.id.desc()).limit(limit + 1)
        )
    )
    page = Page(rows[:limit])
    if len(rows) > limit:
        last = page.items[-1]
        page.next_cursor = _encode_cursor(getattr(last, at_column.key), last.id)
    return page


async def list_for_citizen(
    session: AsyncSession, citizen_id: uuid.UUID, *, cursor: str | None, limit: int
) -> Page:
    """The messages planned for a citizen, newest first (keyset pagination)."""
    query = select(Notification).where(Notification.citizen_id == citizen_id)
    return await _newest_first(session, query, Notification.created_at, cursor=cursor, limit=limit)


async def list_dead(session: AsyncSession, *, cursor: str | None, limit: int) -> Page:
    """Dead messages (retries exhausted), most recently given up first."""
    query = select(Notification).where(Notification.status == "dead")
    return await _newest_first(session, query, Notification.updated_at, cursor=cursor, limit=limit)


async def requeue(session: AsyncSession, notification_id: uuid.UUID, now: datetime) -> Notification:
    """Give a dead message a fresh set of attempts, due now (same idempotency key)."""
    row = await session.get(Notification, notification_id, with_for_update=True)
    if row is None:
        raise ProblemError(
            404, "notification-not-found", "Notification not found", f"no message {notification_id}"
        )
    if row.status != "dead":
        raise ProblemError(
            409,
            "notification-not-dead",
            "Only dead messages can be requeued",
            f"the message is {row.status}",
            status_now=row.status,
        )
    stand_in = await session.scalar(
        select(Notification.id).where(Notification.fallback_of == row.id)
    )
    if stand_in is not None:
        raise ProblemError(
            409,
            "fallback-exists",
            "A fallback already carries this message",
            "an SMS/LMS was queued in place of this AlimTalk; requeueing would tell the citizen "
            "twice",
            fallback_id=stand_in,
        )
    row.status = "pending"
    row.attempts = 0
    row.next_attempt_at = now
    row.updated_at = now
    row.error_code = None
    row.error_message = None
    return row
