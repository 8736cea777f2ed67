"""Response bodies built from the rows: what readers, authors and moderators are shown."""

from __future__ import annotations

from typing import Any

from proposal_svc.deliberation.comments import Thread
from proposal_svc.deliberation.models import Comment, CommentEdit, CommentReport, ModerationDecision
from proposal_svc.deliberation.moderation import QueueEntry
from proposal_svc.deliberation.schemas import CommentPublic, CommentThread, ReportPublic
from proposal_svc.deliberation.schemas_moderation import (
    CommentModerated,
    DecisionPublic,
    EditHistory,
    EditPublic,
    QueuedReport,
    QueueItem,
)


def _fields(comment: Comment, reply_count: int) -> dict[str, Any]:
    return {
        "id": comment.id,
        "kind": "comment" if comment.proposal_id is not None else "opinion",
        "proposal_id": comment.proposal_id,
        "forum_id": comment.forum_id,
        "parent_id": comment.parent_id,
        "stance": comment.stance,
        "status": comment.status,
        # Only a published text is shown to readers: never a held (maybe personal) one.
        "body": comment.body if comment.status == "published" else None,
        "held_rule": comment.held_rule if comment.status == "held" else None,
        "hidden_reason": comment.hidden_reason if comment.status == "hidden" else None,
        "by_proposal_author": comment.by_proposal_author,
        "like_count": comment.like_count,
        "reply_count": reply_count,
        "edit_count": comment.edit_count,
        "created_at": comment.created_at,
        "edited_at": comment.edited_at,
        "deleted_at": comment.deleted_at,
    }


def public(comment: Comment, reply_count: int = 0) -> CommentPublic:
    """A comment as anyone reads it."""
    return CommentPublic(**_fields(comment, reply_count))


def thread(item: Thread) -> CommentThread:
    """A top-level comment of a listing with its first replies."""
    return CommentThread(
        **_fields(item.comment, item.reply_count), replies=[public(r) for r in item.replies]
    )


def moderated(comment: Comment, reply_count: int = 0) -> CommentModerated:
    """A comment as moderators see it: with its text in every state but deleted."""
    return CommentModerated(
        **{**_fields(comment, reply_count), "body": comment.body},
        author_id=comment.author_id,
        report_count=comment.report_count,
        open_reports=comment.open_reports,
        queued_at=comment.queued_at,
    )


def report(row: CommentReport) -> ReportPublic:
    return ReportPublic(
        id=row.id,
        comment_id=row.comment_id,
        reason=row.reason,
        detail=row.detail,
        status="open" if row.decision_id is None else "closed",
        created_at=row.created_at,
    )


def queue_item(entry: QueueEntry) -> QueueItem:
    return QueueItem(
        comment=moderated(entry.comment),
        reasons=entry.reasons,
        reports=[
            QueuedReport(reason=r.reason, detail=r.detail, created_at=r.created_at)
            for r in entry.reports
        ],
    )


def decision(row: ModerationDecision) -> DecisionPublic:
    return DecisionPublic.model_validate(row, from_attributes=True)


def history(comment: Comment, edits: list[CommentEdit]) -> EditHistory:
    return EditHistory(
        comment_id=comment.id,
        body=comment.body,
        edits=[EditPublic(previous_body=e.previous_body, edited_at=e.edited_at) for e in edits],
    )
