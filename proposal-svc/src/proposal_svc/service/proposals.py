"""Proposals: submit, read, list, timeline, withdraw, hide; the status change every sub-domain
goes through; recomputing the search fields."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc import repository, similarity
from proposal_svc.bootstrap import ProposalContext
from proposal_svc.follows import repository as follows
from proposal_svc.models import (
    Answer,
    CommitteeDecision,
    Obligation,
    Proposal,
    TierCrossing,
    TimelineEntry,
)
from proposal_svc.reference.data import district
from proposal_svc.repository import ProposalFilter, SortKey
from proposal_svc.schemas import ProposalCreate
from services import outbox
from services.auth import Principal
from services.db import transaction
from services.events import ProposalClosed, ProposalOpened, ProposalStatusChanged, ProposalSubmitted
from services.paging import KeyType, decode_keyset, encode_keyset
from services.problems import ProblemError
from services.ratelimit import RateLimiter, citizen_key, network_key

#: Statuses in which a proposal takes part in public life (tiers, answers, adoption).
ACTIVE = ("open", "closed", "adopted", "budget_linked")
#: The rate-limit bucket of proposals submitted (per citizen and per client network).
SUBMIT_BUCKET = "proposal.submit"


@dataclass
class ProposalDetail:
    """A proposal with everything its public page shows."""

    proposal: Proposal
    tiers: Sequence[TierCrossing]
    obligations: Sequence[Obligation]
    answers: Sequence[Answer]
    adoption: CommitteeDecision | None
    forum_id: uuid.UUID | None
    similar: list[dict[str, Any]] = field(default_factory=list)


def not_found(what: str = "Proposal") -> ProblemError:
    """404 ``<what>-not-found``."""
    return ProblemError(404, f"{what.lower()}-not-found", f"{what} not found")


async def get_proposal(
    session: AsyncSession, proposal_id: uuid.UUID, *, lock: bool = False
) -> Proposal:
    """The proposal (``lock``: ``FOR UPDATE``), or 404."""
    proposal = await repository.get_proposal(session, proposal_id, lock=lock)
    if proposal is None:
        raise not_found()
    return proposal


async def change_status(
    session: AsyncSession,
    ctx: ProposalContext,
    proposal: Proposal,
    to: str,
    *,
    reason: str | None,
    actor_role: str | None,
) -> None:
    """Change status with its timeline entry and events; leaving ``open`` stops agreements."""
    now = ctx.clock.now()
    previous = proposal.status
    if previous == to:
        return
    proposal.status = to
    if previous == "open":
        proposal.closed_at = now
        outbox.add(session, ProposalClosed(proposal_id=proposal.id, status=to, closed_at=now))
    repository.add_timeline_entry(
        session,
        proposal.id,
        "status_changed",
        now,
        actor_role,
        from_status=previous,
        to_status=to,
        reason=reason,
    )
    outbox.add(
        session,
        ProposalStatusChanged(
            proposal_id=proposal.id,
            author_id=proposal.author_id,
            title=proposal.title,
            from_status=previous,
            to_status=to,
            reason=reason,
            changed_at=now,
        ),
    )


def unknown_district(value: str) -> ProblemError:
    """422 ``unknown-district``: not one of ``GET /v1/proposals/districts``."""
    return ProblemError(
        422,
        "unknown-district",
        "Unknown district",
        f"{value!r} is not one of Seoul's districts (GET /v1/proposals/districts), by code or name",
    )


def district_name(value: str | None) -> str | None:
    """The Korean name of the district a code or name gives (None for none); 422 otherwise."""
    if value is None:
        return None
    found = district(value)
    if found is None:
        raise unknown_district(value)
    return found.name_ko


def _check_limits(ctx: ProposalContext, data: ProposalCreate) -> None:
    settings = ctx.settings
    if len(data.title) > settings.title_max:
        raise ProblemError(
            422, "title-too-long", "Title too long", f"at most {settings.title_max} characters"
        )
    if len(data.body) > settings.body_max:
        raise ProblemError(
            422, "body-too-long", "Body too long", f"at most {settings.body_max} characters"
        )
    if data.district is not None and district(data.district) is None:
        raise unknown_district(data.district)
    if data.category not in settings.categories:
        raise ProblemError(
            422,
            "unknown-category",
            "Unknown category",
            f"one of: {', '.join(settings.categories)}",
            categories=settings.categories,
        )


async def create_proposal(
    session: AsyncSession,
    ctx: ProposalContext,
    author: Principal,
    data: ProposalCreate,
    *,
    lemmas: list[str],
    search_text: str,
) -> Proposal:
    """Submit and open a proposal for agreements, with its search fields already computed."""
    _check_limits(ctx, data)
    now = ctx.clock.now()
    proposal = Proposal(
        id=uuid.uuid4(),
        author_id=author.citizen_id,
        title=data.title,
        body=data.body,
        category=data.category,
        district=district_name(data.district),
        status="open",
        agreement_count=0,
        created_at=now,
        opened_at=now,
        closes_at=now + timedelta(days=ctx.settings.agreement_days),
        lemmas=lemmas,
        search_text=search_text,
    )
    session.add(proposal)
    await session.flush()
    await follows.set_following(session, author.citizen_id, proposal.id, True, "author", now)
    repository.add_timeline_entry(
        session, proposal.id, "submitted", now, "citizen", title=proposal.title
    )
    repository.add_timeline_entry(
        session, proposal.id, "opened", now, None, closes_at=proposal.closes_at
    )
    outbox.add(
        session,
        ProposalSubmitted(
            proposal_id=proposal.id,
            author_id=author.citizen_id,
            title=proposal.title,
            category=proposal.category,
            district=proposal.district,
            submitted_at=now,
        ),
    )
    outbox.add(
        session,
        ProposalOpened(proposal_id=proposal.id, opened_at=now, closes_at=proposal.closes_at),
    )
    return proposal


async def submit(
    session: AsyncSession,
    ctx: ProposalContext,
    author: Principal,
    data: ProposalCreate,
    *,
    network: str = "unknown",
) -> ProposalDetail:
    """A citizen submits a proposal: it is indexed for similar-proposal search and opened, and
    the answer lists the similar proposals that existed before it. Counted first against the
    citizen's and the client ``network``'s rate limits (429 ``rate-limited``; an unknown
    network counts per citizen only)."""
    limiter = RateLimiter(ctx.clock)
    settings = ctx.settings
    await limiter.hit(
        session, SUBMIT_BUCKET, citizen_key(author.citizen_id), settings.proposal_rate_limits
    )
    if network != "unknown":
        await limiter.hit(
            session, SUBMIT_BUCKET, network_key(network), settings.proposal_network_rate_limits
        )
    similar = await similarity.find_similar(session, f"{data.title}\n{data.body}")
    lemmas, search_text = await asyncio.to_thread(similarity.index_fields, data.title, data.body)
    proposal = await create_proposal(
        session, ctx, author, data, lemmas=lemmas, search_text=search_text
    )
    detail = await proposal_detail(session, proposal.id)
    detail.similar = [
        {"id": s.id, "title": s.title, "score": s.score, "status": s.status} for s in similar
    ]
    return detail


async def proposal_detail(session: AsyncSession, proposal_id: uuid.UUID) -> ProposalDetail:
    """A proposal with its tiers, obligations, answers, adoption and forum."""
    proposal = await get_proposal(session, proposal_id)
    forum = await repository.first_forum_of(session, proposal_id)
    return ProposalDetail(
        proposal,
        await repository.tiers_of(session, proposal_id),
        await repository.obligations_of(session, proposal_id),
        await repository.answers_of(session, proposal_id),
        await repository.latest_decision(session, proposal_id),
        forum.id if forum is not None else None,
    )


#: What a page cursor holds for each sort: the values of ``repository.sort_columns``.
_KEY_TYPES: dict[SortKey, tuple[KeyType, ...]] = {
    "recent": (datetime, uuid.UUID),
    "agreements": (int, datetime, uuid.UUID),
}


async def list_proposals(
    session: AsyncSession,
    where: ProposalFilter,
    *,
    sort: SortKey,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Proposal], str | None, int]:
    """A page of proposals (keyset pagination: stable under inserts), the next page's cursor
    (None on the last page) and how many proposals the filter keeps in all; 400
    ``invalid-cursor`` for a cursor we did not make."""
    rows = await repository.proposals_page(
        session,
        where,
        sort=sort,
        after=decode_keyset(cursor, _KEY_TYPES[sort]),
        limit=limit + 1,
    )
    page, more = rows[:limit], len(rows) > limit
    next_cursor = None
    if more and page:
        last = page[-1]
        next_cursor = encode_keyset(
            [getattr(last, column.key) for column in repository.sort_columns(sort)]
        )
    return page, next_cursor, await repository.count_proposals(session, where)


async def timeline(session: AsyncSession, proposal_id: uuid.UUID) -> Sequence[TimelineEntry]:
    """The proposal's public history, oldest first."""
    await get_proposal(session, proposal_id)
    return await repository.timeline_of(session, proposal_id)


async def withdraw(
    session: AsyncSession, ctx: ProposalContext, principal: Principal, proposal_id: uuid.UUID
) -> Proposal:
    """The author withdraws their proposal, only while nobody has agreed yet."""
    proposal = await get_proposal(session, proposal_id, lock=True)
    if proposal.author_id != principal.citizen_id:
        raise ProblemError(403, "not-the-author", "Only the author can withdraw a proposal")
    if proposal.status != "open":
        raise ProblemError(
            409, "proposal-not-open", "Proposal is not open", f"status is {proposal.status}"
        )
    if proposal.agreement_count > 0:
        raise ProblemError(
            409,
            "proposal-has-agreements",
            "Proposal already has agreements",
            "A proposal can be withdrawn only while no citizen has agreed with it.",
            agreement_count=proposal.agreement_count,
        )
    await change_status(
        session, ctx, proposal, "withdrawn", reason="withdrawn by author", actor_role="citizen"
    )
    return proposal


async def hide(
    session: AsyncSession,
    ctx: ProposalContext,
    principal: Principal,
    proposal_id: uuid.UUID,
    reason: str,
) -> Proposal:
    """A moderator hides a proposal; the timeline keeps the reason."""
    proposal = await get_proposal(session, proposal_id, lock=True)
    if proposal.status == "hidden":
        return proposal
    proposal.hidden_reason = reason
    await change_status(session, ctx, proposal, "hidden", reason=reason, actor_role="admin")
    return proposal


async def reindex(sessions: async_sessionmaker[AsyncSession], *, batch: int = 500) -> int:
    """Recompute every proposal's search fields (after a Kiwi upgrade or a dictionary change);
    the number of proposals reindexed.

    Unlike the other use cases it runs its own transactions, one per ``batch`` proposals in id
    order: a walk over the whole table must not hold every row's lock until the end, and an
    interrupted run keeps the batches already done.
    """
    done = 0
    last: uuid.UUID | None = None
    while True:
        async with transaction(sessions) as session:
            rows = await repository.proposals_after(session, last, batch)
            for proposal in rows:
                proposal.lemmas, proposal.search_text = await asyncio.to_thread(
                    similarity.index_fields, proposal.title, proposal.body
                )
        if not rows:
            return done
        done += len(rows)
        last = rows[-1].id
