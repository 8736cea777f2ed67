"""notify-svc request and response bodies."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

PreferenceChannel = Literal["alimtalk", "sms"]

_TEXT_EXAMPLE = (
    "[시민참여] 제안 동의 기준 달성 안내\n\n안녕하세요. 회원님께서 올리신 제안이 시민 동의 기준에 "
    "도달하여 안내해 드립니다.\n\n■ 제안: 따릉이 대여소를 늘려주세요\n■ 동의 수: 50명\n"
    "■ 후속 절차: 담당 부서 답변\n■ 처리 기한: 2026-12-24\n\n처리 결과가 나오면 다시 알려 "
    "드리겠습니다.\n※ 이 메시지는 제안 진행 상황을 알려 드리는 안내 메시지입니다."
)


class PreferencesUpdate(BaseModel):
    """A citizen's notification preferences (replaces what was set before)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"channels": ["alimtalk", "sms"], "opt_out": False, "night_consent": False}
            ]
        },
    )

    #: Allowed channels: ``alimtalk`` first when present, ``sms`` (SMS or LMS by length) as the
    #: fallback or the only channel.
    channels: list[PreferenceChannel] = Field(min_length=1, max_length=2)
    opt_out: bool
    #: Consent to non-urgent messages between 21:00 and 08:00 KST.
    night_consent: bool = False


class PreferencesPublic(BaseModel):
    """The citizen's preferences (defaults until they set any: ``updated_at`` is null)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "channels": ["alimtalk", "sms"],
                    "opt_out": False,
                    "night_consent": False,
                    "updated_at": "2026-11-24T12:00:00Z",
                }
            ]
        }
    )

    channels: list[str]
    opt_out: bool
    night_consent: bool
    updated_at: datetime | None


_NOTIFICATION_EXAMPLE: dict[str, Any] = {
    "id": "0c9f8a6e-2f41-4c55-9a0e-3b8f0d1c2e7a",
    "event_type": "kr.seoul.democracy.proposal.threshold_reached.v1",
    "channel": "alimtalk",
    "template_code": "PROPOSAL_TIER_REACHED",
    "text": _TEXT_EXAMPLE,
    "title": None,
    "status": "delivered",
    "skip_reason": None,
    "attempts": 1,
    "fallback_of": None,
    "created_at": "2026-11-24T12:00:00Z",
    "sent_at": "2026-11-24T12:00:01Z",
    "delivered_at": "2026-11-24T12:00:04Z",
    "failed_at": None,
    "proposal_id": "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f",
    "forum_id": None,
    "link": "https://democracy.seoul.go.kr/proposals/6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f",
    "read_at": None,
}


class NotificationPublic(BaseModel):
    """One message planned for the citizen, with its delivery status."""

    model_config = ConfigDict(json_schema_extra={"examples": [_NOTIFICATION_EXAMPLE]})

    id: uuid.UUID
    event_type: str
    channel: str
    template_code: str
    text: str
    title: str | None
    #: pending, sending, sent (accepted by the provider), delivered, failed, deferred (quiet
    #: hours), skipped (opted out, no phone, ...), dead (retries exhausted).
    status: str
    skip_reason: str | None
    attempts: int
    #: The AlimTalk message this SMS/LMS replaced after it failed.
    fallback_of: uuid.UUID | None
    created_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    #: The proposal the message is about (also for a forum about a proposal).
    proposal_id: uuid.UUID | None = None
    #: The forum the message is about.
    forum_id: uuid.UUID | None = None
    #: Where the app shows it: ``{web}/forums/{forum_id}``, else ``{web}/proposals/{id}``.
    link: str | None = None
    #: When the citizen marked it read (null: unread).
    read_at: datetime | None = None


class NotificationPage(BaseModel):
    """A page of messages, newest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [_NOTIFICATION_EXAMPLE],
                    "next_cursor": None,
                    "unread": 1,
                }
            ]
        }
    )

    items: list[NotificationPublic]
    next_cursor: str | None
    #: How many of the citizen's messages are unread (all of them, not only this page's).
    unread: int = 0


class UnreadCount(BaseModel):
    """How many of the citizen's messages are unread (an SMS standing in for a failed AlimTalk
    is the same message, counted once)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"unread": 3}]})

    unread: int


class ReadAll(BaseModel):
    """What ``read-all`` marked: the messages newly marked read, and the unread left (0)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"marked": 3, "unread": 0}]})

    marked: int
    unread: int


_DEAD_LETTER_EXAMPLE: dict[str, Any] = {
    "id": "0c9f8a6e-2f41-4c55-9a0e-3b8f0d1c2e7a",
    "citizen_id": "5d2c6b1a-8e7f-4a3b-9c0d-1e2f3a4b5c6d",
    "event_id": "7a1b2c3d-4e5f-4061-8a9b-0c1d2e3f4a5b",
    "event_type": "kr.seoul.democracy.proposal.answered.v1",
    "channel": "sms",
    "template_code": "PROPOSAL_ANSWERED",
    "text": "[시민참여] 제안 '따릉이 대여소를 늘려주세요'에 담당 부서 답변이 등록되었습니다.",
    "title": None,
    "status": "dead",
    "skip_reason": None,
    "attempts": 6,
    "fallback_of": None,
    "provider": "nhn_sms",
    "error_code": "http_503",
    "error_message": "Service Unavailable",
    "created_at": "2026-11-24T12:00:00Z",
    "updated_at": "2026-11-24T12:31:00Z",
    "sent_at": None,
    "delivered_at": None,
    "failed_at": None,
}


class DeadLetterPublic(NotificationPublic):
    """A message whose retries are exhausted, as operators see it (never a phone number)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_DEAD_LETTER_EXAMPLE]})

    citizen_id: uuid.UUID
    event_id: uuid.UUID
    provider: str | None
    error_code: str | None
    error_message: str | None
    updated_at: datetime


class DeadLetterPage(BaseModel):
    """Dead messages, most recently given up first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [_DEAD_LETTER_EXAMPLE],
                    "next_cursor": None,
                }
            ]
        }
    )

    items: list[DeadLetterPublic]
    next_cursor: str | None


class WebhookReceived(BaseModel):
    """How many delivery reports the webhook carried and how many matched a known message
    (the others are kept and applied when their message's send result is recorded)."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"received": 1, "matched": 1}]})

    received: int
    matched: int


_DEV_MESSAGE_EXAMPLE: dict[str, Any] = {
    "provider_message_id": "dev-3f0c1d2e3a4b5c6d7e8f90a1b2c3d4e5",
    "notification_id": "0c9f8a6e-2f41-4c55-9a0e-3b8f0d1c2e7a",
    "citizen_id": "5d2c6b1a-8e7f-4a3b-9c0d-1e2f3a4b5c6d",
    "channel": "alimtalk",
    "to": "010-****-5678",
    "template_code": "PROPOSAL_TIER_REACHED",
    "title": None,
    "text": _TEXT_EXAMPLE,
    "accepted_at": "2026-11-24T12:00:01Z",
    "delivered_at": None,
}


class DevMessagePublic(BaseModel):
    """What the dev provider would have sent (development only)."""

    model_config = ConfigDict(json_schema_extra={"examples": [_DEV_MESSAGE_EXAMPLE]})

    provider_message_id: str
    notification_id: uuid.UUID | None
    citizen_id: uuid.UUID | None
    channel: str
    #: The masked number: the dev provider never keeps a full one.
    to: str
    template_code: str | None
    title: str | None
    text: str
    accepted_at: datetime
    delivered_at: datetime | None


class DevMessagePage(BaseModel):
    """Dev provider messages, newest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [_DEV_MESSAGE_EXAMPLE],
                    "next_cursor": None,
                }
            ]
        }
    )

    items: list[DevMessagePublic]
    next_cursor: str | None
