"""Helpers for the services library's own tests."""

from __future__ import annotations

import uuid
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncEngine

from services.consumer import InboxMessage
from services.db import Base
from services.events import Event
from services.outbox import OutboxMessage


class SampleHappened(Event):
    """An event type that exists only in tests."""

    name: ClassVar[str] = "sample.happened"
    source: ClassVar[str] = "/tests"
    sample_id: uuid.UUID
    note: str = ""

    def ce_subject(self) -> str:
        return f"samples/{self.sample_id}"


SAMPLE_STREAM = ("SAMPLE", ("sample.>",))


async def create_outbox_inbox(engine: AsyncEngine) -> None:
    """Only the shared tables, in a fresh database."""
    async with engine.begin() as conn:
        await conn.run_sync(
            Base.metadata.create_all,
            tables=[OutboxMessage.__table__, InboxMessage.__table__],  # type: ignore[list-item]
        )
