"""A citizen's own votes (``GET /v1/votes/mine``), each with its ledger status, and the read
model of the ledger's batches that tells it."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from services.canonical import TargetType
from services.paging import after_keyset, decode_keyset, encode_keyset
from vote_svc.models import LedgerRecording, Vote


@dataclass(frozen=True)
class MyVote:
    """One of the citizen's votes and, once the ledger recorded it, when and in which batch."""

    vote: Vote
    batch_seq: int | None
    recorded_at: datetime | None


async def my_votes(
    session: AsyncSession,
    citizen_id: uuid.UUID,
    *,
    target_type: TargetType | None,
    target_id: uuid.UUID | None,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[MyVote], str | None]:
    """The citizen's votes newest first (keyset over ``(cast_at, id)``: the index
    ``ix_votes_citizen_recent``) and the next page's cursor; 400 ``invalid-cursor``."""
    after = decode_keyset(cursor, (datetime, uuid.UUID))
    query = (
        select(Vote, LedgerRecording.batch_seq, LedgerRecording.recorded_at)
        .outerjoin(LedgerRecording, LedgerRecording.vote_id == Vote.id)
        .where(Vote.citizen_id == citizen_id)
    )
    if target_type is not None:
        query = query.where(Vote.target_type == target_type)
    if target_id is not None:
        query = query.where(Vote.target_id == target_id)
    if after is not None:
        columns: list[Any] = [Vote.cast_at, Vote.id]
        query = query.where(after_keyset(columns, after))
    query = query.order_by(Vote.cast_at.desc(), Vote.id.desc()).limit(limit + 1)
    rows = [MyVote(v, seq, at) for v, seq, at in (await session.execute(query)).all()]
    page = rows[:limit]
    next_cursor = (
        encode_keyset([page[-1].vote.cast_at, page[-1].vote.id]) if len(rows) > limit else None
    )
    return page, next_cursor


async def batch_recorded(
    session: AsyncSession, vote_ids: Sequence[uuid.UUID], batch_seq: int, at: datetime
) -> None:
    """The ledger recorded ``vote_ids`` in batch ``batch_seq`` (a redelivery changes nothing)."""
    if not vote_ids:
        return
    await session.execute(
        insert(LedgerRecording)
        .values([{"vote_id": v, "batch_seq": batch_seq, "recorded_at": at} for v in vote_ids])
        .on_conflict_do_nothing()
    )
