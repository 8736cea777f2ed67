"""Request and response bodies of follows."""

from __future__ import annotations

import uuid

from pydantic import BaseModel, ConfigDict, Field

CITIZEN = "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f"


class FollowPublic(BaseModel):
    """Whether the signed-in citizen follows the proposal."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"proposal_id": "0b5e8c1e-3b7c-4a55-9d0c-3f1a1f7f2a10", "following": True}]
        }
    )

    proposal_id: uuid.UUID
    following: bool


class FollowPreferences(BaseModel):
    """A citizen's follow preferences."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"follow_agreed": False}]}
    )

    follow_agreed: bool = Field(
        description="Agreeing with a proposal makes me a follower of it (default true)"
    )


class FollowerInternal(BaseModel):
    citizen_id: uuid.UUID


class FollowerPageInternal(BaseModel):
    """One page of a proposal's followers, ordered by citizen id."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {"items": [{"citizen_id": CITIZEN}], "next_cursor": "ag8rHpPET36PSno9LBsOnw"}
            ]
        }
    )

    items: list[FollowerInternal]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )
