"""What the deliberation use cases share: finding a comment, what it is about, page cursors."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone
from typing import Final, Literal, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from proposal_svc.deliberation import repository
from proposal_svc.deliberation.models import Comment
from services.auth import Principal
from services.paging import KeyType, KeyValue, decode_keyset, encode_keyset
from services.problems import ProblemError

T = TypeVar("T")
Listing = Literal["recent", "liked", "oldest", "queue", "decisions"]

#: Korea Standard Time (no daylight saving): the day a comment counts on in the timeline.
KST: Final = timezone(timedelta(hours=9), "KST")

#: What a page cursor holds after its listing's name: the ordering values of the last row.
_KEY_TYPES: Final[dict[Listing, tuple[KeyType, ...]]] = {
    "recent": (datetime, uuid.UUID),
    "liked": (int, datetime, uuid.UUID),
    "oldest": (datetime, uuid.UUID),
    "queue": (datetime, uuid.UUID),
    "decisions": (datetime, uuid.UUID),
}


def comment_not_found() -> ProblemError:
    """404 ``comment-not-found``."""
    return ProblemError(404, "comment-not-found", "Comment not found")


async def get_comment(
    session: AsyncSession, comment_id: uuid.UUID, *, lock: bool = False
) -> Comment:
    """The comment (``lock``: ``FOR UPDATE``), or 404."""
    comment = await repository.get_comment(session, comment_id, lock=lock)
    if comment is None:
        raise comment_not_found()
    return comment


def target(comment: Comment) -> tuple[Literal["proposal", "forum"], uuid.UUID]:
    """What the comment is on, as events name it."""
    if comment.proposal_id is not None:
        return "proposal", comment.proposal_id
    assert comment.forum_id is not None
    return "forum", comment.forum_id


def ensure_author(principal: Principal, comment: Comment) -> None:
    """403 ``not-the-author`` unless the caller wrote the comment."""
    if comment.author_id != principal.citizen_id:
        raise ProblemError(403, "not-the-author", "Only the author can do this")


def moderator_role(principal: Principal) -> str:
    """The role a moderation decision is recorded under."""
    return "moderator" if principal.has_any("moderator") else "admin"


def decode_cursor(cursor: str | None, listing: Listing) -> tuple[KeyValue, ...] | None:
    """The key a cursor of ``listing`` continues after, or 400 ``invalid-cursor`` (also for a
    cursor of another listing or sort: the same values mean another place there)."""
    key = decode_keyset(cursor, (str, *_KEY_TYPES[listing]))
    if key is None:
        return None
    if key[0] != listing:
        raise ProblemError(
            400,
            "invalid-cursor",
            "Invalid cursor",
            "Pass back a `next_cursor` unchanged, with the sort it was made for.",
        )
    return key[1:]


def paginate(
    rows: Sequence[T], limit: int, listing: Listing, key: Callable[[T], Sequence[KeyValue]]
) -> tuple[list[T], str | None]:
    """The page of ``rows`` (fetched with ``limit + 1``) and the next page's cursor, if any."""
    page = list(rows[:limit])
    if len(rows) <= limit or not page:
        return page, None
    return page, encode_keyset([listing, *key(page[-1])])


def comment_key(listing: Listing) -> Callable[[Comment], Sequence[KeyValue]]:
    """The ordering values of a comment in ``listing`` (``repository.sort_columns``)."""

    def key(comment: Comment) -> Sequence[KeyValue]:
        if listing == "liked":
            return [comment.like_count, comment.created_at, comment.id]
        if listing == "queue":
            assert comment.queued_at is not None
            return [comment.queued_at, comment.id]
        return [comment.created_at, comment.id]

    return key
