"""proposal-svc use cases. They never commit: the request, consumer or worker boundary does."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from proposal_svc.config import ProposalSettings, TierRule
from proposal_svc.models import (
    Answer,
    CommitteeDecision,
    Forum,
    Obligation,
    Proposal,
    TierCrossing,
    TimelineEntry,
)
from proposal_svc.schemas import AdoptionCreate, ForumCreate, ProposalCreate
from services import outbox
from services.auth import Principal
from services.clock import Clock
from services.events import (
    ForumClosed,
    ForumOpened,
    ProposalAnswered,
    ProposalClosed,
    ProposalObligationOverdue,
    ProposalOpened,
    ProposalStatusChanged,
    ProposalSubmitted,
    ProposalThresholdReached,
)
from services.problems import ProblemError

STAFF_FORUM_ROLES = ("admin", "mayor_office")
ANSWER_ROLE = {"department": "department", "mayor": "mayor_office"}
ANSWER_OBLIGATION = {"department": "department_answer", "mayor": "mayor_answer"}
#: Statuses in which a proposal takes part in public life (tiers, answers, adoption).
ACTIVE = ("open", "closed", "adopted", "budget_linked")


@dataclass(frozen=True)
class ProposalContext:
    """What the use cases need besides the session."""

    settings: ProposalSettings
    clock: Clock


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


def _not_found(what: str = "Proposal") -> ProblemError:
    return ProblemError(404, f"{what.lower()}-not-found", f"{what} not found")


async def _timeline(
    session: AsyncSession,
    proposal_id: uuid.UUID,
    entry_kind: str,
    at: datetime,
    actor_role: str | None = None,
    **data: Any,
) -> None:
    session.add(
        TimelineEntry(
            proposal_id=proposal_id,
            kind=entry_kind,
            at=at,
            actor_role=actor_role,
            data=json.loads(json.dumps(data, default=str)),
        )
    )


async def _get_proposal(
    session: AsyncSession, proposal_id: uuid.UUID, *, lock: bool = False
) -> Proposal:
    proposal = await session.get(Proposal, proposal_id, with_for_update=lock)
    if proposal is None:
        raise _not_found()
    return proposal


async def _set_status(
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
    await _timeline(
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


# --- proposals ------------------------------------------------------------------------------


async def create_proposal(
    session: AsyncSession,
    ctx: ProposalContext,
    author: Principal,
    data: ProposalCreate,
    *,
    lemmas: list[str],
    search_text: str,
) -> Proposal:
    """Submit and open a proposal for agreements."""
    settings = ctx.settings
    if len(data.title) > settings.title_max:
        raise ProblemError(
            422, "title-too-long", "Title too long", f"at most {settings.title_max} characters"
        )
    if len(data.body) > settings.body_max:
        raise ProblemError(
            422, "body-too-long", "Body too long", f"at most {settings.body_max} characters"
        )
    if data.category not in settings.categories:
        raise ProblemError(
            422,
            "unknown-category",
            "Unknown category",
            f"one of: {', '.join(settings.categories)}",
            categories=settings.categories,
        )
    now = ctx.clock.now()
    proposal = Proposal(
        id=uuid.uuid4(),
        author_id=author.citizen_id,
        title=data.title,
        body=data.body,
        category=data.category,
        district=data.district,
        status="open",
        agreement_count=0,
        created_at=now,
        opened_at=now,
        closes_at=now + timedelta(days=settings.agreement_days),
        lemmas=lemmas,
        search_text=search_text,
    )
    session.add(proposal)
    await session.flush()
    await _timeline(session, proposal.id, "submitted", now, "citizen", title=proposal.title)
    await _timeline(session, proposal.id, "opened", now, None, closes_at=proposal.closes_at)
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


async def proposal_detail(session: AsyncSession, proposal_id: uuid.UUID) -> ProposalDetail:
    """A proposal with its tiers, obligations, answers, adoption and forum."""
    proposal = await _get_proposal(session, proposal_id)
    tiers = (
        await session.scalars(
            select(TierCrossing)
            .where(TierCrossing.proposal_id == proposal_id)
            .order_by(TierCrossing.threshold)
        )
    ).all()
    obligations = (
        await session.scalars(
            select(Obligation)
            .where(Obligation.proposal_id == proposal_id)
            .order_by(Obligation.created_at, Obligation.kind)
        )
    ).all()
    answers = (
        await session.scalars(
            select(Answer).where(Answer.proposal_id == proposal_id).order_by(Answer.created_at)
        )
    ).all()
    adoption = await session.scalar(
        select(CommitteeDecision)
        .where(CommitteeDecision.proposal_id == proposal_id)
        .order_by(CommitteeDecision.decided_at.desc())
        .limit(1)
    )
    forum_id = await session.scalar(
        select(Forum.id).where(Forum.proposal_id == proposal_id).order_by(Forum.created_at).limit(1)
    )
    return ProposalDetail(proposal, tiers, obligations, answers, adoption, forum_id)


SortKey = Literal["recent", "agreements"]


def _encode_cursor(values: list[Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, default=str).encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: SortKey) -> list[Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if sort == "recent":
            return [datetime.fromisoformat(values[0]), uuid.UUID(values[1])]
        return [int(values[0]), datetime.fromisoformat(values[1]), uuid.UUID(values[2])]
    except (ValueError, TypeError, IndexError, KeyError, json.JSONDecodeError) as exc:
        raise ProblemError(
            400, "invalid-cursor", "Invalid cursor", "Use next_cursor from a previous page."
        ) from exc


async def list_proposals(
    session: AsyncSession,
    *,
    status: str | None,
    category: str | None,
    q: str | None,
    sort: SortKey,
    cursor: str | None,
    limit: int,
) -> tuple[Sequence[Proposal], str | None]:
    """A page of proposals (keyset pagination: stable under inserts)."""
    query = select(Proposal)
    if status:
        query = query.where(Proposal.status == status)
    else:
        query = query.where(Proposal.status != "hidden")
    if category:
        query = query.where(Proposal.category == category)
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(Proposal.search_text.ilike(pattern, escape="\\"))
    if sort == "recent":
        order: list[Any] = [Proposal.created_at.desc(), Proposal.id.desc()]
        if cursor:
            at, pid = _decode_cursor(cursor, sort)
            query = query.where(
                or_(Proposal.created_at < at, and_(Proposal.created_at == at, Proposal.id < pid))
            )
    else:
        order = [Proposal.agreement_count.desc(), Proposal.created_at.desc(), Proposal.id.desc()]
        if cursor:
            count, at, pid = _decode_cursor(cursor, sort)
            query = query.where(
                or_(
                    Proposal.agreement_count < count,
                    and_(Proposal.agreement_count == count, Proposal.created_at < at),
                    and_(
                        Proposal.agreement_count == count,
                        Proposal.created_at == at,
                        Proposal.id < pid,
                    ),
                )
            )
    rows = (await session.scalars(query.order_by(*order).limit(limit + 1))).all()
    page, more = rows[:limit], len(rows) > limit
    next_cursor = None
    if more and page:
        last = page[-1]
        values: list[Any] = [last.created_at.isoformat(), str(last.id)]
        if sort == "agreements":
            values = [last.agreement_count, *values]
        next_cursor = _encode_cursor(values)
    return page, next_cursor


async def timeline(session: AsyncSession, proposal_id: uuid.UUID) -> Sequence[TimelineEntry]:
    """The proposal's public history, oldest first."""
    await _get_proposal(session, proposal_id)
    return (
        await session.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.proposal_id == proposal_id)
            .order_by(TimelineEntry.seq)
        )
    ).all()


async def withdraw(
    session: AsyncSession, ctx: ProposalContext, principal: Principal, proposal_id: uuid.UUID
) -> Proposal:
    """The author withdraws their proposal, only while nobody has agreed yet."""
    proposal = await _get_proposal(session, proposal_id, lock=True)
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
    await _set_status(
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
    proposal = await _get_proposal(session, proposal_id, lock=True)
    if proposal.status == "hidden":
        return proposal
    proposal.hidden_reason = reason
    await _set_status(session, ctx, proposal, "hidden", reason=reason, actor_role="admin")
    return proposal


async def answer(
    session: AsyncSession,
    ctx: ProposalContext,
    principal: Principal,
    proposal_id: uuid.UUID,
    kind: Literal["department", "mayor"],
    body: str,
) -> Answer:
    """The responsible department or the mayor's office answers; the obligation is fulfilled."""
    role = ANSWER_ROLE[kind]
    if not principal.has_any(role):
        raise ProblemError(
            403,
            "forbidden",
            "Forbidden",
            f"a {kind} answer needs the role {role}",
            required_roles=[role],
        )
    proposal = await _get_proposal(session, proposal_id, lock=True)
    if proposal.status not in ACTIVE:
        raise ProblemError(
            409,
            "proposal-not-answerable",
            "Proposal cannot be answered",
            f"status is {proposal.status}",
        )
    now = ctx.clock.now()
    obligation_kind = ANSWER_OBLIGATION[kind]
    record = Answer(
        id=uuid.uuid4(),
        proposal_id=proposal_id,
        kind=kind,
        body=body,
        author_id=principal.citizen_id,
        author_role=role,
        department=principal.department if kind == "department" else None,
        created_at=now,
    )
    session.add(record)
    await _fulfil(session, proposal_id, obligation_kind, now)
    await _timeline(
        session,
        proposal_id,
        "answered",
        now,
        role,
        kind=kind,
        answer_id=record.id,
        department=record.department,
    )
    outbox.add(
        session,
        ProposalAnswered(
            proposal_id=proposal_id,
            author_id=proposal.author_id,
            title=proposal.title,
            obligation=obligation_kind,
            answer_id=record.id,
            answered_by_role=role,
            answered_at=now,
        ),
    )
    return record


async def decide_adoption(
    session: AsyncSession,
    ctx: ProposalContext,
    principal: Principal,
    proposal_id: uuid.UUID,
    data: AdoptionCreate,
) -> CommitteeDecision:
    """The committee adopts (or declines) a proposal as an excellent proposal, possibly grouping
    similar proposals with it."""
    proposal = await _get_proposal(session, proposal_id, lock=True)
    if proposal.status not in ("open", "closed"):
        raise ProblemError(
            409,
            "proposal-not-decidable",
            "Proposal cannot be decided",
            f"status is {proposal.status}",
        )
    grouped_ids = [gid for gid in dict.fromkeys(data.grouped_proposal_ids) if gid != proposal_id]
    grouped = (
        (
            await session.scalars(
                select(Proposal).where(Proposal.id.in_(grouped_ids)).with_for_update()
            )
        ).all()
        if grouped_ids
        else []
    )
    missing = set(grouped_ids) - {p.id for p in grouped}
    if missing:
        raise ProblemError(
            422,
            "unknown-grouped-proposals",
            "Unknown grouped proposals",
            missing=sorted(map(str, missing)),
        )
    if data.reason == "many_similar" and not grouped_ids and data.decision == "adopt":
        raise ProblemError(
            422, "grouped-proposals-required", "Name the similar proposals adopted together"
        )
    now = ctx.clock.now()
    decision = CommitteeDecision(
        id=uuid.uuid4(),
        proposal_id=proposal_id,
        decision=data.decision,
        reason=data.reason,
        rationale=data.rationale,
        grouped_proposal_ids=grouped_ids,
        decided_by=principal.citizen_id,
        decided_at=now,
    )
    session.add(decision)
    await _timeline(
        session,
        proposal_id,
        f"committee_{data.decision}",
        now,
        "committee",
        reason=data.reason,
        rationale=data.rationale,
        grouped_proposal_ids=[str(g) for g in grouped_ids],
    )
    if data.decision == "adopt":
        await _set_status(
            session,
            ctx,
            proposal,
            "adopted",
            reason=f"committee: {data.reason}",
            actor_role="committee",
        )
        for other in grouped:
            await _timeline(
                session,
                other.id,
                "committee_adopt",
                now,
                "committee",
                reason=data.reason,
                grouped_with=str(proposal_id),
            )
            if other.status in ("open", "closed"):
                await _set_status(
                    session,
                    ctx,
                    other,
                    "adopted",
                    reason=f"grouped with {proposal_id}",
                    actor_role="committee",
                )
    return decision


# --- tallies and tiers (consumer of vote.tally_changed) ------------------------------------------


async def apply_proposal_tally(
    session: AsyncSession, ctx: ProposalContext, proposal_id: uuid.UUID, count: int
) -> None:
    """Record the agreement count (counts only grow) and cross the tiers between the old count
    and the new one. A late or repeated tally changes nothing and costs one locked read."""
    await apply_proposal_tallies(session, ctx, {proposal_id: [count]})


async def apply_proposal_tallies(
    session: AsyncSession, ctx: ProposalContext, counts: Mapping[uuid.UUID, Sequence[int]]
) -> None:
    """Apply a batch of tally events: per proposal, the highest of its ``counts`` (counts only
    grow, so it subsumes the others) with one locked read and one update for the whole batch.

    Every tier between the stored count and that highest one is crossed, none skipped (40 then
    120 crosses 50 and 100), and each crossing records the lowest count of the batch that
    reached its threshold: the count at which it was reached, whatever order the events came
    in. Late or repeated counts change nothing.
    """
    if not counts:
        return
    table = cast(Table, Proposal.__table__)
    rows = (
        await session.execute(
            select(table.c.id, table.c.agreement_count, table.c.status)
            .where(table.c.id.in_(sorted(counts)))
            .order_by(table.c.id)  # one lock order for every batch
            .with_for_update()
        )
    ).all()
    grown = [
        (row, max(counts[row.id])) for row in rows if max(counts[row.id]) > row.agreement_count
    ]
    if not grown:
        return
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("proposal_id"))
        .values(agreement_count=bindparam("count")),
        [{"proposal_id": row.id, "count": count} for row, count in grown],
    )
    for row, count in grown:
        if row.status in ("withdrawn", "hidden"):
            continue
        for tier in ctx.settings.tiers:
            if row.agreement_count < tier.threshold <= count:
                reached = min(c for c in counts[row.id] if c >= tier.threshold)
                await _cross_tier(session, ctx, row.id, tier, reached)


async def _cross_tier(
    session: AsyncSession, ctx: ProposalContext, proposal_id: uuid.UUID, tier: TierRule, count: int
) -> None:
    now = ctx.clock.now()
    crossed = await session.scalar(
        insert(TierCrossing)
        .values(proposal_id=proposal_id, tier=tier.name, threshold=tier.threshold, reached_at=now)
        .on_conflict_do_nothing()
        .returning(TierCrossing.tier)
    )
    if crossed is None:
        return  # already crossed (a later or redelivered tally)
    proposal = await _get_proposal(session, proposal_id)
    due_at = now + timedelta(days=tier.due_days)
    await _create_obligation(session, proposal_id, tier.obligation, now, due_at)
    await _timeline(
        session,
        proposal_id,
        "tier_reached",
        now,
        None,
        tier=tier.name,
        threshold=tier.threshold,
        agreement_count=count,
        obligation=tier.obligation,
        due_at=due_at,
    )
    outbox.add(
        session,
        ProposalThresholdReached(
            proposal_id=proposal_id,
            author_id=proposal.author_id,
            title=proposal.title,
            tier=tier.name,
            threshold=tier.threshold,
            agreement_count=count,
            obligation=tier.obligation,
            due_at=due_at,
            reached_at=now,
        ),
    )
    if tier.obligation == "forum":
        await _open_proposal_forum(session, ctx, proposal)


async def _fulfil(session: AsyncSession, proposal_id: uuid.UUID, kind: str, now: datetime) -> None:
    """Mark the proposal's obligation of ``kind`` fulfilled (if it exists and is still open)."""
    await session.execute(
        update(Obligation)
        .where(
            Obligation.proposal_id == proposal_id,
            Obligation.kind == kind,
            Obligation.fulfilled_at.is_(None),
        )
        .values(fulfilled_at=now)
    )


async def _create_obligation(
    session: AsyncSession, proposal_id: uuid.UUID, kind: str, now: datetime, due_at: datetime
) -> None:
    await session.execute(
        insert(Obligation)
        .values(id=uuid.uuid4(), proposal_id=proposal_id, kind=kind, created_at=now, due_at=due_at)
        .on_conflict_do_nothing()
    )


async def _open_proposal_forum(
    session: AsyncSession, ctx: ProposalContext, proposal: Proposal
) -> Forum:
    existing = await session.scalar(select(Forum).where(Forum.proposal_id == proposal.id).limit(1))
    if existing is not None:
        return existing
    now = ctx.clock.now()
    forum = Forum(
        id=uuid.uuid4(),
        proposal_id=proposal.id,
        title=f"공론장: {proposal.title}",
        description="",
        mode="online",
        options=list(ctx.settings.forum_options),
        status="open",
        opens_at=now,
        closes_at=now + timedelta(days=ctx.settings.forum_days),
        participant_count=0,
        created_by=None,
        created_at=now,
    )
    session.add(forum)
    await session.flush()
    await _announce_forum_opened(session, ctx, forum)
    return forum


async def _announce_forum_opened(session: AsyncSession, ctx: ProposalContext, forum: Forum) -> None:
    if forum.proposal_id is not None:
        await _timeline(
            session,
            forum.proposal_id,
            "forum_opened",
            ctx.clock.now(),
            None,
            forum_id=forum.id,
            opens_at=forum.opens_at,
            closes_at=forum.closes_at,
        )
    outbox.add(
        session,
        ForumOpened(
            forum_id=forum.id,
            proposal_id=forum.proposal_id,
            title=forum.title,
            mode=forum.mode,
            options=list(forum.options),
            opens_at=forum.opens_at,
            closes_at=forum.closes_at,
        ),
    )


async def apply_forum_tally(session: AsyncSession, forum_id: uuid.UUID, count: int) -> None:
    """Record a forum's participant count (counts only grow)."""
    await apply_forum_tallies(session, {forum_id: count})


async def apply_forum_tallies(session: AsyncSession, counts: Mapping[uuid.UUID, int]) -> None:
    """Record the participant counts of a batch (the highest per forum; counts only grow)."""
    if not counts:
        return
    table = cast(Table, Forum.__table__)
    await session.execute(
        update(table)
        .where(table.c.id == bindparam("forum_id"))
        .values(participant_count=func.greatest(table.c.participant_count, bindparam("count"))),
        [{"forum_id": forum_id, "count": count} for forum_id, count in sorted(counts.items())],
    )


# --- forums -----------------------------------------------------------------------------------


async def create_forum(
    session: AsyncSession, ctx: ProposalContext, principal: Principal, data: ForumCreate
) -> Forum:
    """Staff create a forum (the monthly city forum, or one on a proposal)."""
    if data.closes_at <= data.opens_at:
        raise ProblemError(422, "invalid-forum-period", "closes_at must be after opens_at")
    now = ctx.clock.now()
    if data.closes_at <= now:
        raise ProblemError(422, "invalid-forum-period", "closes_at must be in the future")
    if data.proposal_id is not None:
        proposal = await _get_proposal(session, data.proposal_id)
        if proposal.status not in ACTIVE:
            raise ProblemError(
                409, "proposal-not-active", "Proposal is not active", f"status is {proposal.status}"
            )
    forum = Forum(
        id=uuid.uuid4(),
        proposal_id=data.proposal_id,
        title=data.title,
        description=data.description,
        mode=data.mode,
        options=data.options,
        status="open" if data.opens_at <= now else "scheduled",
        opens_at=data.opens_at,
        closes_at=data.closes_at,
        participant_count=0,
        created_by=principal.citizen_id,
        created_at=now,
    )
    session.add(forum)
    await session.flush()
    if forum.status == "open":
        await _announce_forum_opened(session, ctx, forum)
    return forum


async def get_forum(session: AsyncSession, forum_id: uuid.UUID) -> Forum:
    forum = await session.get(Forum, forum_id)
    if forum is None:
        raise _not_found("Forum")
    return forum


async def close_forum(
    session: AsyncSession, ctx: ProposalContext, forum: Forum, *, reason: str
) -> None:
    """Close a forum: its proposal's forum obligation is fulfilled, and with enough participants
    the proposal becomes a budget-linked project with a budget_review obligation."""
    if forum.status == "closed":
        return
    now = ctx.clock.now()
    forum.status = "closed"
    forum.closed_at = now
    outbox.add(
        session,
        ForumClosed(
            forum_id=forum.id,
            proposal_id=forum.proposal_id,
            title=forum.title,
            participant_count=forum.participant_count,
            closed_at=now,
        ),
    )
    if forum.proposal_id is None:
        return
    proposal_id = forum.proposal_id
    await _fulfil(session, proposal_id, "forum", now)
    await _timeline(
        session,
        proposal_id,
        "forum_closed",
        now,
        None,
        forum_id=forum.id,
        participant_count=forum.participant_count,
        reason=reason,
    )
    if forum.participant_count >= ctx.settings.budget_participants:
        proposal = await _get_proposal(session, proposal_id, lock=True)
        if proposal.status in ("open", "closed", "adopted"):
            await _set_status(
                session,
                ctx,
                proposal,
                "budget_linked",
                reason=f"forum had {forum.participant_count} participants",
                actor_role=None,
            )
            await _create_obligation(
                session,
                proposal_id,
                "budget_review",
                now,
                now + timedelta(days=ctx.settings.budget_review_days),
            )


async def close_forum_now(
    session: AsyncSession, ctx: ProposalContext, forum_id: uuid.UUID
) -> Forum:
    """Staff close a forum early (e.g. the offline session concluded)."""
    forum = await session.get(Forum, forum_id, with_for_update=True)
    if forum is None:
        raise _not_found("Forum")
    if forum.status != "open":
        raise ProblemError(409, "forum-not-open", "Forum is not open", f"status is {forum.status}")
    await close_forum(session, ctx, forum, reason="closed by staff")
    return forum


# --- time-driven transitions (the worker's tick) -------------------------------------------------


@dataclass
class TickResult:
    closed_proposals: int = 0
    opened_forums: int = 0
    closed_forums: int = 0
    overdue_obligations: int = 0


async def tick(session: AsyncSession, ctx: ProposalContext, *, batch: int = 200) -> TickResult:
    """Apply every transition that is due at ``ctx.clock.now()``. Rows are claimed with
    SKIP LOCKED, so several workers can tick at once."""
    now = ctx.clock.now()
    result = TickResult()
    due_proposals = (
        await session.scalars(
            select(Proposal)
            .where(Proposal.status == "open", Proposal.closes_at <= now)
            .order_by(Proposal.closes_at)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for proposal in due_proposals:
        await _set_status(
            session, ctx, proposal, "closed", reason="agreement period ended", actor_role=None
        )
        result.closed_proposals += 1
    starting = (
        await session.scalars(
            select(Forum)
            .where(Forum.status == "scheduled", Forum.opens_at <= now)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for forum in starting:
        forum.status = "open"
        await _announce_forum_opened(session, ctx, forum)
        result.opened_forums += 1
    ending = (
        await session.scalars(
            select(Forum)
            .where(Forum.status == "open", Forum.closes_at <= now)
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for forum in ending:
        await close_forum(session, ctx, forum, reason="forum period ended")
        result.closed_forums += 1
    overdue = (
        await session.scalars(
            select(Obligation)
            .where(
                Obligation.fulfilled_at.is_(None),
                Obligation.overdue_at.is_(None),
                Obligation.due_at <= now,
            )
            .limit(batch)
            .with_for_update(skip_locked=True)
        )
    ).all()
    for obligation in overdue:
        obligation.overdue_at = now
        proposal = await _get_proposal(session, obligation.proposal_id)
        await _timeline(
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
        result.overdue_obligations += 1
    return result
