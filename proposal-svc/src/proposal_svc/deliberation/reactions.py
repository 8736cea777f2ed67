"""Citizens' reactions to a comment or opinion: likes (one per citizen, counted exactly under
any concurrency) and reports (one per citizen per comment; enough of them hold the comment)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from proposal_svc.bootstrap import ProposalContext
from proposal_svc.deliberation import repository, repository_moderation
from proposal_svc.deliberation.common import get_comment
from proposal_svc.deliberation.models import Comment, CommentReport
from proposal_svc.deliberation.moderation import hold
from proposal_svc.deliberation.schemas import ReportCreate
from proposal_svc.deliberation.text import clean_text
from services.auth import Principal
from services.problems import ProblemError
from services.ratelimit import RateLimiter

#: The rate-limit bucket of reports.
REPORT_BUCKET = "deliberation.report"


@dataclass(frozen=True)
class LikeState:
    comment_id: uuid.UUID
    liked: bool
    like_count: int


def _not_own(citizen: Principal, comment: Comment, what: str) -> None:
    if comment.author_id == citizen.citizen_id:
        raise ProblemError(403, "own-comment", f"You cannot {what} your own comment")


async def like(
    session: AsyncSession, ctx: ProposalContext, citizen: Principal, comment_id: uuid.UUID
) -> LikeState:
    """The citizen likes a published comment (again: nothing changes)."""
    comment = await get_comment(session, comment_id)
    _not_own(citizen, comment, "like")
    if comment.status != "published":
        raise ProblemError(
            409,
            "comment-not-published",
            "Only published comments can be liked",
            comment_status=comment.status,
        )
    count = await repository.add_like(session, comment.id, citizen.citizen_id, ctx.clock.now())
    if count is None:  # liked before (or by a concurrent request that won)
        count = await repository.like_count(session, comment.id)
    return LikeState(comment.id, True, count)


async def unlike(session: AsyncSession, citizen: Principal, comment_id: uuid.UUID) -> LikeState:
    """The citizen takes their like back (none: nothing changes)."""
    comment = await get_comment(session, comment_id)
    count = await repository.remove_like(session, comment.id, citizen.citizen_id)
    if count is None:
        count = await repository.like_count(session, comment.id)
    return LikeState(comment.id, False, count)


async def report(
    session: AsyncSession,
    ctx: ProposalContext,
    citizen: Principal,
    comment_id: uuid.UUID,
    data: ReportCreate,
) -> CommentReport:
    """The citizen reports a published or held comment, once (409 ``already-reported`` with
    the first report's id). The report that makes ``comment_report_threshold`` open reports
    holds a published comment for review."""
    detail = (
        clean_text(data.detail, field="detail", max_chars=ctx.settings.comment_reason_max)
        if data.detail is not None
        else None
    )
    # Locked first: reports of one comment take turns, so the count that crosses the
    # threshold is seen by exactly one of them.
    comment = await get_comment(session, comment_id, lock=True)
    _not_own(citizen, comment, "report")
    if comment.status not in ("published", "held"):
        raise ProblemError(
            409,
            "comment-not-reportable",
            "This comment cannot be reported",
            f"The comment is {comment.status}.",
            comment_status=comment.status,
        )
    first = await repository_moderation.report_by(session, comment.id, citizen.citizen_id)
    if first is None:
        await RateLimiter(ctx.clock).hit(
            session,
            REPORT_BUCKET,
            str(citizen.citizen_id),
            ctx.settings.comment_report_rate_limits,
        )
        first = await repository_moderation.add_report(
            session,
            comment_id=comment.id,
            reporter_id=citizen.citizen_id,
            reason=data.reason,
            detail=detail,
            at=ctx.clock.now(),
        )
        if first is not None:
            return await _count_report(session, ctx, comment, first)
        first = await repository_moderation.report_by(session, comment.id, citizen.citizen_id)
    assert first is not None
    raise ProblemError(
        409,
        "already-reported",
        "You already reported this comment",
        report_id=first.id,
    )


async def _count_report(
    session: AsyncSession, ctx: ProposalContext, comment: Comment, new: CommentReport
) -> CommentReport:
    comment.report_count += 1
    comment.open_reports += 1
    comment.queued_at = comment.queued_at or new.created_at
    threshold = ctx.settings.comment_report_threshold
    if comment.status == "published" and comment.open_reports >= threshold:
        await hold(session, ctx, comment, "reports")
    return new


async def get_report(
    session: AsyncSession, principal: Principal, comment_id: uuid.UUID, report_id: uuid.UUID
) -> CommentReport:
    """A report, for the citizen who made it or a moderator; 404 for anyone else."""
    found = await repository_moderation.get_report(session, report_id)
    allowed = found is not None and (
        found.reporter_id == principal.citizen_id or principal.has_any("moderator", "admin")
    )
    if found is None or found.comment_id != comment_id or not allowed:
        raise ProblemError(404, "report-not-found", "Report not found")
    return found
