"""Fan-outs whose recipients another service knows, against the real services: a forum's
participants from vote-svc and a role's staff from identity-svc, both behind notify-svc's signed
directory client, after the events went through real NATS JetStream and notify-svc's consumer."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from nats.js import JetStreamContext
from notify_helpers import Citizens, Forums, Notify, publish
from sqlalchemy import select, update

from notify_svc.dispatch.policy import DispatchPolicy
from notify_svc.models import RecipientJob
from services.db import transaction
from services.events import ForumClosed, ForumOpened, ProposalObligationOverdue, ProposalSubmitted

TITLE = "따릉이 대여소를 늘려주세요"


async def test_forum_events_reach_the_proposer_and_every_participant(
    notify: Notify, identity: Citizens, votes: Forums, js: JetStreamContext
) -> None:
    author = await identity.citizen()
    participants = [await identity.citizen() for _ in range(4)]
    proposal_id = uuid.uuid4()
    now = datetime.now(UTC)
    await publish(
        js,
        ProposalSubmitted(
            proposal_id=proposal_id,
            author_id=author,
            title=TITLE,
            category="transport",
            submitted_at=now,
        ),
    )
    # The proposer took part too: still one message for them.
    forum_id = await votes.forum([*participants, author])
    await publish(
        js,
        ForumOpened(
            forum_id=forum_id,
            proposal_id=proposal_id,
            title="따릉이 대여소 확대 공론장",
            mode="online",
            options=["찬성", "반대"],
            opens_at=now,
            closes_at=datetime(2026, 12, 9, 9, 0, tzinfo=UTC),
        ),
    )
    closed = await publish(
        js,
        ForumClosed(
            forum_id=forum_id,
            proposal_id=proposal_id,
            title="따릉이 대여소 확대 공론장",
            participant_count=5,
            closed_at=now,
        ),
    )
    await notify.consume(js)
    opened_row = await notify.one(template_code="FORUM_OPENED")
    assert opened_row.citizen_id == author
    assert "2026-12-09 18:00" in opened_row.text  # the deadline in KST
    # Before the fan-out only the proposer's closing message exists.
    assert [r.citizen_id for r in await notify.rows(template_code="FORUM_CLOSED")] == [author]

    # The participants come from vote-svc two at a time (three pages).
    dispatcher = notify.dispatcher(policy=DispatchPolicy(fanout_page=2))
    await dispatcher.run_once()
    closing = await notify.rows(template_code="FORUM_CLOSED")
    assert sorted(r.citizen_id for r in closing) == sorted([author, *participants])
    assert {r.event_id for r in closing} == {uuid.UUID(closed.id)}
    async with notify.sessions() as session:
        # (The proposal's followers are a job of their own: none here.)
        job = await session.scalar(
            select(RecipientJob).where(RecipientJob.kind == "forum_participants")
        )
    assert job is not None
    assert (job.done, job.recipients, job.cursor) == (True, 5, None)

    # A page read again (a crash before the cursor was saved) adds nothing.
    async with transaction(notify.sessions) as session:
        await session.execute(
            update(RecipientJob)
            .where(RecipientJob.kind == "forum_participants")
            .values(done=False, cursor=None)
        )
    await dispatcher.run_once()
    assert len(await notify.rows(template_code="FORUM_CLOSED")) == 5
    assert len(await notify.dev_messages()) == 6  # 1 opened + 5 closed


async def test_an_overdue_obligation_reaches_the_staff_of_the_responsible_role(
    notify: Notify, identity: Citizens, js: JetStreamContext
) -> None:
    traffic = await identity.citizen(roles=["department"], department="교통실")
    welfare = await identity.citizen(roles=["department"], department="복지정책실")
    mayor_office = await identity.citizen(roles=["mayor_office"])
    await identity.citizen()  # a citizen without a role hears nothing
    await publish(
        js,
        ProposalObligationOverdue(
            proposal_id=uuid.uuid4(),
            title=TITLE,
            obligation="department_answer",
            due_at=datetime(2026, 11, 24, 15, 0, tzinfo=UTC),
        ),
    )
    await publish(
        js,
        ProposalObligationOverdue(
            proposal_id=uuid.uuid4(),
            title="한강공원 야간 조명 개선",
            obligation="mayor_answer",
            due_at=datetime(2026, 11, 24, 15, 0, tzinfo=UTC),
        ),
    )
    await notify.consume(js)
    await notify.dispatcher().run_once()
    rows = await notify.rows(template_code="OBLIGATION_OVERDUE")
    recipients = {(r.citizen_id, "한강공원" in r.text) for r in rows}
    assert recipients == {(traffic, False), (welfare, False), (mayor_office, True)}
    assert all("2026-11-25" in r.text for r in rows)
