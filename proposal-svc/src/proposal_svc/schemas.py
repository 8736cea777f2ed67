"""Request and response bodies of proposal-svc (the public contract of API.md)."""

from __future__ import annotations

import unicodedata
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proposal_svc.config import ObligationKind

ProposalStatus = Literal["open", "closed", "adopted", "budget_linked", "withdrawn", "hidden"]
PID = "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f"


def nfc(value: str) -> str:
    """Unicode NFC, trimmed: the same text typed on two keyboards is stored the same."""
    return unicodedata.normalize("NFC", value).strip()


def filled(value: str) -> str:
    """:func:`nfc`, refusing a text that is only whitespace (a 422, like an empty one)."""
    normal = nfc(value)
    if not normal:
        raise ValueError("must not be empty or only whitespace")
    return normal


class ProposalCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "따릉이 대여소를 늘려주세요",
                    "body": "출퇴근 시간에 역 앞 대여소에 자전거가 없습니다. 대여소와 거치대를 늘려주세요.",
                    "category": "transport",
                    "district": "마포구",
                }
            ]
        },
    )

    title: str = Field(min_length=1, max_length=500)
    body: str = Field(min_length=1, max_length=50_000)
    category: str = Field(min_length=1, max_length=40)
    district: str | None = Field(default=None, max_length=40)

    @field_validator("title", "body", "category")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return filled(value)

    @field_validator("district")
    @classmethod
    def _district(cls, value: str | None) -> str | None:
        return nfc(value) or None if value is not None else None


class SimilarPublic(BaseModel):
    id: uuid.UUID
    title: str
    score: float
    status: str


class TierReached(BaseModel):
    tier: str
    threshold: int
    reached_at: datetime


class ObligationPublic(BaseModel):
    kind: ObligationKind
    due_at: datetime
    fulfilled_at: datetime | None
    overdue: bool


class AnswerPublic(BaseModel):
    id: uuid.UUID
    kind: Literal["department", "mayor"]
    body: str
    department: str | None
    created_at: datetime


class AdoptionPublic(BaseModel):
    decision: Literal["adopt", "decline"]
    reason: Literal["timely", "many_similar", "other"]
    rationale: str
    grouped_proposal_ids: list[uuid.UUID]
    decided_at: datetime


_PROPOSAL_EXAMPLE: dict[str, Any] = {
    "id": PID,
    "title": "따릉이 대여소를 늘려주세요",
    "body": "출퇴근 시간에 역 앞 대여소에 자전거가 없습니다.",
    "category": "transport",
    "district": "마포구",
    "district_code": "11440",
    "status": "open",
    "agreement_count": 132,
    "created_at": "2026-11-01T09:00:00Z",
    "opened_at": "2026-11-01T09:00:00Z",
    "closes_at": "2026-12-01T09:00:00Z",
    "tiers_reached": [
        {"tier": "department_answer", "threshold": 50, "reached_at": "2026-11-03T10:00:00Z"},
        {"tier": "forum", "threshold": 100, "reached_at": "2026-11-05T18:30:00Z"},
    ],
    "obligations": [
        {
            "kind": "department_answer",
            "due_at": "2026-12-03T10:00:00Z",
            "fulfilled_at": None,
            "overdue": False,
        },
        {"kind": "forum", "due_at": "2026-12-05T18:30:00Z", "fulfilled_at": None, "overdue": False},
    ],
    "forum_id": "0b5e8c1e-3b7c-4a55-9d0c-3f1a1f7f2a10",
    "adoption": None,
    "answers": [],
    "similar": [],
}


class ProposalPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_PROPOSAL_EXAMPLE]})

    id: uuid.UUID
    title: str
    body: str
    category: str
    district: str | None = Field(description="The district's Korean name")
    district_code: str | None = Field(description="Its code (GET /v1/proposals/districts)")
    status: ProposalStatus
    agreement_count: int
    created_at: datetime
    opened_at: datetime
    closes_at: datetime
    tiers_reached: list[TierReached]
    obligations: list[ObligationPublic]
    forum_id: uuid.UUID | None = None
    adoption: AdoptionPublic | None = None
    answers: list[AnswerPublic]
    similar: list[SimilarPublic] = Field(default_factory=list, description="Found at creation")


class ProposalSummary(BaseModel):
    id: uuid.UUID
    title: str
    category: str
    district: str | None
    district_code: str | None
    status: ProposalStatus
    agreement_count: int
    created_at: datetime
    closes_at: datetime


class ProposalPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            k: _PROPOSAL_EXAMPLE[k]
                            for k in (
                                "id",
                                "title",
                                "category",
                                "district",
                                "district_code",
                                "status",
                                "agreement_count",
                                "created_at",
                                "closes_at",
                            )
                        }
                    ],
                    "next_cursor": "eyJrIjpbIjIwMjYtMTEtMDFUMDk6MDA6MDBaIl19",
                    "total": 1,
                }
            ]
        }
    )

    items: list[ProposalSummary]
    next_cursor: str | None
    total: int = Field(description="Proposals the filter keeps, on all pages")


class SimilarPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": PID,
                            "title": "따릉이 대여소 확대 요청",
                            "score": 0.62,
                            "status": "open",
                        }
                    ]
                }
            ]
        }
    )

    items: list[SimilarPublic]


class TimelinePublicEntry(BaseModel):
    seq: int
    kind: str
    at: datetime
    actor_role: str | None
    data: dict[str, Any]


class Timeline(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "proposal_id": PID,
                    "entries": [
                        {
                            "seq": 1,
                            "kind": "submitted",
                            "at": "2026-11-01T09:00:00Z",
                            "actor_role": "citizen",
                            "data": {},
                        },
                        {
                            "seq": 2,
                            "kind": "opened",
                            "at": "2026-11-01T09:00:00Z",
                            "actor_role": None,
                            "data": {"closes_at": "2026-12-01T09:00:00Z"},
                        },
                        {
                            "seq": 3,
                            "kind": "tier_reached",
                            "at": "2026-11-03T10:00:00Z",
                            "actor_role": None,
                            "data": {
                                "tier": "department_answer",
                                "threshold": 50,
                                "obligation": "department_answer",
                                "due_at": "2026-12-03T10:00:00Z",
                            },
                        },
                    ],
                }
            ]
        }
    )

    proposal_id: uuid.UUID
    entries: list[TimelinePublicEntry]


class AnswerCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"kind": "department", "body": "내년 상반기까지 대여소 20곳을 늘리겠습니다."}
            ]
        },
    )

    kind: Literal["department", "mayor"]
    body: str = Field(min_length=1, max_length=20_000)

    @field_validator("body")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return filled(value)


class AdoptionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "decision": "adopt",
                    "reason": "many_similar",
                    "rationale": "같은 취지의 제안이 여러 건 접수되어 우수제안으로 채택합니다.",
                    "grouped_proposal_ids": ["0b5e8c1e-3b7c-4a55-9d0c-3f1a1f7f2a10"],
                }
            ]
        },
    )

    decision: Literal["adopt", "decline"]
    reason: Literal["timely", "many_similar", "other"]
    rationale: str = Field(min_length=1, max_length=5000)
    grouped_proposal_ids: list[uuid.UUID] = Field(default_factory=list, max_length=100)

    @field_validator("rationale")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return filled(value)


class ModerationCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"reason": "개인정보 노출"}]}
    )

    reason: str = Field(min_length=1, max_length=500)

    @field_validator("reason")
    @classmethod
    def _normalise(cls, value: str) -> str:
        return filled(value)


class ForumCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "12월 시민 공론장: 노후 공공주택 재건축",
                    "description": "온라인 토론과 시청 다목적홀 오프라인 토론을 함께 진행합니다.",
                    "mode": "hybrid",
                    "options": ["찬성", "반대", "유보"],
                    "opens_at": "2026-12-01T00:00:00Z",
                    "closes_at": "2026-12-15T00:00:00Z",
                }
            ]
        },
    )

    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=10_000)
    mode: Literal["online", "offline", "hybrid"]
    options: list[str] = Field(min_length=2, max_length=10)
    opens_at: datetime
    closes_at: datetime
    proposal_id: uuid.UUID | None = None

    @field_validator("title")
    @classmethod
    def _title(cls, value: str) -> str:
        return filled(value)

    @field_validator("description")
    @classmethod
    def _description(cls, value: str) -> str:
        return nfc(value)

    @field_validator("options")
    @classmethod
    def _options(cls, value: list[str]) -> list[str]:
        normal = [nfc(v) for v in value]
        if any(not 0 < len(v) <= 100 for v in normal) or len(set(normal)) != len(normal):
            raise ValueError("options must be distinct, 1-100 characters each")
        return normal

    @field_validator("opens_at", "closes_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("times need a timezone (e.g. Z)")
        return value


class ForumPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "0b5e8c1e-3b7c-4a55-9d0c-3f1a1f7f2a10",
                    "proposal_id": PID,
                    "title": "공론장: 따릉이 대여소를 늘려주세요",
                    "description": "",
                    "mode": "online",
                    "opens_at": "2026-11-05T18:30:00Z",
                    "closes_at": "2026-11-19T18:30:00Z",
                    "participant_count": 412,
                    "options": ["찬성", "반대", "유보"],
                    "status": "open",
                    "kind": "proposal",
                }
            ]
        }
    )

    id: uuid.UUID
    proposal_id: uuid.UUID | None
    title: str
    description: str
    mode: Literal["online", "offline", "hybrid"]
    opens_at: datetime
    closes_at: datetime
    participant_count: int
    options: list[str]
    status: Literal["scheduled", "open", "closed"]
    kind: Literal["monthly", "proposal"] = Field(
        description="`proposal`: opened on a proposal (its forum tier or staff); `monthly`: the "
        "city's forum on a theme, without a proposal"
    )


class ForumPage(BaseModel):
    """A page of forums, the latest opening first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "0b5e8c1e-3b7c-4a55-9d0c-3f1a1f7f2a10",
                            "proposal_id": None,
                            "title": "12월 시민 공론장: 노후 공공주택 재건축",
                            "description": "",
                            "mode": "hybrid",
                            "opens_at": "2026-12-01T00:00:00Z",
                            "closes_at": "2026-12-15T00:00:00Z",
                            "participant_count": 0,
                            "options": ["찬성", "반대", "유보"],
                            "status": "scheduled",
                            "kind": "monthly",
                        }
                    ],
                    "next_cursor": None,
                    "total": 1,
                }
            ]
        }
    )

    items: list[ForumPublic]
    next_cursor: str | None
    total: int = Field(description="Forums the filter keeps, on all pages")
