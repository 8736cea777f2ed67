"""The ORM queries vote-svc's use cases share. They read only; the use cases decide what a
missing row means (which problem to raise). The cast itself is not here: it is one hand-written
statement on the driver connection (:mod:`vote_svc.hot_path`)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncSession

from services.canonical import TargetType
from vote_svc.models import CitizenSuspension, Tally, Target, Vote


async def target_and_tally(
    session: AsyncSession, target_type: TargetType, target_id: uuid.UUID
) -> tuple[Target, Tally | None] | None:
    """The target and its tally (None before its first vote); None when the target is unknown."""
    row = (
        await session.execute(
            select(Target, Tally)
            .outerjoin(
                Tally,
                and_(
                    Tally.target_type == Target.target_type,
                    Tally.target_id == Target.target_id,
                ),
            )
            .where(Target.target_type == target_type, Target.target_id == target_id)
        )
    ).first()
    if row is None:
        return None
    target, tally = row
    return target, tally


async def target_vote_and_suspension(
    session: AsyncSession, citizen_id: uuid.UUID, target_type: TargetType, target_id: uuid.UUID
) -> tuple[Target, Vote | None, bool | None] | None:
    """In one query: the target, ``citizen_id``'s vote on it and whether they are suspended
    (None when vote-svc never heard of them); None when the target is unknown."""
    row = (
        await session.execute(
            select(Target, Vote, CitizenSuspension.suspended)
            .outerjoin(
                Vote,
                and_(
                    Vote.target_type == Target.target_type,
                    Vote.target_id == Target.target_id,
                    Vote.citizen_id == citizen_id,
                ),
            )
            .outerjoin(CitizenSuspension, CitizenSuspension.citizen_id == citizen_id)
            .where(Target.target_type == target_type, Target.target_id == target_id)
        )
    ).first()
    if row is None:
        return None
    target, vote, suspended = row
    return target, vote, suspended


async def citizens_vote(
    session: AsyncSession, citizen_id: uuid.UUID, vote_id: uuid.UUID
) -> Vote | None:
    """The vote ``vote_id`` if ``citizen_id`` cast it."""
    return await session.scalar(
        select(Vote).where(Vote.id == vote_id, Vote.citizen_id == citizen_id)
    )


async def vote_rows(
    session: AsyncSession, target_type: TargetType, target_id: uuid.UUID
) -> list[tuple[uuid.UUID, str, str, datetime]]:
    """Every vote of a target as the ledger knows it (id, voter tag, record hash, cast at), by
    vote id."""
    rows = (
        await session.execute(
            select(Vote.id, Vote.voter_tag, Vote.record_hash, Vote.cast_at)
            .where(Vote.target_type == target_type, Vote.target_id == target_id)
            .order_by(Vote.id)
        )
    ).all()
    return [(r.id, r.voter_tag, r.record_hash, r.cast_at) for r in rows]
