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
