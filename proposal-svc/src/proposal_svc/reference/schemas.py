"""Bodies of the reference data."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from proposal_svc.config import ObligationKind


class CategoryPublic(BaseModel):
    code: str
    label_ko: str
    label_en: str


class CategoryList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"items": [{"code": "transport", "label_ko": "교통", "label_en": "Transport"}]}
            ]
        }
    )

    items: list[CategoryPublic]


class DistrictPublic(BaseModel):
    code: str
    name_ko: str
    name_en: str


class DistrictList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"items": [{"code": "11440", "name_ko": "마포구", "name_en": "Mapo-gu"}]}]
        }
    )

    items: list[DistrictPublic]


class TierPublic(BaseModel):
    name: str
    threshold: int
    obligation: ObligationKind
    due_days: int


class BudgetLinkPublic(BaseModel):
    participants: int
    review_days: int


class TierList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "name": "department_answer",
                            "threshold": 50,
                            "obligation": "department_answer",
                            "due_days": 30,
                        },
                        {"name": "forum", "threshold": 100, "obligation": "forum", "due_days": 30},
                        {
                            "name": "mayor_answer",
                            "threshold": 1000,
                            "obligation": "mayor_answer",
                            "due_days": 30,
                        },
                    ],
                    "agreement_days": 30,
                    "forum_days": 14,
                    "budget_link": {"participants": 1000, "review_days": 90},
                }
            ]
        }
    )

    items: list[TierPublic]
    agreement_days: int
    forum_days: int
    budget_link: BudgetLinkPublic
