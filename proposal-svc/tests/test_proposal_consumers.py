"""proposal-svc consumes vote.tally_changed from JetStream (a read model of vote-svc's tallies)."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import nats
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc import service
from proposal_svc.consumers import tally_handler
from proposal_svc.models import Forum, Obligation, Proposal
from proposal_svc.schemas import ProposalCreate
from proposal_svc.service import ProposalContext
from services import nats as nats_mod
from services.auth import Principal
from services.consumer import ConsumerRunner
from services.db import transaction
from services.events import VoteTallyChanged, to_envelope


async def test_tally_events_cross_tiers_once(
    sessions: async_sessionmaker[AsyncSession], ctx: ProposalContext, service_env: dict[str, str]
) -> None:
    async with transaction(sessions) as session:
        proposal = await service.create_proposal(
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
    runner = ConsumerRunner(
        name="proposal-svc-tallies",
        stream="VOTE",
        handlers={VoteTallyChanged: tally_handler(ctx)},
        sessions=sessions,
        js=js,
    )
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
