"""notify-svc's event handlers: who is told what about each step of a proposal.

Each handler runs in the transaction of its inbox row (services.consumer), so an event plans its
messages exactly once; the rows' own unique keys make a second plan a no-op anyway. Recipients
that only another service knows (a forum's participants, the staff of a role) are recorded as a
recipient job in the same transaction and expanded by the dispatcher, which can wait for an
unreachable service without holding up the stream.

| event | who | template |
|---|---|---|
| proposal.submitted | — (read model: proposer and title) | |
| proposal.threshold_reached | the proposer; the followers | PROPOSAL_TIER_REACHED; FOLLOWED_TIER_REACHED |
| proposal.answered | the proposer; the followers | PROPOSAL_ANSWERED; FOLLOWED_ANSWERED |
| proposal.status_changed | the proposer (not for the first opening or their own withdrawal); the followers when adopted or budget-linked | PROPOSAL_STATUS_CHANGED; FOLLOWED_STATUS_CHANGED |
| forum.opened | the proposer of its proposal; its followers | FORUM_OPENED; FOLLOWED_FORUM_OPENED |
| forum.closed | every participant (vote-svc) and the proposer; the followers | FORUM_CLOSED; FOLLOWED_FORUM_CLOSED |
| proposal.obligation_overdue | staff of the responsible role (identity-svc) | OBLIGATION_OVERDUE |

The followers (proposal-svc's ``/internal/v1/proposals/{id}/followers``) and the participants are
expanded by the dispatcher from a recipient job (kind ``proposal_followers``). Templates and
values come from :mod:`notify_svc.kinds`; every message carries ``proposal_id`` (and
``forum_id`` for forums), from which the API builds its deep link.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Final

from nats.js import JetStreamContext
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from notify_svc import kinds, repository
from notify_svc.bootstrap import NotifyContext
from notify_svc.service import planning
from notify_svc.service.planning import Message
from notify_svc.templates import format_count, format_kst_date, format_kst_datetime
from services.consumer import ConsumerRunner, Handlers
from services.events import (
    CloudEvent,
    ForumClosed,
    ForumOpened,
    ProposalAnswered,
    ProposalObligationOverdue,
    ProposalStatusChanged,
    ProposalSubmitted,
    ProposalThresholdReached,
)

#: Durable consumer name (also the inbox's ``consumer`` column).
PROPOSALS_CONSUMER: Final = "notify-svc-proposals"

#: How each obligation is called in a message.
OBLIGATION_LABELS: Final = {
    "department_answer": "담당 부서 답변",
    "forum": "시민 공론장 개최",
    "mayor_answer": "시장 답변",
    "budget_review": "예산 반영 검토",
}
#: How each public status is called in a message.
STATUS_LABELS: Final = {
    "open": "시민 동의 진행 중",
    "closed": "동의 기간 종료",
    "adopted": "정책 채택",
    "budget_linked": "예산 연계 사업 선정",
    "withdrawn": "철회",
    "hidden": "운영 원칙에 따른 숨김 처리",
}
#: Who answered, as the proposer is told.
ANSWERER_LABELS: Final = {"department": "담당 부서", "mayor_office": "서울특별시장"}
#: Which staff role must act on an overdue obligation (identity-svc roles). A forum is opened
#: by the mayor's office (or an admin); budget reviews have no role of their own yet, so the
#: mayor's office is told.
RESPONSIBLE_ROLE: Final = {
    "department_answer": "department",
    "mayor_answer": "mayor_office",
    "forum": "mayor_office",
    "budget_review": "mayor_office",
}


#: The handlers of ``notify-svc consume``, by event class.
HANDLERS: Handlers[NotifyContext] = Handlers()


def _event_id(envelope: CloudEvent) -> uuid.UUID:
    return uuid.UUID(envelope.id)


def _message(
    event: str,
    audience: str,
    values: Mapping[str, str],
    *,
    proposal_id: uuid.UUID | None,
    forum_id: uuid.UUID | None = None,
) -> Message:
    """The message ``audience`` is sent about ``event`` (template and values from
    :mod:`notify_svc.kinds`)."""
    item = kinds.kind(event, audience)
    return Message(
        item.template_code, item.values(values), proposal_id=proposal_id, forum_id=forum_id
    )


async def _tell(
    session: AsyncSession,
    envelope: CloudEvent,
    citizen_id: uuid.UUID,
    message: Message,
    now: datetime,
) -> None:
    """Plan ``message`` to one citizen for this event."""
    await planning.plan(
        session,
        event_id=_event_id(envelope),
        event_type=envelope.type,
        citizen_ids=[citizen_id],
        message=message,
        now=now,
    )


async def _tell_followers(
    session: AsyncSession,
    envelope: CloudEvent,
    proposal_id: uuid.UUID,
    message: Message,
    now: datetime,
) -> None:
    """Record the fan-out to the proposal's followers (proposal-svc), expanded by the
    dispatcher. Planned after the proposer's row, so a proposer following their own proposal
    keeps the proposer's text (one message per event and citizen)."""
    await planning.add_recipient_job(
        session,
        event_id=_event_id(envelope),
        event_type=envelope.type,
        kind="proposal_followers",
        params={"proposal_id": str(proposal_id)},
        message=message,
        now=now,
    )


@HANDLERS.on(ProposalSubmitted)
async def on_submitted(
    ctx: NotifyContext, session: AsyncSession, event: ProposalSubmitted, envelope: CloudEvent
) -> None:
    """Remember the proposer and title (forum events name only the proposal)."""
    await planning.remember_proposal(
        session, event.proposal_id, event.author_id, event.title, ctx.clock.now()
    )


@HANDLERS.on(ProposalThresholdReached)
async def on_threshold(
    ctx: NotifyContext,
    session: AsyncSession,
    event: ProposalThresholdReached,
    envelope: CloudEvent,
) -> None:
    """Tell the proposer and the followers a tier was reached, with the obligation and its due
    date (KST)."""
    now = ctx.clock.now()
    await planning.remember_proposal(session, event.proposal_id, event.author_id, event.title, now)
    values = {
        "제안제목": event.title,
        "동의수": format_count(event.threshold),
        "의무": OBLIGATION_LABELS.get(event.obligation, event.obligation),
        "기한": format_kst_date(event.due_at),
    }
    name, pid = event.name, event.proposal_id
    await _tell(
        session,
        envelope,
        event.author_id,
        _message(name, "proposer", values, proposal_id=pid),
        now,
    )
    await _tell_followers(
        session, envelope, pid, _message(name, "followers", values, proposal_id=pid), now
    )


@HANDLERS.on(ProposalAnswered)
async def on_answered(
    ctx: NotifyContext, session: AsyncSession, event: ProposalAnswered, envelope: CloudEvent
) -> None:
    """Tell the proposer and the followers who answered."""
    now = ctx.clock.now()
    await planning.remember_proposal(session, event.proposal_id, event.author_id, event.title, now)
    values = {
        "제안제목": event.title,
        "답변주체": ANSWERER_LABELS.get(event.answered_by_role, "서울특별시"),
    }
    name, pid = event.name, event.proposal_id
    await _tell(
        session,
        envelope,
        event.author_id,
        _message(name, "proposer", values, proposal_id=pid),
        now,
    )
    await _tell_followers(
        session, envelope, pid, _message(name, "followers", values, proposal_id=pid), now
    )


@HANDLERS.on(ProposalStatusChanged)
async def on_status_changed(
    ctx: NotifyContext, session: AsyncSession, event: ProposalStatusChanged, envelope: CloudEvent
) -> None:
    """Tell the proposer the new status when it is news to them, and the followers when the
    proposal was adopted or linked to the budget."""
    now = ctx.clock.now()
    await planning.remember_proposal(session, event.proposal_id, event.author_id, event.title, now)
    # The first opening follows the proposer's own submission, and only the proposer can
    # withdraw: neither is news to them.
    if event.from_status is None or event.to_status in ("open", "withdrawn"):
        return
    values = {
        "제안제목": event.title,
        "상태": STATUS_LABELS.get(event.to_status, event.to_status),
    }
    name, pid = event.name, event.proposal_id
    await _tell(
        session,
        envelope,
        event.author_id,
        _message(name, "proposer", values, proposal_id=pid),
        now,
    )
    if event.to_status in kinds.FOLLOWER_STATUSES:
        await _tell_followers(
            session, envelope, pid, _message(name, "followers", values, proposal_id=pid), now
        )


@HANDLERS.on(ForumOpened)
async def on_forum_opened(
    ctx: NotifyContext, session: AsyncSession, event: ForumOpened, envelope: CloudEvent
) -> None:
    """Tell the proposer of the forum's proposal and its followers that it opened, with its
    deadline (KST)."""
    if event.proposal_id is None:
        return  # a forum of its own (the monthly city forum): no proposer, no followers
    now = ctx.clock.now()
    values = {"공론장제목": event.title, "마감일시": format_kst_datetime(event.closes_at)}
    name, pid, fid = event.name, event.proposal_id, event.forum_id
    ref = await repository.proposal_ref(session, pid)
    if ref is not None:
        message = _message(name, "proposer", values, proposal_id=pid, forum_id=fid)
        await _tell(session, envelope, ref.author_id, message, now)
    followers = _message(name, "followers", values, proposal_id=pid, forum_id=fid)
    await _tell_followers(session, envelope, pid, followers, now)


@HANDLERS.on(ForumClosed)
async def on_forum_closed(
    ctx: NotifyContext, session: AsyncSession, event: ForumClosed, envelope: CloudEvent
) -> None:
    """Tell the proposer now, and every participant (from vote-svc) and the proposal's
    followers (from proposal-svc) through recipient jobs."""
    now = ctx.clock.now()
    values = {"공론장제목": event.title, "참여자수": format_count(event.participant_count)}
    name, pid, fid = event.name, event.proposal_id, event.forum_id
    ref = await repository.proposal_ref(session, pid)
    if ref is not None:
        message = _message(name, "proposer", values, proposal_id=pid, forum_id=fid)
        await _tell(session, envelope, ref.author_id, message, now)
    await planning.add_recipient_job(
        session,
        event_id=_event_id(envelope),
        event_type=envelope.type,
        kind="forum_participants",
        params={"forum_id": str(fid)},
        message=_message(name, "participants", values, proposal_id=pid, forum_id=fid),
        now=now,
    )
    if pid is not None:
        followers = _message(name, "followers", values, proposal_id=pid, forum_id=fid)
        await _tell_followers(session, envelope, pid, followers, now)


@HANDLERS.on(ProposalObligationOverdue)
async def on_overdue(
    ctx: NotifyContext,
    session: AsyncSession,
    event: ProposalObligationOverdue,
    envelope: CloudEvent,
) -> None:
    """Tell the staff of the responsible role (from identity-svc) through a recipient job."""
    await planning.add_recipient_job(
        session,
        event_id=_event_id(envelope),
        event_type=envelope.type,
        kind="staff",
        params={"role": RESPONSIBLE_ROLE[event.obligation], "department": None},
        message=_message(
            event.name,
            "staff",
            {
                "제안제목": event.title,
                "의무": OBLIGATION_LABELS.get(event.obligation, event.obligation),
                "기한": format_kst_date(event.due_at),
            },
            proposal_id=event.proposal_id,
        ),
        now=ctx.clock.now(),
    )


def build_consumers(
    ctx: NotifyContext, sessions: async_sessionmaker[AsyncSession], js: JetStreamContext
) -> Sequence[ConsumerRunner]:
    """The consumers ``notify-svc consume`` runs."""
    return [
        ConsumerRunner(
            name=PROPOSALS_CONSUMER,
            stream="PROPOSAL",
            handlers=HANDLERS.bind(ctx),
            sessions=sessions,
            js=js,
        )
    ]
