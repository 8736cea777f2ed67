"""Planning messages: one row of the notification log per (event, recipient, channel), the
fan-outs whose recipients another service knows, and the proposals read model that tells who to
tell about a forum."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from notify_svc import repository, templates
from notify_svc.encoding import choose_fallback
from notify_svc.models import Notification, Preference, ProposalRef, RecipientJob
from notify_svc.providers.base import Channel
from notify_svc.service.preferences import allowed_channels

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
    #: What it is about (the notification's deep link).
    proposal_id: uuid.UUID | None = None
    forum_id: uuid.UUID | None = None

    def as_params(self) -> dict[str, Any]:
        """JSON form (kept in a recipient job until its recipients are known)."""
        return {
            "template_code": self.template_code,
            "variables": dict(self.variables),
            "urgent": self.urgent,
            "proposal_id": str(self.proposal_id) if self.proposal_id else None,
            "forum_id": str(self.forum_id) if self.forum_id else None,
        }

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Message:
        """The message a recipient job keeps."""
        return cls(
            template_code=str(params["template_code"]),
            variables={str(k): str(v) for k, v in dict(params["variables"]).items()},
            urgent=bool(params.get("urgent", False)),
            proposal_id=_uuid(params.get("proposal_id")),
            forum_id=_uuid(params.get("forum_id")),
        )


def _uuid(value: object) -> uuid.UUID | None:
    return uuid.UUID(str(value)) if value else None


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
    preferences = await repository.preferences_of(session, recipients)
    rows = [
        _planned_row(
            event_id, event_type, citizen_id, preferences.get(citizen_id), message, rendered, now
        )
        for citizen_id in recipients
    ]
    inserted = await session.execute(
        insert(Notification).values(rows).on_conflict_do_nothing().returning(Notification.id)
    )
    return len(inserted.all())


def _planned_row(
    event_id: uuid.UUID,
    event_type: str,
    citizen_id: uuid.UUID,
    preference: Preference | None,
    message: Message,
    rendered: templates.Rendered,
    now: datetime,
) -> dict[str, Any]:
    """The notification row of one recipient: channel by their preference, skipped when they
    opted out."""
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
    return {
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
        "proposal_id": message.proposal_id,
        "forum_id": message.forum_id,
        "status": "skipped" if opted_out else "pending",
        "skip_reason": "opted_out" if opted_out else None,
        "next_attempt_at": now,
        "idempotency_key": idempotency_key(event_id, citizen_id, channel.value),
        "created_at": now,
        "updated_at": now,
    }


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
