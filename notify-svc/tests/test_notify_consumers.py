"""Who is told what: proposal events through real NATS JetStream and notify-svc's consumer (with
its inbox), then the dispatcher, with the directory's stand-in behind the phone look-ups. The
fan-outs whose recipients come from vote-svc (a forum's participants) and identity-svc (a role's
staff) are tested against those services in tests/integration/notify/test_notify_fanout.py."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from nats.js import JetStreamContext
from notify_helpers import Notify, publish, publish_envelope
from standin_directory import StandInDirectory

from notify_svc.models import InboxMessage
from services.events import (
    Event,
    ProposalAnswered,
    ProposalStatusChanged,
    ProposalThresholdReached,
)

TITLE = "따릉이 대여소를 늘려주세요"


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
    notify: Notify, people: StandInDirectory, js: JetStreamContext
) -> None:
    author = await people.citizen()
    proposal_id = uuid.uuid4()
    event = threshold(author, proposal_id)
    envelope = await publish(js, event)
    # The same event again, past the stream's duplicate window (a republish): a second copy.
    await publish_envelope(js, event, envelope, dedupe=False)

    assert await notify.consume(js) == 2
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
    notify: Notify, people: StandInDirectory, js: JetStreamContext
) -> None:
    author = await people.citizen()
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
    await notify.consume(js)
    await notify.dispatcher().run_once()
    texts = [m.text for m in await notify.dev_messages()]
    assert len(texts) == 3
    # Sent concurrently: one text per tier, in any order.
    for shown in ("50명", "100명", "1,000명"):
        assert sum(f"동의 수: {shown}" in text for text in texts) == 1, shown
    assert any("1,000명" in text and "시장 답변" in text for text in texts)


async def test_status_changes_and_answers_reach_the_proposer_when_they_are_news(
    notify: Notify, people: StandInDirectory, js: JetStreamContext
) -> None:
    author = await people.citizen()
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
    await notify.consume(js)
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
