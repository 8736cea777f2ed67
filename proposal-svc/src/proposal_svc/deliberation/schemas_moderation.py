"""Request and response bodies of moderation (moderators and admins only)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from proposal_svc.deliberation.schemas import (
    CID,
    COMMENT_EXAMPLE,
    CURSOR,
    HARD_MAX,
    CommentPublic,
    HoldRule,
    ReportReason,
)

_DECISION_ID = "9f3e4d5c-6b7a-4c8d-9e0f-1a2b3c4d5e6f"
_MODERATOR = "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"
_AUTHOR = "4b5c6d7e-8f9a-4b0c-8d1e-2f3a4b5c6d7e"
_HELD: dict[str, Any] = {
    **COMMENT_EXAMPLE,
    "status": "held",
    "held_rule": "reports",
    "body": "이런 ○○○ 같은 제안은 왜 올리나요",
    "author_id": _AUTHOR,
    "report_count": 3,
    "open_reports": 3,
    "queued_at": "2026-11-03T11:00:00Z",
}


class HideCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "욕설 및 인신공격"}]}
    )

    #: Shown to everyone in place of the comment.
    reason: str = Field(min_length=1, max_length=HARD_MAX)


class RestoreCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "신고 내용 확인 결과 운영 원칙 위반 아님"}, {}]},
    )

    #: A note for the record (not shown to readers).
    reason: str | None = Field(default=None, max_length=HARD_MAX)


class CommentModerated(CommentPublic):
    """A comment as moderators see it: its body in every state but deleted, and its author."""

    model_config = ConfigDict(json_schema_extra={"examples": [_HELD]})

    author_id: uuid.UUID
    report_count: int
    open_reports: int
    #: Since when it waits in the queue (null when it does not).
    queued_at: datetime | None


class QueuedReport(BaseModel):
    reason: ReportReason
    detail: str | None
    created_at: datetime


class QueueItem(BaseModel):
    comment: CommentModerated
    #: Open reports by reason.
    reasons: dict[str, int]
    #: The open reports, oldest first (at most 20).
    reports: list[QueuedReport]


class QueuePage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "comment": _HELD,
                            "reasons": {"abuse": 2, "spam": 1},
                            "reports": [
                                {
                                    "reason": "abuse",
                                    "detail": "특정인을 향한 욕설입니다.",
                                    "created_at": "2026-11-03T11:00:00Z",
                                },
                                {
                                    "reason": "spam",
                                    "detail": None,
                                    "created_at": "2026-11-03T11:20:00Z",
                                },
                                {
                                    "reason": "abuse",
                                    "detail": None,
                                    "created_at": "2026-11-03T11:42:00Z",
                                },
                            ],
                        }
                    ],
                    "next_cursor": CURSOR,
                }
            ]
        }
    )

    items: list[QueueItem]
    next_cursor: str | None


class DecisionPublic(BaseModel):
    id: uuid.UUID
    comment_id: uuid.UUID
    action: Literal["hold", "hide", "restore"]
    #: A rule decided (``rule`` says which), not a person.
    automatic: bool
    rule: HoldRule | None
    reason: str | None
    from_status: str
    to_status: str
    open_reports: int
    decided_by: uuid.UUID | None
    decided_by_role: str | None
    decided_at: datetime


class DecisionPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": _DECISION_ID,
                            "comment_id": CID,
                            "action": "hide",
                            "automatic": False,
                            "rule": None,
                            "reason": "욕설 및 인신공격",
                            "from_status": "held",
                            "to_status": "hidden",
                            "open_reports": 3,
                            "decided_by": _MODERATOR,
                            "decided_by_role": "moderator",
                            "decided_at": "2026-11-03T13:05:00Z",
                        },
                        {
                            "id": "1b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e",
                            "comment_id": CID,
                            "action": "hold",
                            "automatic": True,
                            "rule": "reports",
                            "reason": None,
                            "from_status": "published",
                            "to_status": "held",
                            "open_reports": 3,
                            "decided_by": None,
                            "decided_by_role": None,
                            "decided_at": "2026-11-03T11:42:00Z",
                        },
                    ],
                    "next_cursor": None,
                }
            ]
        }
    )

    items: list[DecisionPublic]
    next_cursor: str | None


class EditPublic(BaseModel):
    #: The text before this edit (null once the author deleted the comment).
    previous_body: str | None
    edited_at: datetime


class EditHistory(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "comment_id": CID,
                    "body": "출근길 역 앞 대여소가 늘 비어 있어요.",
                    "edits": [
                        {
                            "previous_body": "출근길 역 앞 대여소가 늘 비어 있어요. 꼭 필요합니다 🚲",
                            "edited_at": "2026-11-03T10:21:00Z",
                        }
                    ],
                }
            ]
        }
    )

    comment_id: uuid.UUID
    #: The text now (null once deleted).
    body: str | None
    edits: list[EditPublic]
