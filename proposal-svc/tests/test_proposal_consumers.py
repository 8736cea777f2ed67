"""proposal-svc consumes vote.tally_changed from JetStream (a read model of vote-svc's tallies)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

import nats
import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc import service
from proposal_svc.bootstrap import ProposalContext
from proposal_svc.consumers import apply_tallies, tally_consumer
from proposal_svc.models import Forum, Obligation, OutboxMessage, Proposal, TimelineEntry
from proposal_svc.schemas import ProposalCreate
from services import nats as nats_mod
from services.auth import Principal
from services.consumer import ConsumerRunner, Delivered
from services.db import transaction
from services.events import VoteTallyChanged, to_envelope


async def test_tally_events_cross_tiers_once(
    sessions: async_sessionmaker[AsyncSession], ctx: ProposalContext, service_env: dict[str, str]
) -> None:
    async with transaction(sessions) as session:
        proposal = await service.proposals.create_proposal(
            session,
            ctx,
            Principal(uuid.uuid4(), frozenset({"citizen"}), None, "t"),
            ProposalCreate(title="제목", body="본문", category="transport"),
            lemmas=[],
            search_text="제목",
        )
    nc = await nats.connect(service_env["nats_url"])
    js = nc.jetstream()
    await nats_mod.ensure_streams(js)
    for count in (1, 50, 100, 100):
        envelope = to_envelope(
            VoteTallyChanged(
                target_type="proposal",
                target_id=proposal.id,
                count=count,
                changed_at=datetime.now(UTC),
            )
        )
        data = json.dumps(envelope.model_dump(mode="json")).encode()
        await js.publish(
            VoteTallyChanged.subject_name(), data, headers={"Nats-Msg-Id": envelope.id}
        )
        if count == 100:  # the same event twice, past the stream's dedupe (a republish)
            await js.publish(
                VoteTallyChanged.subject_name(),
                data,
                headers={"Nats-Msg-Id": envelope.id + "-copy"},
            )
    # One event per transaction (the runner's fallback mode).
    runner = tally_consumer(sessions, js, ctx, one_transaction=False, collect_ms=0)
    for _ in range(3):
        await runner.process_batch(wait=0.3)
    await nc.close()
    async with sessions() as session:
        stored = await session.get(Proposal, proposal.id)
        kinds = (await session.scalars(select(Obligation.kind).order_by(Obligation.kind))).all()
        forums = (await session.scalars(select(Forum))).all()
    assert stored is not None
    assert stored.agreement_count == 100
    assert list(kinds) == ["department_answer", "forum"]
    assert len(forums) == 1


async def _publish_counts(js: Any, proposal_id: uuid.UUID, counts: list[int]) -> None:
    for count in counts:
        envelope = to_envelope(
            VoteTallyChanged(
                target_type="proposal",
                target_id=proposal_id,
                count=count,
                changed_at=datetime.now(UTC),
            )
        )
        await js.publish(
            VoteTallyChanged.subject_name(),
            json.dumps(envelope.model_dump(mode="json")).encode(),
            headers={"Nats-Msg-Id": envelope.id},
        )


async def _proposal(sessions: async_sessionmaker[AsyncSession], ctx: ProposalContext) -> uuid.UUID:
    async with transaction(sessions) as session:
        proposal = await service.proposals.create_proposal(
            session,
            ctx,
            Principal(uuid.uuid4(), frozenset({"citizen"}), None, "t"),
            ProposalCreate(title="제목", body="본문", category="transport"),
            lemmas=[],
            search_text="제목",
        )
        return proposal.id


def _runner(
    sessions: async_sessionmaker[AsyncSession], js: Any, ctx: ProposalContext
) -> ConsumerRunner:
    # As `proposal-svc consume` runs it: a fetch is handled in one transaction.
    return tally_consumer(sessions, js, ctx)


async def test_a_batch_jumping_tiers_crosses_each_exactly_once(
    sessions: async_sessionmaker[AsyncSession], ctx: ProposalContext, service_env: dict[str, str]
) -> None:
    """40 stored, then one batch up to 120 (out of order, with repeats and a late count): the
    50 and the 100 tiers are both crossed, once each, at the first count that reached them."""
    proposal_id = await _proposal(sessions, ctx)
    nc = await nats.connect(service_env["nats_url"])
    js = nc.jetstream()
    await nats_mod.ensure_streams(js)
    runner = _runner(sessions, js, ctx)
    await _publish_counts(js, proposal_id, [40])
    assert await runner.process_batch(wait=2.0) == 1
    batch = [41, 60, 55, 120, 100, 99, 120, 30, 101]
    await _publish_counts(js, proposal_id, batch)
    assert await runner.process_batch(wait=2.0) == len(batch)  # one batch, one transaction
    await nc.close()
    async with sessions() as session:
        stored = await session.get(Proposal, proposal_id)
        obligations = (
            await session.scalars(select(Obligation.kind).order_by(Obligation.kind))
        ).all()
        reached = (
            await session.scalars(
                select(TimelineEntry.data)
                .where(TimelineEntry.kind == "tier_reached")
                .order_by(TimelineEntry.seq)
            )
        ).all()
        forums = (await session.scalars(select(Forum))).all()
        thresholds = (
            await session.scalars(
                select(OutboxMessage.envelope).where(
                    OutboxMessage.subject == "proposal.threshold_reached.v1"
                )
            )
        ).all()
    assert stored is not None
    assert stored.agreement_count == 120
    assert list(obligations) == ["department_answer", "forum"]
    assert sorted((d["tier"], d["agreement_count"]) for d in reached) == [
        ("department_answer", 55),
        ("forum", 100),
    ]
    assert len(forums) == 1
    assert sorted(e["data"]["tier"] for e in thresholds) == ["department_answer", "forum"]


async def test_a_batch_updates_each_proposal_once(
    sessions: async_sessionmaker[AsyncSession], ctx: ProposalContext, service_env: dict[str, str]
) -> None:
    """Fifty events of one hot proposal and ten of another in one batch: one locked read and
    one UPDATE statement for the batch, not one (or two) per event."""
    hot, other = await _proposal(sessions, ctx), await _proposal(sessions, ctx)
    nc = await nats.connect(service_env["nats_url"])
    js = nc.jetstream()
    await nats_mod.ensure_streams(js)
    await _publish_counts(js, hot, list(range(1, 51)))
    await _publish_counts(js, other, list(range(1, 11)))
    statements: list[str] = []
    engine = sessions.kw["bind"].sync_engine

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", record)
    try:
        assert await _runner(sessions, js, ctx).process_batch(wait=2.0) == 60
    finally:
        event.remove(engine, "before_cursor_execute", record)
        await nc.close()
    assert sum(s.startswith("UPDATE proposals") for s in statements) == 1
    assert sum("FROM proposals" in s and s.endswith("FOR UPDATE") for s in statements) == 1
    async with sessions() as session:
        counts = {p.id: p.agreement_count for p in (await session.scalars(select(Proposal))).all()}
    assert counts == {hot: 50, other: 10}
    # The 50 tier of the hot proposal was crossed inside that batch.
    async with sessions() as session:
        kinds = (
            await session.scalars(select(Obligation.kind).where(Obligation.proposal_id == hot))
        ).all()
    assert list(kinds) == ["department_answer"]


async def test_counts_applied_in_a_rolled_back_transaction_are_dropped(
    sessions: async_sessionmaker[AsyncSession], ctx: ProposalContext
) -> None:
    proposal_id = await _proposal(sessions, ctx)

    def tally(count: int) -> Delivered[VoteTallyChanged]:
        event_ = VoteTallyChanged(
            target_type="proposal",
            target_id=proposal_id,
            count=count,
            changed_at=datetime.now(UTC),
        )
        return Delivered(event_, to_envelope(event_))

    async def failing_batch() -> None:
        async with transaction(sessions) as session:
            await apply_tallies(ctx, session, [tally(70)])
            raise RuntimeError("the batch failed")  # after the counts were applied

    with pytest.raises(RuntimeError):
        await failing_batch()
    async with transaction(sessions) as session:
        await apply_tallies(ctx, session, [tally(20)])
    async with sessions() as session:
        stored = await session.get(Proposal, proposal_id)
        kinds = (await session.scalars(select(Obligation.kind))).all()
    assert stored is not None
    assert stored.agreement_count == 20
    assert list(kinds) == []
