"""Response bodies of open data."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict

_FILE: dict[str, Any] = {
    "name": "proposals.csv",
    "rows": 10432,
    "bytes": 8123456,
    "sha256": "9f2c1e0b7a5d4c3b2a1908f7e6d5c4b3a29180f7e6d5c4b3a29180f7e6d5c4b3",
    "url": "/v1/open-data/snapshots/2026-12-01/proposals.csv",
}


class SnapshotFilePublic(BaseModel):
    name: str
    rows: int
    bytes: int
    sha256: str
    url: str


class SnapshotPublic(BaseModel):
    date: date
    generated_at: datetime
    files: list[SnapshotFilePublic]


class SnapshotList(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "date": "2026-12-01",
                            "generated_at": "2026-11-30T15:00:03Z",
                            "files": [_FILE],
                        }
                    ]
                }
            ]
        }
    )

    items: list[SnapshotPublic]


class ObligationCellPublic(BaseModel):
    key: str
    total: int
    due: int
    fulfilled_on_time: int
    fulfilled_late: int
    overdue: int
    open: int
    median_days_to_fulfil: float | None


class ObligationStatistics(BaseModel):
    """Obligations per department, tier, category, district or month."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "by": "department",
                    "as_of": "2026-12-02T09:00:00Z",
                    "items": [
                        {
                            "key": "교통실",
                            "total": 14,
                            "due": 12,
                            "fulfilled_on_time": 9,
                            "fulfilled_late": 2,
                            "overdue": 1,
                            "open": 2,
                            "median_days_to_fulfil": 17.5,
                        },
                        {
                            "key": "mayor_office",
                            "total": 2,
                            "due": 1,
                            "fulfilled_on_time": 1,
                            "fulfilled_late": 0,
                            "overdue": 0,
                            "open": 1,
                            "median_days_to_fulfil": 25.0,
                        },
                    ],
                }
            ]
        }
    )

    by: str
    as_of: datetime
    items: list[ObligationCellPublic]


class AgreementCellPublic(BaseModel):
    key: str
    proposals: int
    agreements: int


class AgreementStatistics(BaseModel):
    """Agreements with the proposals of each district or category."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "by": "district",
                    "items": [
                        {"key": "마포구", "proposals": 31, "agreements": 2210},
                        {"key": "(unassigned)", "proposals": 4, "agreements": 12},
                    ],
                }
            ]
        }
    )

    by: str
    items: list[AgreementCellPublic]
