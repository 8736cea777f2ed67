"""proposal-svc's queries: the selects, inserts and updates the use cases share. They run in the
caller's session and transaction, never commit, and know nothing of HTTP (a missing row is
``None``; the use case decides what that means)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar, cast

from sqlalchemy import Row, Select, Table, bindparam, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from proposal_svc.follows.models import Follow
from proposal_svc.models import (
    Answer,
    CommitteeDecision,
    Forum,
    Obligation,
    Proposal,
    TierCrossing,
    TimelineEntry,
)
from services.paging import KeyValue, after_keyset

T = TypeVar("T")

# --- proposals --------------------------------------------------------------------------------


async def get_proposal(
    session: AsyncSession, proposal_id: uuid.UUID, *, lock: bool = False
) -> Proposal | None:
    """The proposal (``lock``: ``FOR UPDATE``), or None."""
    return await session.get(Proposal, proposal_id, with_for_update=lock)


async def lock_proposals(session: AsyncSession, ids: Sequence[uuid.UUID]) -> Sequence[Proposal]:
    """The proposals of ``ids`` that exist, locked ``FOR UPDATE``."""
    if not ids:
        return []
    return (
        await session.scalars(select(Proposal).where(Proposal.id.in_(ids)).with_for_update())
    ).all()


SortKey = Literal["recent", "agreements"]


def sort_columns(sort: SortKey) -> list[Any]:
    """The ordering columns of a listing, all descending; the last one (id) makes it total."""
    columns: list[Any] = [Proposal.created_at, Proposal.id]
    return [Proposal.agreement_count, *columns] if sort == "agreements" else columns


@dataclass(frozen=True)
class ProposalFilter:
    """What a listing keeps: by status (hidden ones only when asked for), category, district,
    author, follower, and a text in title or body."""

    status: str | None = None
    category: str | None = None
    district: str | None = None
    q: str | None = None
    author_id: uuid.UUID | None = None
    followed_by: uuid.UUID | None = None


def _filtered(query: Select[T], where: ProposalFilter) -> Select[T]:
    if where.status:
        query = query.where(Proposal.status == where.status)
    else:
        query = query.where(Proposal.status != "hidden")
    if where.category:
        query = query.where(Proposal.category == where.category)
    if where.district:
        query = query.where(Proposal.district == where.district)
    if where.author_id is not None:
        query = query.where(Proposal.author_id == where.author_id)
    if where.followed_by is not None:
        query = query.where(
            Proposal.id.in_(
                select(Follow.proposal_id).where(
                    Follow.citizen_id == where.followed_by, Follow.following
                )
            )
        )
    if where.q:
        q = where.q
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(Proposal.search_text.ilike(pattern, escape="\\"))
    return query


async def proposals_page(
    session: AsyncSession,
    where: ProposalFilter,
    *,
    sort: SortKey,
    after: Sequence[KeyValue] | None,
    limit: int,
) -> Sequence[Proposal]:
    """Up to ``limit`` proposals of ``where`` in ``sort`` order after the key ``after`` (the
    ordering values of the previous page's last row)."""
    query = _filtered(select(Proposal), where)
    columns = sort_columns(sort)
    if after is not None:
        query = query.where(after_keyset(columns, after))
    query = query.order_by(*(column.desc() for column in columns)).limit(limit)
    return (await session.scalars(query)).all()


async def count_proposals(session: AsyncSession, where: ProposalFilter) -> int:
    """How many proposals ``where`` keeps (all pages)."""
    return int(await session.scalar(_filtered(select(func.count(Proposal.id)), where)) or 0)


async def proposals_after(
    session: AsyncSession, after: uuid.UUID | None, limit: int
) -> Sequence[Proposal]:
    """The next ``limit`` proposals by id after ``after``, locked ``FOR UPDATE`` (a walk over
    the whole table, one batch per transaction)."""
    query = select(Proposal).order_by(Proposal.id).limit(limit).with_for_update()
    if after is not None:
        query = query.where(Proposal.id > after)
    return (await session.scalars(query)).all()


async def tiers_of(session: AsyncSession, proposal_id: uuid.UUID) -> Sequence[TierCrossing]:
    """The tiers a proposal crossed, lowest threshold first."""
    return (
        await session.scalars(
            select(TierCrossing)
            .where(TierCrossing.proposal_id == proposal_id)
            .order_by(TierCrossing.threshold)
        )
    ).all()


async def obligations_of(session: AsyncSession, proposal_id: uuid.UUID) -> Sequence[Obligation]:
    """A proposal's obligations, oldest first."""
    return (
        await session.scalars(
            select(Obligation)
            .where(Obligation.proposal_id == proposal_id)
            .order_by(Obligation.created_at, Obligation.kind)
        )
    ).all()


async def answers_of(session: AsyncSession, proposal_id: uuid.UUID) -> Sequence[Answer]:
    """A proposal's answers, oldest first."""
    return (
        await session.scalars(
            select(Answer).where(Answer.proposal_id == proposal_id).order_by(Answer.created_at)
        )
    ).all()


async def latest_decision(
    session: AsyncSession, proposal_id: uuid.UUID
) -> CommitteeDecision | None:
    """The committee's latest decision on a proposal, if any."""
    return await session.scalar(
        select(CommitteeDecision)
        .where(CommitteeDecision.proposal_id == proposal_id)
        .order_by(CommitteeDecision.decided_at.desc())
        .limit(1)
    )


async def timeline_of(session: AsyncSession, proposal_id: uuid.UUID) -> Sequence[TimelineEntry]:
    """A proposal's timeline in commit order."""
    return (
        await session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.proposal_id == proposal_id)
            .order_by(TimelineEntry.seq)
        )
    ).all()


def add_timeline_entry(
    session: AsyncSession,
    proposal_id: uuid.UUID,
    entry_kind: str,
    at: datetime,
    actor_role: str | None = None,
    **data: Any,
) -> None:
    """Add an entry to a proposal's public timeline; ``data`` becomes JSON (ids, times as text)."""
    session.add(
        TimelineEntry(
            proposal_id=proposal_id,
            kind=entry_kind,
            at=at,
            actor_role=actor_role,
            data=json.loads(json.dumps(data, default=str)),
        )
    )


# --- tallies and tiers ------------------------------------------------------------------------


def _proposals_table() -> Table:
    return cast(Table, Proposal.__table__)


async def lock_counts(
    session: AsyncSession, ids: Sequence[uuid.UUID]
) -> Sequence[Row[Any, Any, Any]]:
    """``(id, agreement_count, status)`` of the proposals of ``ids``, locked ``FOR UPDATE`` in id
    order (one lock order for every batch, so concurrent batches cannot deadlock)."""
    table = _proposals_table()
    return (
        await session.execute(
            select(table.c.id, table.c.agreement_count, table.c.status)
            .where(table.c.id.in_(sorted(ids)))
            .order_by(table.c.id)
            .with_for_update()
        )
    ).all()


async def set_counts(session: AsyncSession, counts: Sequence[tuple[uuid.UUID, int]]) -> None:
    """Store the agreement counts of ``(proposal id, count)`` in one executemany update."""
    table = _proposals_table()
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("proposal_id"))
        .values(agreement_count=bindparam("count")),
        [{"proposal_id": proposal_id, "count": count} for proposal_id, count in counts],
    )


async def insert_tier_crossing(
    session: AsyncSession, proposal_id: uuid.UUID, tier: str, threshold: int, at: datetime
) -> bool:
    """Record that a proposal crossed a tier; False when it already had (``ON CONFLICT DO
    NOTHING``: a later or redelivered tally)."""
    crossed = await session.scalar(
        insert(TierCrossing)
        .values(proposal_id=proposal_id, tier=tier, threshold=threshold, reached_at=at)
        .on_conflict_do_nothing()
        .returning(TierCrossing.tier)
    )
    return crossed is not None


async def create_obligation(
    session: AsyncSession, proposal_id: uuid.UUID, kind: str, now: datetime, due_at: datetime
) -> None:
    """Create a proposal's obligation of ``kind`` unless it has one already."""
    await session.execute(
        insert(Obligation)
        .values(id=uuid.uuid4(), proposal_id=proposal_id, kind=kind, created_at=now, due_at=due_at)
        .on_conflict_do_nothing()
    )


async def fulfil_obligation(
    session: AsyncSession, proposal_id: uuid.UUID, kind: str, now: datetime
) -> None:
    """Mark the proposal's obligation of ``kind`` fulfilled (if it exists and is still open)."""
    await session.execute(
        update(Obligation)
        .where(
            Obligation.proposal_id == proposal_id,
            Obligation.kind == kind,
            Obligation.fulfilled_at.is_(None),
        )
        .values(fulfilled_at=now)
    )


# --- forums -----------------------------------------------------------------------------------


async def get_forum(
    session: AsyncSession, forum_id: uuid.UUID, *, lock: bool = False
) -> Forum | None:
    """The forum (``lock``: ``FOR UPDATE``), or None."""
    return await session.get(Forum, forum_id, with_for_update=lock)


def _forums_where(query: Select[T], status: str | None, kind: str | None) -> Select[T]:
    if status is not None:
        query = query.where(Forum.status == status)
    if kind == "monthly":
        query = query.where(Forum.proposal_id.is_(None))
    elif kind == "proposal":
        query = query.where(Forum.proposal_id.is_not(None))
    return query


async def forums_page(
    session: AsyncSession,
    *,
    status: str | None,
    kind: str | None,
    after: Sequence[KeyValue] | None,
    limit: int,
) -> Sequence[Forum]:
    """Up to ``limit`` forums, the latest opening first (``opens_at``, then id), after ``after``."""
    query = _forums_where(select(Forum), status, kind)
    columns: list[Any] = [Forum.opens_at, Forum.id]
    if after is not None:
        query = query.where(after_keyset(columns, after))
    query = query.order_by(*(c.desc() for c in columns)).limit(limit)
    return (await session.scalars(query)).all()


async def count_forums(session: AsyncSession, *, status: str | None, kind: str | None) -> int:
    """How many forums the filter keeps."""
    query = _forums_where(select(func.count(Forum.id)), status, kind)
    return int(await session.scalar(query) or 0)


async def first_forum_of(session: AsyncSession, proposal_id: uuid.UUID) -> Forum | None:
    """The first forum opened on a proposal, if any."""
    return await session.scalar(
        select(Forum).where(Forum.proposal_id == proposal_id).order_by(Forum.created_at).limit(1)
    )


async def raise_participant_counts(session: AsyncSession, counts: Mapping[uuid.UUID, int]) -> None:
    """Store forums' participant counts, never lowering one (``greatest``), in id order."""
    table = cast(Table, Forum.__table__)
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("forum_id"))
        .values(participant_count=func.greatest(table.c.participant_count, bindparam("count"))),
        [{"forum_id": forum_id, "count": count} for forum_id, count in sorted(counts.items())],
    )


# --- what is due (the tick) -------------------------------------------------------------------


async def _claim(session: AsyncSession, query: Select[T], batch: int) -> Sequence[T]:
    # SKIP LOCKED: rows another worker is handling are left to it, so workers can tick at once.
    return (await session.scalars(query.limit(batch).with_for_update(skip_locked=True))).all()


async def claim_proposals_to_close(
    session: AsyncSession, now: datetime, batch: int
) -> Sequence[Proposal]:
    """Open proposals whose agreement period ended, soonest first."""
    query = (
        select(Proposal)
        .where(Proposal.status == "open", Proposal.closes_at <= now)
        .order_by(Proposal.closes_at)
    )
    return await _claim(session, query, batch)


async def claim_forums_to_open(session: AsyncSession, now: datetime, batch: int) -> Sequence[Forum]:
    """Scheduled forums whose opening time came."""
    query = select(Forum).where(Forum.status == "scheduled", Forum.opens_at <= now)
    return await _claim(session, query, batch)


async def claim_forums_to_close(
    session: AsyncSession, now: datetime, batch: int
) -> Sequence[Forum]:
    """Open forums whose period ended."""
    query = select(Forum).where(Forum.status == "open", Forum.closes_at <= now)
    return await _claim(session, query, batch)


async def claim_overdue_obligations(
    session: AsyncSession, now: datetime, batch: int
) -> Sequence[Obligation]:
    """Unfulfilled obligations past their due time not yet flagged overdue."""
    query = select(Obligation).where(
        Obligation.fulfilled_at.is_(None),
        Obligation.overdue_at.is_(None),
        Obligation.due_at <= now,
    )
    return await _claim(session, query, batch)
