"""Request and response bodies of comments, opinions, likes and reports (the public side)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Stance = Literal["pro", "con", "neutral"]
CommentStatus = Literal["published", "held", "hidden", "deleted"]
HoldRule = Literal["reports", "word_list", "privacy"]
ReportReason = Literal["spam", "abuse", "privacy", "off_topic", "other"]
CommentSort = Literal["recent", "liked", "oldest"]

#: Bodies are bounded here only against abuse of the parser; the configured limits
#: (``PROPOSAL_COMMENT_BODY_MAX``...) are applied, after NFC, by the use cases (422 text-too-long).
HARD_MAX = 50_000

CID = "3c9e4b8a-2f1d-4e6a-9b7c-5d0e1f2a3b4c"
RID = "5e2d7c1a-8b4f-4a3e-9c6d-2b1a0f9e8d7c"
PID = "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f"
FID = "0b5e8c1e-3b7c-4a55-9d0c-3f1a1f7f2a10"
CURSOR = "WyIyMDI2LTExLTAzVDEwOjE1OjAwKzAwOjAwIiwiM2M5ZTRiOGEiXQ"


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


class CommentCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"body": "출근길 역 앞 대여소가 늘 비어 있어요. 꼭 필요합니다 🚲"},
                {"body": "저도 같은 생각입니다.", "parent_id": CID},
            ]
        },
    )

    body: str = Field(min_length=1, max_length=HARD_MAX)
    #: The comment answered. A reply to a reply answers its top-level comment: one level only.
    parent_id: uuid.UUID | None = None


class CommentUpdate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"body": "출근길 역 앞 대여소가 늘 비어 있어요."}]},
    )

    body: str = Field(min_length=1, max_length=HARD_MAX)


class OpinionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"stance": "pro", "body": "대여소가 늘면 출퇴근 교통량이 줄어듭니다."}]
        },
    )

    stance: Stance
    body: str = Field(min_length=1, max_length=HARD_MAX)


COMMENT_EXAMPLE: dict[str, Any] = {
    "id": CID,
    "kind": "comment",
    "proposal_id": PID,
    "forum_id": None,
    "parent_id": None,
    "stance": None,
    "status": "published",
    "body": "출근길 역 앞 대여소가 늘 비어 있어요. 꼭 필요합니다 🚲",
    "held_rule": None,
    "hidden_reason": None,
    "by_proposal_author": False,
    "like_count": 12,
    "reply_count": 1,
    "edit_count": 0,
    "created_at": "2026-11-03T10:15:00Z",
    "edited_at": None,
    "deleted_at": None,
}
_REPLY: dict[str, Any] = {
    **COMMENT_EXAMPLE,
    "id": "7d1c2b3a-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
    "parent_id": CID,
    "body": "저도 같은 생각입니다.",
    "by_proposal_author": True,
    "like_count": 2,
    "reply_count": 0,
}
_HIDDEN: dict[str, Any] = {
    **COMMENT_EXAMPLE,
    "id": "8e2d3c4b-5f6a-4b7c-9d8e-0f1a2b3c4d5e",
    "status": "hidden",
    "body": None,
    "hidden_reason": "욕설 및 인신공격",
    "like_count": 0,
    "reply_count": 0,
}
_OPINION: dict[str, Any] = {
    **COMMENT_EXAMPLE,
    "kind": "opinion",
    "proposal_id": None,
    "forum_id": FID,
    "stance": "pro",
    "body": "대여소가 늘면 출퇴근 교통량이 줄어듭니다.",
    "reply_count": 0,
}


class CommentPublic(BaseModel):
    """A comment or opinion as anyone reads it. ``body`` is null unless ``published``: a held
    comment waits for review (``held_rule`` says why), a hidden one shows the moderator's
    ``hidden_reason``, a deleted one stays as a tombstone so its replies keep their place."""

    model_config = _examples(COMMENT_EXAMPLE, _HIDDEN)

    id: uuid.UUID
    kind: Literal["comment", "opinion"]
    proposal_id: uuid.UUID | None
    forum_id: uuid.UUID | None
    parent_id: uuid.UUID | None
    stance: Stance | None
    status: CommentStatus
    body: str | None
    held_rule: HoldRule | None
    hidden_reason: str | None
    by_proposal_author: bool
    like_count: int
    reply_count: int
    edit_count: int
    created_at: datetime
    edited_at: datetime | None
    deleted_at: datetime | None


class CommentThread(CommentPublic):
    """A top-level comment with its first replies (oldest first); ``reply_count`` counts all."""

    model_config = _examples({**COMMENT_EXAMPLE, "replies": [_REPLY]})

    replies: list[CommentPublic]


class CommentCounts(BaseModel):
    #: Comments and replies on the proposal, whatever their state.
    total: int
    #: Those readable now.
    published: int


class CommentPage(BaseModel):
    model_config = _examples(
        {
            "proposal_id": PID,
            "parent_id": None,
            "counts": {"total": 14, "published": 13},
            "items": [{**COMMENT_EXAMPLE, "replies": [_REPLY]}, {**_HIDDEN, "replies": []}],
            "next_cursor": CURSOR,
        }
    )

    proposal_id: uuid.UUID
    #: Set when the page lists the replies of this comment.
    parent_id: uuid.UUID | None
    counts: CommentCounts
    items: list[CommentThread]
    next_cursor: str | None


class StanceCounts(BaseModel):
    """Citizens by their latest published opinion in the forum (one stance per person)."""

    pro: int
    con: int
    neutral: int
    participants: int


class OpinionPage(BaseModel):
    model_config = _examples(
        {
            "forum_id": FID,
            "stance": None,
            "counts": {"pro": 41, "con": 17, "neutral": 6, "participants": 64},
            "items": [_OPINION],
            "next_cursor": None,
        }
    )

    forum_id: uuid.UUID
    #: The stance the items are filtered by, if any (the counts are always the whole forum's).
    stance: Stance | None
    counts: StanceCounts
    items: list[CommentPublic]
    next_cursor: str | None


class LikePublic(BaseModel):
    model_config = _examples({"comment_id": CID, "liked": True, "like_count": 13})

    comment_id: uuid.UUID
    #: Whether the caller likes the comment now.
    liked: bool
    like_count: int


class ReportCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"reason": "abuse", "detail": "특정인을 향한 욕설입니다."},
                {"reason": "spam"},
            ]
        },
    )

    reason: ReportReason
    detail: str | None = Field(default=None, max_length=HARD_MAX)


class ReportPublic(BaseModel):
    """A report as its author (and moderators) read it."""

    model_config = _examples(
        {
            "id": RID,
            "comment_id": CID,
            "reason": "abuse",
            "detail": "특정인을 향한 욕설입니다.",
            "status": "open",
            "created_at": "2026-11-03T11:00:00Z",
        }
    )

    id: uuid.UUID
    comment_id: uuid.UUID
    reason: ReportReason
    detail: str | None
    #: ``closed`` once a moderator decided on the comment.
    status: Literal["open", "closed"]
    created_at: datetime
