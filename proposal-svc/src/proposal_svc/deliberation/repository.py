"""Deliberation's queries. Like ``proposal_svc.repository``: the caller's session and transaction,
no commit, no HTTP (a missing row is None)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import Select, delete, func, select, text, update
from sqlalchemy.dialects.postgresql import distinct_on, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from proposal_svc.deliberation.models import (
    Comment,
    CommentEdit,
    CommentLike,
)
from services.paging import KeyValue, after_keyset

SortKey = Literal["recent", "liked", "oldest"]

# --- comments ---------------------------------------------------------------------------------


async def get_comment(
    session: AsyncSession, comment_id: uuid.UUID, *, lock: bool = False
) -> Comment | None:
    """The comment, or None; ``lock``: ``FOR UPDATE``, re-read from the database."""
    return await session.get(Comment, comment_id, with_for_update=lock, populate_existing=lock)


def sort_columns(sort: SortKey) -> list[Any]:
    """The ordering columns of a listing (descending but for ``oldest``); id makes it total."""
    columns: list[Any] = [Comment.created_at, Comment.id]
    return [Comment.like_count, *columns] if sort == "liked" else columns


def _page(
    query: Select[Comment], sort: SortKey, after: Sequence[KeyValue] | None, limit: int
) -> Select[Comment]:
    columns = sort_columns(sort)
    descending = sort != "oldest"
    if after is not None:
        query = query.where(after_keyset(columns, after, descending=descending))
    order = [column.desc() if descending else column.asc() for column in columns]
    return query.order_by(*order).limit(limit)


async def comments_page(
    session: AsyncSession,
    *,
    proposal_id: uuid.UUID,
    parent_id: uuid.UUID | None,
    sort: SortKey,
    after: Sequence[KeyValue] | None,
    limit: int,
) -> Sequence[Comment]:
    """Top-level comments of a proposal, or the replies of ``parent_id``, in ``sort`` order."""
    query = select(Comment).where(Comment.proposal_id == proposal_id)
    if parent_id is None:
        query = query.where(Comment.parent_id.is_(None))
    else:
        query = query.where(Comment.parent_id == parent_id)
    return (await session.scalars(_page(query, sort, after, limit))).all()


async def opinions_page(
    session: AsyncSession,
    *,
    forum_id: uuid.UUID,
    stance: str | None,
    sort: SortKey,
    after: Sequence[KeyValue] | None,
    limit: int,
) -> Sequence[Comment]:
    """A forum's opinions (of one ``stance``, if given) in ``sort`` order."""
    query = select(Comment).where(Comment.forum_id == forum_id)
    if stance is not None:
        query = query.where(Comment.stance == stance)
    return (await session.scalars(_page(query, sort, after, limit))).all()


async def reply_previews(
    session: AsyncSession, parent_ids: Sequence[uuid.UUID], per_parent: int
) -> dict[uuid.UUID, list[Comment]]:
    """The first ``per_parent`` replies (oldest first) of each of ``parent_ids``."""
    if not parent_ids or per_parent <= 0:
        return {}
    rank = (
        func.row_number()
        .over(partition_by=Comment.parent_id, order_by=(Comment.created_at, Comment.id))
        .label("rank")
    )
    ranked = select(Comment, rank).where(Comment.parent_id.in_(parent_ids)).subquery()
    reply = aliased(Comment, ranked)
    rows = await session.scalars(
        select(reply)
        .where(ranked.c.rank <= per_parent)
        .order_by(ranked.c.parent_id, ranked.c.created_at, ranked.c.id)
    )
    previews: dict[uuid.UUID, list[Comment]] = defaultdict(list)
    for comment in rows:
        assert comment.parent_id is not None
        previews[comment.parent_id].append(comment)
    return previews


async def reply_counts(
    session: AsyncSession, parent_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, int]:
    """How many replies (in any state) each of ``parent_ids`` has."""
    if not parent_ids:
        return {}
    rows = await session.execute(
        select(Comment.parent_id, func.count())
        .where(Comment.parent_id.in_(parent_ids))
        .group_by(Comment.parent_id)
    )
    return {parent: count for parent, count in rows if parent is not None}


async def proposal_counts(session: AsyncSession, proposal_id: uuid.UUID) -> tuple[int, int]:
    """``(total, published)`` comments and replies of a proposal."""
    total, published = (
        await session.execute(
            select(func.count(), func.count().filter(Comment.status == "published")).where(
                Comment.proposal_id == proposal_id
            )
        )
    ).one()
    return int(total), int(published)


async def stance_counts(session: AsyncSession, forum_id: uuid.UUID) -> dict[str, int]:
    """Citizens by the stance of their latest published opinion in a forum."""
    latest = (
        select(Comment.author_id, Comment.stance)
        .where(Comment.forum_id == forum_id, Comment.status == "published")
        .ext(distinct_on(Comment.author_id))
        .order_by(Comment.author_id, Comment.created_at.desc(), Comment.id.desc())
        .subquery()
    )
    rows = await session.execute(select(latest.c.stance, func.count()).group_by(latest.c.stance))
    return {str(stance): int(count) for stance, count in rows}


#: One timeline entry per proposal and (Seoul) day, counting that day's comments; the unique
#: index ``ix_timeline_entries_comment_days`` makes the first comment of a day insert it and
#: the others (concurrent ones included) count on it.
_COUNT_ON_TIMELINE = text(
    """
    INSERT INTO timeline_entries (proposal_id, kind, at, actor_role, data)
    VALUES (:proposal_id, 'comments', :at, NULL, jsonb_build_object('date', CAST(:day AS text), 'count', 1))
    ON CONFLICT (proposal_id, (data ->> 'date')) WHERE kind = 'comments'
    DO UPDATE SET data = jsonb_set(
        timeline_entries.data, '{count}',
        to_jsonb((timeline_entries.data ->> 'count')::int + 1)
    )
    """
)


async def count_on_timeline(
    session: AsyncSession, proposal_id: uuid.UUID, at: datetime, day: str
) -> None:
    """Count one comment on the proposal's ``comments`` timeline entry of ``day``."""
    await session.execute(_COUNT_ON_TIMELINE, {"proposal_id": proposal_id, "at": at, "day": day})


async def edits_of(session: AsyncSession, comment_id: uuid.UUID) -> Sequence[CommentEdit]:
    """A comment's earlier versions, oldest first."""
    return (
        await session.scalars(
            select(CommentEdit)
            .where(CommentEdit.comment_id == comment_id)
            .order_by(CommentEdit.seq)
        )
    ).all()


async def forget_edits(session: AsyncSession, comment_id: uuid.UUID) -> None:
    """Empty a comment's earlier versions (its author deleted it: its text is gone)."""
    await session.execute(
        update(CommentEdit).where(CommentEdit.comment_id == comment_id).values(previous_body=None)
    )


# --- likes ------------------------------------------------------------------------------------


async def add_like(
    session: AsyncSession, comment_id: uuid.UUID, citizen_id: uuid.UUID, at: datetime
) -> int | None:
    """Like a comment: the new like count, or None when the citizen already liked it. The
    primary key decides between concurrent likes of one citizen; the count's row lock orders
    everyone's increments."""
    inserted = await session.scalar(
        insert(CommentLike)
        .values(comment_id=comment_id, citizen_id=citizen_id, created_at=at)
        .on_conflict_do_nothing()
        .returning(CommentLike.citizen_id)
    )
    if inserted is None:
        return None
    return await _bump_likes(session, comment_id, +1)


async def remove_like(
    session: AsyncSession, comment_id: uuid.UUID, citizen_id: uuid.UUID
) -> int | None:
    """Take a like back: the new like count, or None when there was none."""
    removed = await session.scalar(
        delete(CommentLike)
        .where(CommentLike.comment_id == comment_id, CommentLike.citizen_id == citizen_id)
        .returning(CommentLike.citizen_id)
    )
    if removed is None:
        return None
    return await _bump_likes(session, comment_id, -1)


async def _bump_likes(session: AsyncSession, comment_id: uuid.UUID, by: int) -> int:
    count = await session.scalar(
        update(Comment)
        .where(Comment.id == comment_id)
        .values(like_count=Comment.like_count + by)
        .returning(Comment.like_count)
        .execution_options(synchronize_session=False)
    )
    return int(count or 0)


async def like_count(session: AsyncSession, comment_id: uuid.UUID) -> int:
    """The like count as committed now (not a copy loaded earlier in the session)."""
    return int(
        await session.scalar(select(Comment.like_count).where(Comment.id == comment_id)) or 0
    )


async def likes(session: AsyncSession, comment_id: uuid.UUID, citizen_id: uuid.UUID) -> bool:
    """Whether the citizen likes the comment."""
    found = await session.scalar(
        select(CommentLike.citizen_id).where(
            CommentLike.comment_id == comment_id, CommentLike.citizen_id == citizen_id
        )
    )
    return found is not None
