"""Event schemas, grouped by the publishing service. Additive changes only within a version."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import ClassVar, Literal

from pydantic import ConfigDict, Field, JsonValue

from services.events.envelope import Event

AgeBand = Literal["under_14", "14_17", "18_29", "30_39", "40_49", "50_59", "60_69", "70_plus"]


class _IdentityEvent(Event):
    source: ClassVar[str] = "/identity-svc"
    citizen_id: uuid.UUID

    def ce_subject(self) -> str:
        return f"citizens/{self.citizen_id}"


class CitizenVerified(_IdentityEvent):
    """A person completed real-name verification (first time or again through another provider)."""

    name: ClassVar[str] = "identity.citizen_verified"
    provider: str = Field(examples=["sandbox"])
    first_verification: bool
    age_band: AgeBand
    is_foreigner: bool
    verified_at: datetime


class CitizenSuspended(_IdentityEvent):
    """An admin suspended a citizen: they can no longer sign in, refresh tokens or vote."""

    name: ClassVar[str] = "identity.citizen_suspended"
    reason: str
    suspended_at: datetime
    suspended_by: uuid.UUID


class CitizenReinstated(_IdentityEvent):
    """An admin lifted a citizen's suspension."""

    name: ClassVar[str] = "identity.citizen_reinstated"
    reinstated_at: datetime
    reinstated_by: uuid.UUID


# --- proposal-svc ------------------------------------------------------------------------------

ProposalStatus = Literal["open", "closed", "adopted", "budget_linked", "withdrawn", "hidden"]
ObligationKind = Literal["department_answer", "forum", "mayor_answer", "budget_review"]


class _ProposalEvent(Event):
    source: ClassVar[str] = "/proposal-svc"
    proposal_id: uuid.UUID

    def ce_subject(self) -> str:
        return f"proposals/{self.proposal_id}"


class ProposalSubmitted(_ProposalEvent):
    """A verified citizen submitted a proposal."""

    name: ClassVar[str] = "proposal.submitted"
    author_id: uuid.UUID
    title: str
    category: str
    district: str | None = None
    submitted_at: datetime


class ProposalOpened(_ProposalEvent):
    """A proposal accepts agreements from now until ``closes_at``."""

    name: ClassVar[str] = "proposal.opened"
    opened_at: datetime
    closes_at: datetime


class ProposalClosed(_ProposalEvent):
    """A proposal stopped accepting agreements (period ended, withdrawn or hidden)."""

    name: ClassVar[str] = "proposal.closed"
    status: ProposalStatus
    closed_at: datetime


class ProposalStatusChanged(_ProposalEvent):
    """Any change of a proposal's public status."""

    name: ClassVar[str] = "proposal.status_changed"
    author_id: uuid.UUID
    title: str
    from_status: ProposalStatus | None
    to_status: ProposalStatus
    reason: str | None = None
    changed_at: datetime


class ProposalThresholdReached(_ProposalEvent):
    """Agreements crossed a tier; the obligation it creates is due at ``due_at``."""

    name: ClassVar[str] = "proposal.threshold_reached"
    author_id: uuid.UUID
    title: str
    tier: str
    threshold: int
    agreement_count: int
    obligation: ObligationKind
    due_at: datetime
    reached_at: datetime


class ProposalAnswered(_ProposalEvent):
    """The city answered a proposal, fulfilling an obligation."""

    name: ClassVar[str] = "proposal.answered"
    author_id: uuid.UUID
    title: str
    obligation: ObligationKind
    answer_id: uuid.UUID
    answered_by_role: str
    answered_at: datetime


class ProposalObligationOverdue(_ProposalEvent):
    """An obligation passed its due date unfulfilled."""

    name: ClassVar[str] = "proposal.obligation_overdue"
    title: str
    obligation: ObligationKind
    due_at: datetime


class ProposalMilestonePublished(_ProposalEvent):
    """Staff published a milestone of carrying out an adopted or budget-linked proposal."""

    name: ClassVar[str] = "proposal.milestone_published"
    title: str
    milestone_id: uuid.UUID
    milestone_title: str
    status: Literal["planned", "in_progress", "done", "dropped"]
    progress: int | None = None
    budget_krw: int | None = None
    note: str
    reason: str | None = None
    published_by_role: str
    published_at: datetime


class _ForumEvent(Event):
    source: ClassVar[str] = "/proposal-svc"
    forum_id: uuid.UUID

    def ce_subject(self) -> str:
        return f"forums/{self.forum_id}"


class ForumOpened(_ForumEvent):
    """A deliberation forum (공론장) opened for participation."""

    name: ClassVar[str] = "forum.opened"
    proposal_id: uuid.UUID | None = None
    title: str
    mode: Literal["online", "offline", "hybrid"]
    options: list[str]
    opens_at: datetime
    closes_at: datetime


class ForumClosed(_ForumEvent):
    """A forum closed; ``participant_count`` decides the budget link."""

    name: ClassVar[str] = "forum.closed"
    proposal_id: uuid.UUID | None = None
    title: str
    participant_count: int
    closed_at: datetime


# --- proposal-svc: deliberation (comments and forum opinions) ---------------------------------

CommentTarget = Literal["proposal", "forum"]
HoldRule = Literal["reports", "word_list", "privacy"]
_COMMENT = "3c9e4b8a-2f1d-4e6a-9b7c-5d0e1f2a3b4c"
_PROPOSAL = "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f"
_FORUM = "0b5e8c1e-3b7c-4a55-9d0c-3f1a1f7f2a10"


def _comment_example(**data: JsonValue) -> ConfigDict:
    base: dict[str, JsonValue] = {
        "comment_id": _COMMENT,
        "target_type": "proposal",
        "target_id": _PROPOSAL,
    }
    return ConfigDict(json_schema_extra={"examples": [{**base, **data}]})


class _CommentEvent(Event):
    """Which comment (or forum opinion), on what. Never who wrote it, nor its text: a held
    comment's body must not leave proposal-svc, and readers get the text from the public API,
    which shows only what is published."""

    source: ClassVar[str] = "/proposal-svc"
    comment_id: uuid.UUID
    target_type: CommentTarget
    target_id: uuid.UUID

    def ce_subject(self) -> str:
        return f"comments/{self.comment_id}"


class CommentPosted(_CommentEvent):
    """A citizen commented on a proposal (``parent_id``: in reply to a comment). ``held``: the
    comment waits for a moderator (a ``comment.held`` follows) and is not shown."""

    model_config = _comment_example(
        parent_id=None, status="published", posted_at="2026-11-03T10:15:00Z"
    )
    name: ClassVar[str] = "comment.posted"
    parent_id: uuid.UUID | None = None
    status: Literal["published", "held"]
    posted_at: datetime


class OpinionPosted(_CommentEvent):
    """A citizen posted an opinion with a stance in a forum (``target_type`` is ``forum``)."""

    model_config = _comment_example(
        target_type="forum",
        target_id=_FORUM,
        stance="pro",
        status="published",
        posted_at="2026-11-06T19:40:00Z",
    )
    name: ClassVar[str] = "opinion.posted"
    stance: Literal["pro", "con", "neutral"]
    status: Literal["published", "held"]
    posted_at: datetime


class CommentEdited(_CommentEvent):
    """The author edited a comment or opinion; ``status`` after the edit (an edit can hold it)."""

    model_config = _comment_example(status="published", edited_at="2026-11-03T10:21:00Z")
    name: ClassVar[str] = "comment.edited"
    status: Literal["published", "held"]
    edited_at: datetime


class CommentDeleted(_CommentEvent):
    """The author deleted a comment or opinion; a tombstone keeps its place among the replies."""

    model_config = _comment_example(deleted_at="2026-11-04T08:00:00Z")
    name: ClassVar[str] = "comment.deleted"
    deleted_at: datetime


class CommentHeld(_CommentEvent):
    """A comment was held for review, by a rule: citizens' reports reached the threshold, or
    at posting or editing a listed word or personal data (``privacy``) was found."""

    model_config = _comment_example(rule="reports", open_reports=3, held_at="2026-11-03T12:00:00Z")
    name: ClassVar[str] = "comment.held"
    rule: HoldRule
    open_reports: int
    held_at: datetime


class CommentHidden(_CommentEvent):
    """A moderator hid a comment; ``reason`` is the public reason readers see in its place."""

    model_config = _comment_example(
        reason="욕설 및 인신공격", decided_by_role="moderator", hidden_at="2026-11-03T13:05:00Z"
    )
    name: ClassVar[str] = "comment.hidden"
    reason: str
    decided_by_role: str
    hidden_at: datetime


class CommentRestored(_CommentEvent):
    """A moderator published again a held or hidden comment."""

    model_config = _comment_example(decided_by_role="moderator", restored_at="2026-11-03T13:10:00Z")
    name: ClassVar[str] = "comment.restored"
    decided_by_role: str
    restored_at: datetime


# --- vote-svc ----------------------------------------------------------------------------------

TargetType = Literal["proposal", "forum"]


class _VoteEvent(Event):
    source: ClassVar[str] = "/vote-svc"
    target_type: TargetType
    target_id: uuid.UUID

    def ce_subject(self) -> str:
        return f"{self.target_type}s/{self.target_id}"


class VoteCast(_VoteEvent):
    """One accepted agreement or ballot, as the ledger records it: never the citizen's id.

    ``record`` is the canonical record (base64 of its bytes, see docs/canonical-record.md) whose
    SHA-256 is ``record_hash``; ``voter_tag`` is HMAC(k_ledger, citizen_id || target).
    """

    name: ClassVar[str] = "vote.cast"
    vote_id: uuid.UUID
    choice: str
    cast_at: datetime
    voter_tag: str
    record: str
    record_hash: str


class VoteTallyChanged(_VoteEvent):
    """A target's count changed. Counts only grow; consumers keep the highest they saw."""

    name: ClassVar[str] = "vote.tally_changed"
    count: int
    by_choice: dict[str, int] = Field(default_factory=dict)
    changed_at: datetime
    #: The citizen whose agreement made this count, on proposal tallies only (proposal-svc makes
    #: them a follower, docs/proposals.md). Never on a forum's tally: next to ``by_choice`` it
    #: would tell the citizen's ballot.
    citizen_id: uuid.UUID | None = None


# --- ledger-svc --------------------------------------------------------------------------------


class LedgerBatchCommitted(Event):
    """A batch of vote records was appended to the ledger and anchored; a new tree head is signed."""

    name: ClassVar[str] = "ledger.batch_committed"
    source: ClassVar[str] = "/ledger-svc"
    batch_seq: int
    first_index: int
    size: int
    tree_size: int
    root: str
    batch_root: str
    backend: Literal["local", "fabric"]
    tx_id: str
    block: int | None = None
    committed_at: datetime
    #: The votes of the batch (vote-svc marks their receipts ``recorded``). Empty from a
    #: ledger-svc older than this member.
    vote_ids: list[uuid.UUID] = Field(default_factory=list)

    def ce_subject(self) -> str:
        return f"batches/{self.batch_seq}"


class LedgerDuplicateRefused(Event):
    """A second record with the same (target, voter_tag) was refused: the same person twice."""

    name: ClassVar[str] = "ledger.duplicate_refused"
    source: ClassVar[str] = "/ledger-svc"
    target: str
    voter_tag: str
    vote_id: uuid.UUID
    first_vote_id: uuid.UUID
    refused_at: datetime

    def ce_subject(self) -> str:
        return f"targets/{self.target}"


class LedgerAuditMismatch(Event):
    """The audit found the ledger and vote-svc (or the ledger and its own signed heads) disagree."""

    name: ClassVar[str] = "ledger.audit_mismatch"
    source: ClassVar[str] = "/ledger-svc"
    kind: Literal["target", "ledger_integrity"]
    target: str | None = None
    ledger_count: int | None = None
    service_count: int | None = None
    missing_in_service: list[uuid.UUID] = Field(default_factory=list)
    missing_in_ledger: list[uuid.UUID] = Field(default_factory=list)
    detail: str = ""
    detected_at: datetime

    def ce_subject(self) -> str:
        return f"targets/{self.target}" if self.target else "ledger"


# --- notify-svc --------------------------------------------------------------------------------

NotifyChannel = Literal["alimtalk", "sms", "lms"]


class _NotifyEvent(Event):
    source: ClassVar[str] = "/notify-svc"
    notification_id: uuid.UUID
    #: The recipient (never a phone number: notify-svc does not keep one).
    citizen_id: uuid.UUID
    #: The CloudEvents id and type of the event the message was about.
    event_id: uuid.UUID
    event_type: str
    channel: NotifyChannel
    template_code: str

    def ce_subject(self) -> str:
        return f"notifications/{self.notification_id}"


class NotificationDelivered(_NotifyEvent):
    """A provider reported a message delivered to the recipient's phone."""

    name: ClassVar[str] = "notify.delivered"
    provider: str
    delivered_at: datetime


class NotificationFailed(_NotifyEvent):
    """A message was refused by its provider or reported undelivered. When the failed message
    was an AlimTalk, ``fallback_channel`` names the SMS/LMS queued in its place."""

    name: ClassVar[str] = "notify.failed"
    provider: str | None = None
    reason: Literal["rejected", "undelivered"]
    code: str | None = None
    fallback_channel: NotifyChannel | None = None
    failed_at: datetime


class NotificationDeadLettered(_NotifyEvent):
    """A message still failed after its last retry; it waits for an operator to requeue it."""

    name: ClassVar[str] = "notify.dead_lettered"
    attempts: int
    code: str | None = None
    dead_at: datetime
