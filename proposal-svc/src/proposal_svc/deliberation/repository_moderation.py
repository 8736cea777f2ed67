"""Deliberation's queries of reports, the moderation queue and decisions (as ``repository``)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from proposal_svc.deliberation.models import Comment, CommentReport, ModerationDecision
from services.paging import KeyValue, after_keyset


async def add_report(
    session: AsyncSession,
    *,
    comment_id: uuid.UUID,
    reporter_id: uuid.UUID,
    reason: str,
    detail: str | None,
    at: datetime,
) -> CommentReport | None:
    """Insert a report: the new row, or None when this citizen already reported the comment
    (the unique key decides, also between concurrent reports)."""
    report_id = await session.scalar(
        insert(CommentReport)
        .values(
            id=uuid.uuid4(),
            comment_id=comment_id,
            reporter_id=reporter_id,
            reason=reason,
            detail=detail,
            created_at=at,
        )
        .on_conflict_do_nothing(index_elements=["comment_id", "reporter_id"])
        .returning(CommentReport.id)
    )
    return None if report_id is None else await session.get(CommentReport, report_id)


async def report_by(
    session: AsyncSession, comment_id: uuid.UUID, reporter_id: uuid.UUID
) -> CommentReport | None:
    """The report a citizen made of a comment, if any."""
    return await session.scalar(
        select(CommentReport).where(
            CommentReport.comment_id == comment_id, CommentReport.reporter_id == reporter_id
        )
    )


async def get_report(session: AsyncSession, report_id: uuid.UUID) -> CommentReport | None:
    """A report by id, or None."""
    return await session.get(CommentReport, report_id)


async def close_reports(
    session: AsyncSession, comment_id: uuid.UUID, decision_id: uuid.UUID
) -> None:
    """Close a comment's open reports with the decision made on them."""
    await session.execute(
        update(CommentReport)
        .where(CommentReport.comment_id == comment_id, CommentReport.decision_id.is_(None))
        .values(decision_id=decision_id)
    )


async def queue_page(
    session: AsyncSession, after: Sequence[KeyValue] | None, limit: int
) -> Sequence[Comment]:
    """Comments waiting for a moderator, longest waiting first."""
    columns: list[Any] = [Comment.queued_at, Comment.id]
    query = select(Comment).where(Comment.queued_at.is_not(None))
    if after is not None:
        query = query.where(after_keyset(columns, after, descending=False))
    return (await session.scalars(query.order_by(*columns).limit(limit))).all()


async def open_report_reasons(
    session: AsyncSession, comment_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, dict[str, int]]:
    """Open reports of each comment, counted by reason."""
    if not comment_ids:
        return {}
    rows = await session.execute(
        select(CommentReport.comment_id, CommentReport.reason, func.count())
        .where(CommentReport.comment_id.in_(comment_ids), CommentReport.decision_id.is_(None))
        .group_by(CommentReport.comment_id, CommentReport.reason)
    )
    reasons: dict[uuid.UUID, dict[str, int]] = defaultdict(dict)
    for comment_id, reason, count in rows:
        reasons[comment_id][reason] = int(count)
    return reasons


async def open_reports(
    session: AsyncSession, comment_ids: Sequence[uuid.UUID], per_comment: int
) -> dict[uuid.UUID, list[CommentReport]]:
    """The first ``per_comment`` open reports (oldest first) of each comment."""
    if not comment_ids:
        return {}
    rank = (
        func.row_number()
        .over(
            partition_by=CommentReport.comment_id,
            order_by=(CommentReport.created_at, CommentReport.id),
        )
        .label("rank")
    )
    ranked = (
        select(CommentReport, rank)
        .where(CommentReport.comment_id.in_(comment_ids), CommentReport.decision_id.is_(None))
        .subquery()
    )
    report = aliased(CommentReport, ranked)
    rows = await session.scalars(
        select(report)
        .where(ranked.c.rank <= per_comment)
        .order_by(ranked.c.comment_id, ranked.c.created_at, ranked.c.id)
    )
    found: dict[uuid.UUID, list[CommentReport]] = defaultdict(list)
    for row in rows:
        found[row.comment_id].append(row)
    return found


async def decisions_page(
    session: AsyncSession,
    comment_id: uuid.UUID | None,
    after: Sequence[KeyValue] | None,
    limit: int,
) -> Sequence[ModerationDecision]:
    """Moderation decisions, newest first (of one comment, if given)."""
    columns: list[Any] = [ModerationDecision.decided_at, ModerationDecision.id]
    query = select(ModerationDecision)
    if comment_id is not None:
        query = query.where(ModerationDecision.comment_id == comment_id)
    if after is not None:
        query = query.where(after_keyset(columns, after))
    query = query.order_by(*(column.desc() for column in columns)).limit(limit)
    return (await session.scalars(query)).all()
