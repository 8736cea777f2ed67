"""A target's votes as the public ledger knows them, recounted from the rows (what ledger-svc's
audit compares with its own records)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from services.canonical import TargetType
from vote_svc import repository
from vote_svc.service.tallies import known_tally


async def target_records(
    session: AsyncSession, target_type: TargetType, target_id: uuid.UUID
) -> tuple[int, list[tuple[uuid.UUID, str, str, datetime]]]:
    """The target's running tally and every vote row (id, voter tag, record hash), counted from
    the rows themselves: what the ledger's audit compares with its own records."""
    _, tally = await known_tally(session, target_type, target_id)
    rows = await repository.vote_rows(session, target_type, target_id)
    return (tally.vote_count if tally else 0), rows
