"""Event schemas, grouped by the publishing service. Additive changes only within a version."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import Field

from services.events.envelope import Event

AgeBand = Literal["under_14", "14_17", "18_29", "30_39", "40_49", "50_59", "60_69", "70_plus"]


class _IdentityEvent(Event):
    source: ClassVar[str] = "/identity-svc"
    citizen_id: uuid.UUID

    def ce_subject(self) -> str:
        return f"citizens/{self.citizen_id}"


class CitizenVerified(_IdentityEvent):
    """A person completed real-name verification (first time or again through another provider)."""

    name: ClassVar[str] = "identity.citizen_verified"
    provider: str = Field(examples=["sandbox"])
    first_verification: bool
    age_band: AgeBand
    is_foreigner: bool
    verified_at: datetime


class CitizenSuspended(_IdentityEvent):
    """An admin suspended a citizen: they can no longer sign in, refresh tokens or vote."""

    name: ClassVar[str] = "identity.citizen_suspended"
    reason: str
    suspended_at: datetime
    suspended_by: uuid.UUID


class CitizenReinstated(_IdentityEvent):
    """An admin lifted a citizen's suspension."""

    name: ClassVar[str] = "identity.citizen_reinstated"
    reinstated_at: datetime
    reinstated_by: uuid.UUID
