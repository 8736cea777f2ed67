"""The time-driven transitions the ``proposal-svc tick`` worker applies: agreement periods end,
scheduled forums open, forum periods end, obligations become overdue."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from proposal_svc import repository
from proposal_svc.bootstrap import ProposalContext
from proposal_svc.models import Obligation
from proposal_svc.service.forums import announce_forum_opened, close_forum
from proposal_svc.service.proposals import change_status, get_proposal
from services import outbox
from services.events import ProposalObligationOverdue


@dataclass
class TickResult:
    """How many transitions one tick applied, by kind."""

    closed_proposals: int = 0
    opened_forums: int = 0
    closed_forums: int = 0
    overdue_obligations: int = 0


async def tick(session: AsyncSession, ctx: ProposalContext, *, batch: int = 200) -> TickResult:
    """Apply every transition that is due at ``ctx.clock.now()``, up to ``batch`` of each kind.
    Rows are claimed with SKIP LOCKED, so several workers can tick at once."""
    now = ctx.clock.now()
    result = TickResult()
    for proposal in await repository.claim_proposals_to_close(session, now, batch):
        await change_status(
            session, ctx, proposal, "closed", reason="agreement period ended", actor_role=None
        )
        result.closed_proposals += 1
    for forum in await repository.claim_forums_to_open(session, now, batch):
        forum.status = "open"
        await announce_forum_opened(session, ctx, forum)
        result.opened_forums += 1
    for forum in await repository.claim_forums_to_close(session, now, batch):
        await close_forum(session, ctx, forum, reason="forum period ended")
        result.closed_forums += 1
    for obligation in await repository.claim_overdue_obligations(session, now, batch):
        await _flag_overdue(session, obligation, now)
        result.overdue_obligations += 1
    return result


async def _flag_overdue(session: AsyncSession, obligation: Obligation, now: datetime) -> None:
    obligation.overdue_at = now
    proposal = await get_proposal(session, obligation.proposal_id)
    repository.add_timeline_entry(
        session,
        obligation.proposal_id,
        "obligation_overdue",
        now,
        None,
        obligation=obligation.kind,
        due_at=obligation.due_at,
    )
    outbox.add(
        session,
        ProposalObligationOverdue(
            proposal_id=obligation.proposal_id,
            title=proposal.title,
            obligation=obligation.kind,
            due_at=obligation.due_at,
        ),
    )
