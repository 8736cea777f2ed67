"""Comments on proposals: post (with one level of replies), read, list, edit, delete; and the
steps every post shares with forum opinions (text rules, rate limit, holds at posting).

A reply to a reply is attached to its top-level comment (threads are one level deep, and a
client's "reply" button under a reply does what its user meant). Deleting leaves a tombstone:
the row stays with its replies, its text (and every earlier version of it) is gone.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from proposal_svc.bootstrap import ProposalContext
from proposal_svc.deliberation import repository
from proposal_svc.deliberation.common import (
    KST,
    comment_key,
    decode_cursor,
    ensure_author,
    get_comment,
    paginate,
    target,
)
from proposal_svc.deliberation.models import Comment, CommentEdit
from proposal_svc.deliberation.moderation import hold
from proposal_svc.deliberation.repository import SortKey
from proposal_svc.deliberation.schemas import CommentCreate
from proposal_svc.deliberation.screening import HoldRule, screen
from proposal_svc.deliberation.text import clean_text
from proposal_svc.deliberation.wordlist import word_list
from proposal_svc.service.proposals import ACTIVE, get_proposal
from services import outbox
from services.auth import Principal
from services.events import CommentDeleted, CommentEdited, CommentPosted, OpinionPosted
from services.problems import ProblemError
from services.ratelimit import RateLimiter

#: The rate-limit bucket of everything a citizen posts (comments, replies, opinions).
POST_BUCKET = "deliberation.post"


def clean_body(ctx: ProposalContext, body: str) -> str:
    """A comment's text by the text rules (422 problems, see ``text.clean_text``)."""
    return clean_text(body, field="body", max_chars=ctx.settings.comment_body_max)


def screen_body(ctx: ProposalContext, body: str) -> HoldRule | None:
    """The rule that holds ``body`` for review, if any (personal data, the word list)."""
    return screen(body, word_list(tuple(ctx.settings.comment_held_words)))


async def count_post(session: AsyncSession, ctx: ProposalContext, citizen: Principal) -> None:
    """Count a post against the citizen's rate limits (429 ``rate-limited`` past them)."""
    await RateLimiter(ctx.clock).hit(
        session, POST_BUCKET, str(citizen.citizen_id), ctx.settings.comment_rate_limits
    )


async def insert_post(
    session: AsyncSession,
    ctx: ProposalContext,
    author: Principal,
    body: str,
    rule: HoldRule | None,
    **where: object,
) -> Comment:
    """Insert a comment or opinion being posted (``where``: its target, parent, stance),
    ``held`` when ``rule`` holds it; flushed, so that its decision and events can follow."""
    where.setdefault("by_proposal_author", False)
    comment = Comment(
        id=uuid.uuid4(),
        author_id=author.citizen_id,
        status="held" if rule else "published",
        body=body,
        like_count=0,
        report_count=0,
        open_reports=0,
        edit_count=0,
        created_at=ctx.clock.now(),
        **where,
    )
    session.add(comment)
    await session.flush()
    return comment


async def announce_post(
    session: AsyncSession,
    ctx: ProposalContext,
    comment: Comment,
    rule: HoldRule | None,
    posted: CommentPosted | OpinionPosted,
) -> None:
    """The post's event, then (when a rule holds it) the hold's decision and event."""
    outbox.add(session, posted)
    if rule:
        await hold(session, ctx, comment, rule, at_posting=True)


async def _parent(
    session: AsyncSession, proposal_id: uuid.UUID, parent_id: uuid.UUID | None
) -> Comment | None:
    """The top-level comment a reply attaches to: 422 ``invalid-parent`` for a comment of
    another proposal or none, 409 ``parent-not-published`` for one nobody can read."""
    if parent_id is None:
        return None
    parent = await repository.get_comment(session, parent_id)
    if parent is not None and parent.parent_id is not None:
        parent = await repository.get_comment(session, parent.parent_id)
    if parent is None or parent.proposal_id != proposal_id:
        raise ProblemError(
            422,
            "invalid-parent",
            "No such comment on this proposal",
            f"parent_id {parent_id} is not a comment of this proposal.",
        )
    if parent.status != "published":
        raise ProblemError(
            409,
            "parent-not-published",
            "Cannot reply to this comment",
            f"The comment is {parent.status}.",
            parent_status=parent.status,
        )
    return parent


async def post_comment(
    session: AsyncSession,
    ctx: ProposalContext,
    citizen: Principal,
    proposal_id: uuid.UUID,
    data: CommentCreate,
) -> Comment:
    """A citizen comments on (or replies under) a proposal; held at once when the text has
    personal data or a listed word."""
    proposal = await get_proposal(session, proposal_id)
    if proposal.status not in ACTIVE:
        raise ProblemError(
            409,
            "proposal-closed-to-comments",
            "Proposal takes no comments",
            f"The proposal is {proposal.status}.",
            proposal_status=proposal.status,
        )
    body = clean_body(ctx, data.body)
    parent = await _parent(session, proposal_id, data.parent_id)
    await count_post(session, ctx, citizen)
    rule = screen_body(ctx, body)
    comment = await insert_post(
        session,
        ctx,
        citizen,
        body,
        rule,
        proposal_id=proposal_id,
        parent_id=parent.id if parent else None,
        by_proposal_author=proposal.author_id == citizen.citizen_id,
    )
    day = comment.created_at.astimezone(KST).date().isoformat()
    await repository.count_on_timeline(session, proposal_id, comment.created_at, day)
    posted = CommentPosted(
        comment_id=comment.id,
        target_type="proposal",
        target_id=proposal_id,
        parent_id=comment.parent_id,
        status="held" if rule else "published",
        posted_at=comment.created_at,
    )
    await announce_post(session, ctx, comment, rule, posted)
    return comment


@dataclass
class Thread:
    """A comment of a listing with its first replies and how many it has."""

    comment: Comment
    replies: list[Comment]
    reply_count: int


@dataclass
class CommentListing:
    threads: list[Thread]
    next_cursor: str | None
    total: int
    published: int


async def list_comments(
    session: AsyncSession,
    ctx: ProposalContext,
    proposal_id: uuid.UUID,
    *,
    parent_id: uuid.UUID | None,
    sort: SortKey,
    cursor: str | None,
    limit: int,
) -> CommentListing:
    """A page of a proposal's top-level comments (each with its first replies), or of the
    replies of ``parent_id``; tombstones included, in their place."""
    await get_proposal(session, proposal_id)
    if parent_id is not None:
        parent = await repository.get_comment(session, parent_id)
        if parent is None or parent.proposal_id != proposal_id or parent.parent_id is not None:
            raise ProblemError(
                422,
                "invalid-parent",
                "No such comment on this proposal",
                f"parent_id {parent_id} is not a top-level comment of this proposal.",
            )
    rows = await repository.comments_page(
        session,
        proposal_id=proposal_id,
        parent_id=parent_id,
        sort=sort,
        after=decode_cursor(cursor, sort),
        limit=limit + 1,
    )
    page, next_cursor = paginate(rows, limit, sort, comment_key(sort))
    top = [c.id for c in page] if parent_id is None else []
    previews = await repository.reply_previews(session, top, ctx.settings.comment_reply_preview)
    counts = await repository.reply_counts(session, top)
    total, published = await repository.proposal_counts(session, proposal_id)
    threads = [Thread(c, previews.get(c.id, []), counts.get(c.id, 0)) for c in page]
    return CommentListing(threads, next_cursor, total, published)


async def comment_detail(session: AsyncSession, comment_id: uuid.UUID) -> Thread:
    """One comment (without its replies) and how many replies it has."""
    comment = await get_comment(session, comment_id)
    counts = await repository.reply_counts(session, [comment.id])
    return Thread(comment, [], counts.get(comment.id, 0))


async def edit_comment(
    session: AsyncSession,
    ctx: ProposalContext,
    citizen: Principal,
    comment_id: uuid.UUID,
    body: str,
) -> Comment:
    """The author edits a comment or opinion within the edit window; the earlier text is kept
    for moderators. A published comment is screened again; a held one stays held."""
    comment = await get_comment(session, comment_id, lock=True)
    ensure_author(citizen, comment)
    if comment.status in ("deleted", "hidden"):
        raise ProblemError(
            409,
            f"comment-{comment.status}",
            f"Comment is {comment.status}",
            comment_status=comment.status,
        )
    now = ctx.clock.now()
    window = timedelta(minutes=ctx.settings.comment_edit_minutes)
    if now > comment.created_at + window or not window:
        raise ProblemError(
            409,
            "edit-window-closed",
            "Too late to edit",
            f"Comments can be edited for {ctx.settings.comment_edit_minutes} minutes.",
            edit_minutes=ctx.settings.comment_edit_minutes,
        )
    text = clean_body(ctx, body)
    if text == comment.body:
        return comment
    session.add(CommentEdit(comment_id=comment.id, previous_body=comment.body, edited_at=now))
    comment.body, comment.edited_at = text, now
    comment.edit_count += 1
    rule = screen_body(ctx, text) if comment.status == "published" else None
    kind, target_id = target(comment)
    outbox.add(
        session,
        CommentEdited(
            comment_id=comment.id,
            target_type=kind,
            target_id=target_id,
            status="held" if rule or comment.status == "held" else "published",
            edited_at=now,
        ),
    )
    if rule:
        await hold(session, ctx, comment, rule)
    return comment


async def delete_comment(
    session: AsyncSession, ctx: ProposalContext, citizen: Principal, comment_id: uuid.UUID
) -> Comment:
    """The author deletes a comment or opinion: a tombstone stays (so replies keep their
    place), its text and earlier versions go, and it leaves the moderation queue."""
    comment = await get_comment(session, comment_id, lock=True)
    ensure_author(citizen, comment)
    if comment.status == "deleted":
        return comment
    now = ctx.clock.now()
    comment.status, comment.body, comment.deleted_at = "deleted", None, now
    comment.queued_at = None
    await repository.forget_edits(session, comment.id)
    kind, target_id = target(comment)
    outbox.add(
        session,
        CommentDeleted(
            comment_id=comment.id, target_type=kind, target_id=target_id, deleted_at=now
        ),
    )
    return comment
