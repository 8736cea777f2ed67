"""Who is told what: proposal and forum events through real NATS JetStream and notify-svc's
consumer (with its inbox), then the dispatcher, with the real identity-svc and vote-svc behind
the recipient look-ups."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import nats
import pytest
from nats.js import JetStreamContext
from notify_helpers import Identity, Notify, Votes
from sqlalchemy import select, update

from notify_svc.consumers import build_consumers
from notify_svc.dispatcher import DispatchPolicy
from notify_svc.models import InboxMessage, RecipientJob
from services import nats as nats_mod
from services.db import transaction
from services.events import (
    CloudEvent,
    Event,
    ForumClosed,
    ForumOpened,
    ProposalAnswered,
    ProposalObligationOverdue,
    ProposalStatusChanged,
    ProposalSubmitted,
    ProposalThresholdReached,
    to_envelope,
)

TITLE = "따릉이 대여소를 늘려주세요"


@pytest.fixture
async def js(service_env: dict[str, str]) -> Any:
    nc = await nats.connect(service_env["nats_url"])
    stream = nc.jetstream()
    await nats_mod.ensure_streams(stream)
    yield stream
    await nc.close()


async def publish(js: JetStreamContext, event: Event, *, dedupe: bool = True) -> CloudEvent:
    envelope = to_envelope(event)
    await publish_envelope(js, event, envelope, dedupe=dedupe)
    return envelope


async def publish_envelope(
    js: JetStreamContext, event: Event, envelope: CloudEvent, *, dedupe: bool = True
) -> None:
    data = json.dumps(envelope.model_dump(mode="json"), ensure_ascii=False).encode()
    headers = {"Nats-Msg-Id": envelope.id} if dedupe else None
    await js.publish(event.subject_name(), data, headers=headers)


async def consume(notify: Notify, js: JetStreamContext) -> int:
    """Run notify-svc's consumer until the stream has nothing more for it."""
    [runner] = build_consumers(notify.sessions, js, notify.clock)
    await runner.setup()
    handled = 0
    while taken := await runner.process_batch(wait=0.5):
        handled += taken
    return handled


def threshold(author: uuid.UUID, proposal_id: uuid.UUID, **overrides: Any) -> Event:
    fields: dict[str, Any] = {
        "proposal_id": proposal_id,
        "author_id": author,
        "title": TITLE,
        "tier": "department_answer",
        "threshold": 50,
        "agreement_count": 50,
        "obligation": "department_answer",
        # 20:00 UTC is already the next day in Seoul.
        "due_at": datetime(2026, 12, 24, 20, 0, tzinfo=UTC),
        "reached_at": datetime(2026, 11, 25, 3, 0, tzinfo=UTC),
    }
    fields.update(overrides)
    return ProposalThresholdReached(**fields)


async def test_a_threshold_event_delivered_twice_plans_one_message_in_korean(
    notify: Notify, identity: Identity, js: JetStreamContext
) -> None:
    author = await identity.citizen()
    proposal_id = uuid.uuid4()
    event = threshold(author, proposal_id)
    envelope = await publish(js, event)
    # The same event again, past the stream's duplicate window (a republish): a second copy.
    await publish_envelope(js, event, envelope, dedupe=False)

    assert await consume(notify, js) == 2
    row = await notify.one()
    assert (row.citizen_id, row.template_code, row.channel) == (
        author,
        "PROPOSAL_TIER_REACHED",
        "alimtalk",
    )
    assert row.event_id == uuid.UUID(envelope.id)
    assert TITLE in row.text
    assert "2026-12-25" in row.text  # the due date in KST
    assert "50명" in row.text
    assert "담당 부서 답변" in row.text
    assert row.fallback_text is not None
    assert TITLE in row.fallback_text
    assert await notify.count(InboxMessage) == 1

    await notify.dispatcher().run_once()
    [sent] = await notify.dev_messages()
    assert sent.text == row.text
    assert sent.template_code == "PROPOSAL_TIER_REACHED"


async def test_each_tier_tells_the_proposer_once(
    notify: Notify, identity: Identity, js: JetStreamContext
) -> None:
    author = await identity.citizen()
    proposal_id = uuid.uuid4()
    for tier, count, obligation in (
        ("department_answer", 50, "department_answer"),
        ("forum", 100, "forum"),
        ("mayor_answer", 1000, "mayor_answer"),
    ):
        await publish(
            js,
            threshold(
                author,
                proposal_id,
                tier=tier,
                threshold=count,
                agreement_count=count,
                obligation=obligation,
            ),
        )
    await consume(notify, js)
    await notify.dispatcher().run_once()
    texts = [m.text for m in await notify.dev_messages()]
    assert len(texts) == 3
    # Sent concurrently: one text per tier, in any order.
    for people in ("50명", "100명", "1,000명"):
        assert sum(f"동의 수: {people}" in text for text in texts) == 1, people
    assert any("1,000명" in text and "시장 답변" in text for text in texts)


async def test_forum_events_reach_the_proposer_and_every_participant(
    notify: Notify, identity: Identity, votes: Votes, js: JetStreamContext
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
    await consume(notify, js)
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
        job = await session.scalar(select(RecipientJob))
    assert job is not None
    assert (job.done, job.recipients, job.cursor) == (True, 5, None)

    # A page read again (a crash before the cursor was saved) adds nothing.
    async with transaction(notify.sessions) as session:
        await session.execute(update(RecipientJob).values(done=False, cursor=None))
    await dispatcher.run_once()
    assert len(await notify.rows(template_code="FORUM_CLOSED")) == 5
    assert len(await notify.dev_messages()) == 6  # 1 opened + 5 closed


async def test_an_overdue_obligation_reaches_the_staff_of_the_responsible_role(
    notify: Notify, identity: Identity, js: JetStreamContext
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
    await consume(notify, js)
    await notify.dispatcher().run_once()
    rows = await notify.rows(template_code="OBLIGATION_OVERDUE")
    recipients = {(r.citizen_id, "한강공원" in r.text) for r in rows}
    assert recipients == {(traffic, False), (welfare, False), (mayor_office, True)}
    assert all("2026-11-25" in r.text for r in rows)


async def test_status_changes_and_answers_reach_the_proposer_when_they_are_news(
    notify: Notify, identity: Identity, js: JetStreamContext
) -> None:
    author = await identity.citizen()
    proposal_id = uuid.uuid4()
    now = datetime.now(UTC)

    def changed(from_status: str | None, to_status: str) -> ProposalStatusChanged:
        return ProposalStatusChanged.model_validate(
            {
                "proposal_id": proposal_id,
                "author_id": author,
                "title": TITLE,
                "from_status": from_status,
                "to_status": to_status,
                "changed_at": now,
            }
        )

    await publish(js, changed(None, "open"))  # the proposer just submitted it
    await publish(js, changed("open", "closed"))
    await publish(js, changed("closed", "adopted"))
    await publish(
        js,
        ProposalAnswered(
            proposal_id=proposal_id,
            author_id=author,
            title=TITLE,
            obligation="mayor_answer",
            answer_id=uuid.uuid4(),
            answered_by_role="mayor_office",
            answered_at=now + timedelta(seconds=1),
        ),
    )
    await consume(notify, js)
    rows = await notify.rows()
    assert sorted(r.template_code for r in rows) == [
        "PROPOSAL_ANSWERED",
        "PROPOSAL_STATUS_CHANGED",
        "PROPOSAL_STATUS_CHANGED",
    ]
    texts = " ".join(r.text for r in rows)
    assert "동의 기간 종료" in texts
    assert "정책 채택" in texts
    assert "서울특별시장" in texts
