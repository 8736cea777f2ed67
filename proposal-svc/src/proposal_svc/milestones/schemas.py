"""Request and response bodies of milestones."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from proposal_svc.schemas import nfc

MilestoneStatus = Literal["planned", "in_progress", "done", "dropped"]
_MID = "5e4d3c2b-1a09-4f8e-9d7c-6b5a4f3e2d1c"
_PID = "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f"


class MilestoneCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "title": "대여소 12곳 설치 공사 착수",
                    "status": "in_progress",
                    "progress": 40,
                    "budget_krw": 360000000,
                    "note": "마포구 6곳 완료, 나머지 6곳은 3월까지 설치합니다.",
                },
                {
                    "title": "사업 중단",
                    "status": "dropped",
                    "note": "부지 확보가 되지 않았습니다.",
                    "reason": "부지 소유자와 협의가 결렬되어 대체 부지를 찾는 중입니다.",
                },
            ]
        },
    )

    title: str = Field(min_length=1, max_length=200)
    status: MilestoneStatus
    #: Percent done (0..100).
    progress: int | None = Field(default=None, ge=0, le=100)
    #: Budget spent or committed, in won.
    budget_krw: int | None = Field(default=None, ge=0, le=10**15)
    note: str = Field(max_length=5000)
    #: Why the project was dropped: required when dropping a budget-linked proposal's project.
    reason: str | None = Field(default=None, max_length=2000)

    @field_validator("title", "note", "reason")
    @classmethod
    def _normalise(cls, value: str | None) -> str | None:
        return nfc(value) if value is not None else None


class MilestonePublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": _MID,
                    "proposal_id": _PID,
                    "title": "대여소 12곳 설치 공사 착수",
                    "status": "in_progress",
                    "progress": 40,
                    "budget_krw": 360000000,
                    "note": "마포구 6곳 완료, 나머지 6곳은 3월까지 설치합니다.",
                    "reason": None,
                    "published_by_role": "department",
                    "department": "교통실",
                    "published_at": "2027-01-10T09:00:00Z",
                }
            ]
        }
    )

    id: uuid.UUID
    proposal_id: uuid.UUID
    title: str
    status: MilestoneStatus
    progress: int | None
    budget_krw: int | None
    note: str
    reason: str | None
    published_by_role: str
    department: str | None
    published_at: datetime


class MilestoneList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "proposal_id": _PID,
                    "items": [MilestonePublic.model_config["json_schema_extra"]["examples"][0]],  # type: ignore[index]
                }
            ]
        }
    )

    proposal_id: uuid.UUID
    items: list[MilestonePublic]
