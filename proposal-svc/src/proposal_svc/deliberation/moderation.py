"""Moderation: holds by rule (reports, the word list, personal data), moderators hiding and
restoring, the queue of what waits for them, and the record of every decision.

A comment enters the queue (``queued_at``) when it is held or first reported since the last
decision, and leaves it with a moderator's decision (which closes its open reports) or its
author's deletion. Every hold, hide and restore is a ``moderation_decisions`` row saying who (or
which rule), when, why, and the status before and after.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from proposal_svc.bootstrap import ProposalContext
from proposal_svc.deliberation import repository, repository_moderation
from proposal_svc.deliberation.common import (
    comment_key,
    decode_cursor,
    get_comment,
    moderator_role,
    paginate,
    target,
)
from proposal_svc.deliberation.models import Comment, CommentEdit, CommentReport, ModerationDecision
from proposal_svc.deliberation.screening import HoldRule
from proposal_svc.deliberation.text import clean_text
from services import outbox
from services.auth import Principal
from services.events import CommentHeld, CommentHidden, CommentRestored
from services.problems import ProblemError

#: Open reports shown per queued comment (the counts by reason cover all of them).
REPORTS_SHOWN = 20


def _decide(
    session: AsyncSession,
    ctx: ProposalContext,
    comment: Comment,
    action: str,
    to_status: str,
    *,
    rule: HoldRule | None = None,
    reason: str | None = None,
    by: Principal | None = None,
    from_status: str | None = None,
) -> ModerationDecision:
    decision = ModerationDecision(
        id=uuid.uuid4(),
        comment_id=comment.id,
        action=action,
        automatic=by is None,
        rule=rule,
        reason=reason,
        from_status=from_status or comment.status,
        to_status=to_status,
        open_reports=comment.open_reports,
        decided_by=by.citizen_id if by is not None else None,
        decided_by_role=moderator_role(by) if by is not None else None,
        decided_at=ctx.clock.now(),
    )
    session.add(decision)
    comment.status = to_status
    return decision


async def hold(
    session: AsyncSession,
    ctx: ProposalContext,
    comment: Comment,
    rule: HoldRule,
    *,
    at_posting: bool = False,
) -> None:
    """Hold ``comment`` (in the session and flushed) for review by ``rule``; ``at_posting``:
    it is being posted, and the decision records it as coming from status ``new``."""
    now = ctx.clock.now()
    _decide(
        session, ctx, comment, "hold", "held", rule=rule, from_status="new" if at_posting else None
    )
    comment.held_rule = rule
    comment.queued_at = comment.queued_at or now
    kind, target_id = target(comment)
    outbox.add(
        session,
        CommentHeld(
            comment_id=comment.id,
            target_type=kind,
            target_id=target_id,
            rule=rule,
            open_reports=comment.open_reports,
            held_at=now,
        ),
    )


async def _settle(session: AsyncSession, comment: Comment, decision: ModerationDecision) -> None:
    """A moderator decided: the comment leaves the queue and its open reports are closed."""
    comment.queued_at = None
    comment.open_reports = 0
    await session.flush()  # the decision's row, which the reports then point to
    await repository_moderation.close_reports(session, comment.id, decision.id)


def _reason(ctx: ProposalContext, reason: str) -> str:
    return clean_text(reason, field="reason", max_chars=ctx.settings.comment_reason_max)


async def hide(
    session: AsyncSession,
    ctx: ProposalContext,
    moderator: Principal,
    comment_id: uuid.UUID,
    reason: str,
) -> Comment:
    """Hide a published or held comment; readers see ``reason`` in its place."""
    reason = _reason(ctx, reason)
    comment = await get_comment(session, comment_id, lock=True)
    if comment.status in ("deleted", "hidden"):
        raise ProblemError(
            409,
            f"comment-{comment.status}",
            f"Comment is already {comment.status}",
            comment_status=comment.status,
        )
    decision = _decide(session, ctx, comment, "hide", "hidden", reason=reason, by=moderator)
    comment.hidden_reason = reason
    await _settle(session, comment, decision)
    kind, target_id = target(comment)
    outbox.add(
        session,
        CommentHidden(
            comment_id=comment.id,
            target_type=kind,
            target_id=target_id,
            reason=reason,
            decided_by_role=moderator_role(moderator),
            hidden_at=decision.decided_at,
        ),
    )
    return comment


async def restore(
    session: AsyncSession,
    ctx: ProposalContext,
    moderator: Principal,
    comment_id: uuid.UUID,
    reason: str | None,
) -> Comment:
    """Publish a held or hidden comment again, or keep a reported one published (the reports
    are closed either way)."""
    note = _reason(ctx, reason) if reason is not None else None
    comment = await get_comment(session, comment_id, lock=True)
    if comment.status == "deleted":
        raise ProblemError(409, "comment-deleted", "Comment is deleted", comment_status="deleted")
    if comment.status == "published" and comment.queued_at is None:
        raise ProblemError(
            409,
            "comment-not-moderated",
            "Nothing to restore",
            "The comment is published and has no open reports.",
        )
    was = comment.status
    decision = _decide(session, ctx, comment, "restore", "published", reason=note, by=moderator)
    comment.held_rule = None
    comment.hidden_reason = None
    await _settle(session, comment, decision)
    if was != "published":
        kind, target_id = target(comment)
        outbox.add(
            session,
            CommentRestored(
                comment_id=comment.id,
                target_type=kind,
                target_id=target_id,
                decided_by_role=moderator_role(moderator),
                restored_at=decision.decided_at,
            ),
        )
    return comment


@dataclass
class QueueEntry:
    """A comment waiting for a moderator, with its open reports."""

    comment: Comment
    reasons: dict[str, int]
    reports: list[CommentReport]


async def queue(
    session: AsyncSession, *, cursor: str | None, limit: int
) -> tuple[list[QueueEntry], str | None]:
    """Held and reported comments, longest waiting first, and the next page's cursor."""
    rows = await repository_moderation.queue_page(
        session, decode_cursor(cursor, "queue"), limit + 1
    )
    page, next_cursor = paginate(rows, limit, "queue", comment_key("queue"))
    ids = [comment.id for comment in page]
    reasons = await repository_moderation.open_report_reasons(session, ids)
    reports = await repository_moderation.open_reports(session, ids, REPORTS_SHOWN)
    entries = [
        QueueEntry(comment, reasons.get(comment.id, {}), reports.get(comment.id, []))
        for comment in page
    ]
    return entries, next_cursor


async def decisions(
    session: AsyncSession, *, comment_id: uuid.UUID | None, cursor: str | None, limit: int
) -> tuple[list[ModerationDecision], str | None]:
    """Moderation decisions, newest first (of one comment, if given)."""
    if comment_id is not None:
        await get_comment(session, comment_id)
    rows = await repository_moderation.decisions_page(
        session, comment_id, decode_cursor(cursor, "decisions"), limit + 1
    )
    return paginate(rows, limit, "decisions", lambda d: [d.decided_at, d.id])


async def edit_history(
    session: AsyncSession, comment_id: uuid.UUID
) -> tuple[Comment, Sequence[CommentEdit]]:
    """A comment and its earlier versions, oldest first."""
    comment = await get_comment(session, comment_id)
    return comment, await repository.edits_of(session, comment_id)
