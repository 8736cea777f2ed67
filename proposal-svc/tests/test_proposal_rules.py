"""The platform's rules (tiers, obligations, forums, budget link, adoption, time) at the use-case
level, against real Postgres, with a clock the test moves."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc import service
from proposal_svc.bootstrap import ProposalContext
from proposal_svc.config import ProposalSettings, TierRule
from proposal_svc.models import Forum, Obligation, OutboxMessage, Proposal, TimelineEntry
from proposal_svc.repository import ProposalFilter, SortKey
from proposal_svc.schemas import AdoptionCreate, ForumCreate, ProposalCreate
from services.auth import Principal
from services.clock import ManualClock
from services.db import transaction
from services.problems import ProblemError

CITIZEN = Principal(uuid.uuid4(), frozenset({"citizen"}), None, "t")
COMMITTEE = Principal(uuid.uuid4(), frozenset({"citizen", "committee"}), None, "t")
DEPARTMENT = Principal(uuid.uuid4(), frozenset({"citizen", "department"}), "교통실", "t")
MAYOR = Principal(uuid.uuid4(), frozenset({"citizen", "mayor_office"}), None, "t")

Sessions = async_sessionmaker[AsyncSession]


async def _create(
    sessions: Sessions, ctx: ProposalContext, title: str = "따릉이 대여소를 늘려주세요"
) -> uuid.UUID:
    async with transaction(sessions) as session:
        proposal = await service.proposals.create_proposal(
            session,
            ctx,
            CITIZEN,
            ProposalCreate(title=title, body="본문", category="transport"),
            lemmas=[],
            search_text=title,
        )
        return proposal.id


async def _tally(
    sessions: Sessions, ctx: ProposalContext, proposal_id: uuid.UUID, count: int
) -> None:
    async with transaction(sessions) as session:
        await service.tallies.apply_proposal_tally(session, ctx, proposal_id, count)


async def _obligations(sessions: Sessions, proposal_id: uuid.UUID) -> dict[str, Obligation]:
    async with sessions() as session:
        rows = (
            await session.scalars(select(Obligation).where(Obligation.proposal_id == proposal_id))
        ).all()
    return {o.kind: o for o in rows}


async def _events(sessions: Sessions, subject: str) -> list[dict[str, object]]:
    async with sessions() as session:
        rows = (
            await session.scalars(
                select(OutboxMessage)
                .where(OutboxMessage.subject == subject)
                .order_by(OutboxMessage.seq)
            )
        ).all()
    return [r.envelope["data"] for r in rows]


async def test_tiers_create_obligations_with_due_dates(
    sessions: Sessions, ctx: ProposalContext, clock: ManualClock
) -> None:
    pid = await _create(sessions, ctx)
    await _tally(sessions, ctx, pid, 49)
    assert await _obligations(sessions, pid) == {}
    await _tally(sessions, ctx, pid, 50)
    obligations = await _obligations(sessions, pid)
    assert set(obligations) == {"department_answer"}
    assert obligations["department_answer"].due_at == clock.now() + timedelta(days=30)
    await _tally(sessions, ctx, pid, 100)
    assert set(await _obligations(sessions, pid)) == {"department_answer", "forum"}
    async with sessions() as session:
        forum = (await session.scalars(select(Forum).where(Forum.proposal_id == pid))).one()
    assert forum.status == "open"
    assert forum.options == ["찬성", "반대", "유보"]
    await _tally(sessions, ctx, pid, 1000)
    assert set(await _obligations(sessions, pid)) == {"department_answer", "forum", "mayor_answer"}
    reached = await _events(sessions, "proposal.threshold_reached.v1")
    assert [(e["tier"], e["threshold"]) for e in reached] == [
        ("department_answer", 50),
        ("forum", 100),
        ("mayor_answer", 1000),
    ]
    assert len(await _events(sessions, "forum.opened.v1")) == 1


async def test_counts_only_grow_and_redelivery_crosses_once(
    sessions: Sessions, ctx: ProposalContext
) -> None:
    pid = await _create(sessions, ctx)
    await _tally(sessions, ctx, pid, 60)
    await _tally(sessions, ctx, pid, 55)  # a late, older tally
    await _tally(sessions, ctx, pid, 60)  # a redelivered one
    async with sessions() as session:
        assert (await session.get(Proposal, pid)).agreement_count == 60  # type: ignore[union-attr]
    assert len(await _events(sessions, "proposal.threshold_reached.v1")) == 1


async def test_a_jump_crosses_every_tier_below(sessions: Sessions, ctx: ProposalContext) -> None:
    pid = await _create(sessions, ctx)
    await _tally(sessions, ctx, pid, 1200)
    assert set(await _obligations(sessions, pid)) == {"department_answer", "forum", "mayor_answer"}


async def test_tiers_are_configuration(
    sessions: Sessions, proposal_settings: ProposalSettings, clock: ManualClock
) -> None:
    old_rules = proposal_settings.model_copy(
        update={
            "tiers": [
                TierRule(
                    name="department_answer",
                    threshold=50,
                    obligation="department_answer",
                    due_days=14,
                ),
                TierRule(name="forum", threshold=500, obligation="forum", due_days=30),
                TierRule(
                    name="mayor_answer", threshold=5000, obligation="mayor_answer", due_days=30
                ),
            ]
        }
    )
    ctx = ProposalContext(settings=old_rules, clock=clock)
    pid = await _create(sessions, ctx)
    await _tally(sessions, ctx, pid, 1000)
    obligations = await _obligations(sessions, pid)
    assert set(obligations) == {"department_answer", "forum"}
    assert obligations["department_answer"].due_at == clock.now() + timedelta(days=14)
    await _tally(sessions, ctx, pid, 5000)
    assert "mayor_answer" in await _obligations(sessions, pid)


def test_tier_configuration_is_validated(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="distinct"):
        ProposalSettings(
            tiers=[
                TierRule(name="a", threshold=1, obligation="forum", due_days=1),
                TierRule(name="b", threshold=2, obligation="forum", due_days=1),
            ]
        )
    monkeypatch.setenv(
        "PROPOSAL_TIERS", '[{"name":"x","threshold":5,"obligation":"mayor_answer","due_days":7}]'
    )
    assert ProposalSettings().tiers == [
        TierRule(name="x", threshold=5, obligation="mayor_answer", due_days=7)
    ]


async def test_answers_fulfil_obligations_and_overdue_is_flagged(
    sessions: Sessions, ctx: ProposalContext, clock: ManualClock
) -> None:
    pid = await _create(sessions, ctx)
    await _tally(sessions, ctx, pid, 1000)
    clock.advance(days=10)
    async with transaction(sessions) as session:
        await service.tallies.answer(session, ctx, DEPARTMENT, pid, "department", "검토하겠습니다")
    with pytest.raises(ProblemError) as refused:
        async with transaction(sessions) as session:
            await service.tallies.answer(session, ctx, DEPARTMENT, pid, "mayor", "시장 답변 흉내")
    assert refused.value.status == 403
    clock.advance(days=25)  # the mayor's answer is now overdue (due after 30 days)
    async with transaction(sessions) as session:
        result = await service.tick.tick(session, ctx)
    # The forum closed after its 14 days (fulfilling its obligation); the mayor's answer is late.
    assert result.closed_forums == 1
    assert result.overdue_obligations == 1
    obligations = await _obligations(sessions, pid)
    assert obligations["department_answer"].fulfilled_at is not None
    assert obligations["department_answer"].overdue_at is None
    assert obligations["mayor_answer"].overdue_at is not None
    async with transaction(sessions) as session:
        again = await service.tick.tick(session, ctx)
    assert again.overdue_obligations == 0  # flagged once
    async with transaction(sessions) as session:
        await service.tallies.answer(session, ctx, MAYOR, pid, "mayor", "시장 답변")
    assert (await _obligations(sessions, pid))["mayor_answer"].fulfilled_at is not None
    assert len(await _events(sessions, "proposal.answered.v1")) == 2
    assert [e["obligation"] for e in await _events(sessions, "proposal.obligation_overdue.v1")] == [
        "mayor_answer"
    ]


async def test_agreement_period_ends(
    sessions: Sessions, ctx: ProposalContext, clock: ManualClock
) -> None:
    pid = await _create(sessions, ctx)
    clock.advance(days=29, hours=23)
    async with transaction(sessions) as session:
        assert (await service.tick.tick(session, ctx)).closed_proposals == 0
    clock.advance(hours=2)
    async with transaction(sessions) as session:
        assert (await service.tick.tick(session, ctx)).closed_proposals == 1
    closed = await _events(sessions, "proposal.closed.v1")
    assert [(c["proposal_id"], c["status"]) for c in closed] == [(str(pid), "closed")]


async def test_forum_with_enough_participants_links_the_budget(
    sessions: Sessions, ctx: ProposalContext, clock: ManualClock
) -> None:
    pid = await _create(sessions, ctx)
    await _tally(sessions, ctx, pid, 100)
    async with sessions() as session:
        forum_id = (await session.scalars(select(Forum.id).where(Forum.proposal_id == pid))).one()
    async with transaction(sessions) as session:
        await service.forums.apply_forum_tally(session, forum_id, 1000)
    clock.advance(days=14, seconds=1)
    async with transaction(sessions) as session:
        assert (await service.tick.tick(session, ctx)).closed_forums == 1
    async with sessions() as session:
        proposal = await session.get(Proposal, pid)
        assert proposal is not None
        assert proposal.status == "budget_linked"
    obligations = await _events(sessions, "forum.closed.v1")
    assert obligations[0]["participant_count"] == 1000
    owed = await _obligations(sessions, pid)
    assert owed["forum"].fulfilled_at is not None
    assert owed["budget_review"].due_at == clock.now() + timedelta(days=90)


async def test_forum_below_the_bar_does_not_link_the_budget(
    sessions: Sessions, ctx: ProposalContext, clock: ManualClock
) -> None:
    pid = await _create(sessions, ctx)
    await _tally(sessions, ctx, pid, 100)
    async with sessions() as session:
        forum_id = (await session.scalars(select(Forum.id).where(Forum.proposal_id == pid))).one()
    async with transaction(sessions) as session:
        await service.forums.apply_forum_tally(session, forum_id, 999)
        await service.forums.close_forum_now(session, ctx, forum_id)
    async with sessions() as session:
        assert (await session.get(Proposal, pid)).status == "open"  # type: ignore[union-attr]
    assert "budget_review" not in await _obligations(sessions, pid)


async def test_monthly_city_forum_opens_when_scheduled(
    sessions: Sessions, ctx: ProposalContext, clock: ManualClock
) -> None:
    staff = Principal(uuid.uuid4(), frozenset({"citizen", "mayor_office"}), None, "t")
    data = ForumCreate(
        title="12월 시민 공론장",
        mode="hybrid",
        options=["찬성", "반대"],
        opens_at=clock.now() + timedelta(days=1),
        closes_at=clock.now() + timedelta(days=8),
    )
    async with transaction(sessions) as session:
        forum = await service.forums.create_forum(session, ctx, staff, data)
    assert forum.status == "scheduled"
    assert await _events(sessions, "forum.opened.v1") == []
    clock.advance(days=1)
    async with transaction(sessions) as session:
        assert (await service.tick.tick(session, ctx)).opened_forums == 1
    opened = await _events(sessions, "forum.opened.v1")
    assert opened[0]["forum_id"] == str(forum.id)
    assert opened[0]["proposal_id"] is None


async def test_committee_adopts_below_threshold_with_grouped_proposals(
    sessions: Sessions, ctx: ProposalContext
) -> None:
    main = await _create(sessions, ctx, "공공자전거 대여소 확충")
    similar = await _create(sessions, ctx, "따릉이 대여소 확대 요청")
    async with transaction(sessions) as session:
        await service.adoption.decide_adoption(
            session,
            ctx,
            COMMITTEE,
            main,
            AdoptionCreate(
                decision="adopt",
                reason="many_similar",
                rationale="같은 취지 다수",
                grouped_proposal_ids=[similar],
            ),
        )
    async with sessions() as session:
        statuses = {p.id: p.status for p in (await session.scalars(select(Proposal))).all()}
        kinds = (
            await session.scalars(
                select(TimelineEntry.kind)
                .where(TimelineEntry.proposal_id == main)
                .order_by(TimelineEntry.seq)
            )
        ).all()
    assert statuses == {main: "adopted", similar: "adopted"}
    assert kinds == ["submitted", "opened", "committee_adopt", "status_changed"]
    with pytest.raises(ProblemError) as again:
        async with transaction(sessions) as session:
            await service.adoption.decide_adoption(
                session,
                ctx,
                COMMITTEE,
                main,
                AdoptionCreate(decision="adopt", reason="timely", rationale="x"),
            )
    assert again.value.status == 409


async def test_many_similar_needs_grouped_proposals(
    sessions: Sessions, ctx: ProposalContext
) -> None:
    pid = await _create(sessions, ctx)
    with pytest.raises(ProblemError) as refused:
        async with transaction(sessions) as session:
            await service.adoption.decide_adoption(
                session,
                ctx,
                COMMITTEE,
                pid,
                AdoptionCreate(decision="adopt", reason="many_similar", rationale="x"),
            )
    assert refused.value.status == 422
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(TimelineEntry)) == 2


async def _page(
    session: AsyncSession, sort: SortKey, cursor: str | None, limit: int
) -> tuple[list[uuid.UUID], str | None]:
    page, next_cursor, _ = await service.proposals.list_proposals(
        session, ProposalFilter(), sort=sort, cursor=cursor, limit=limit
    )
    return [p.id for p in page], next_cursor


async def test_paging_by_agreements_visits_every_proposal_once_in_order(
    sessions: Sessions, ctx: ProposalContext, clock: ManualClock
) -> None:
    counts = [3, 7, 7, 0, 7, 3]
    ids = []
    for index, count in enumerate(counts):
        if index % 2 == 0:
            clock.advance(minutes=1)  # pairs share created_at: the id breaks the tie
        ids.append(await _create(sessions, ctx, title=f"제안 {index}"))
        if count:
            await _tally(sessions, ctx, ids[-1], count)
    async with sessions() as session:
        rows = (await session.scalars(select(Proposal).where(Proposal.id.in_(ids)))).all()
        expected = [
            p.id
            for p in sorted(
                rows, key=lambda p: (p.agreement_count, p.created_at, p.id), reverse=True
            )
        ]
        assert (await _page(session, "agreements", None, 100))[0] == expected
        seen: list[uuid.UUID] = []
        cursor = None
        while True:
            page, cursor = await _page(session, "agreements", cursor, 2)
            seen.extend(page)
            if cursor is None:
                break
        assert seen == expected
        _, recent_cursor = await _page(session, "recent", None, 1)
        with pytest.raises(ProblemError) as refused:
            await _page(session, "agreements", recent_cursor, 2)
        assert refused.value.status == 400
        assert refused.value.slug == "invalid-cursor"


async def test_reindex_recomputes_every_proposal_in_batches(
    sessions: Sessions, ctx: ProposalContext
) -> None:
    ids = [await _create(sessions, ctx, title=f"따릉이 대여소 {i}") for i in range(5)]
    assert await service.proposals.reindex(sessions, batch=2) == 5
    async with sessions() as session:
        rows = (await session.scalars(select(Proposal).where(Proposal.id.in_(ids)))).all()
    assert len(rows) == 5
    for row in rows:
        assert "따릉이" in row.lemmas  # _create stored none
        assert row.search_text == f"{row.title} 본문"
