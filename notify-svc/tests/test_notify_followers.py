"""A proposal's followers are told when it reaches a tier, is answered, adopted or linked to the
budget, and when its forum opens and closes: proposal events through real NATS JetStream and
notify-svc's consumer, the followers read page by page from the stand-in of proposal-svc's
``GET /internal/v1/proposals/{id}/followers`` (signed as notify-svc), then the dispatcher with
the dev provider."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from nats.js import JetStreamContext
from notify_helpers import Notify, publish, publish_envelope
from sqlalchemy import update
from standin_directory import StandInDirectory
from test_notify_consumers import TITLE, threshold
from test_notify_dispatch import set_preferences

from notify_svc.dispatch.policy import DispatchPolicy
from notify_svc.models import Notification, RecipientJob
from notify_svc.quiet import KST
from services.db import transaction
from services.events import ForumClosed, ForumOpened, ProposalAnswered, ProposalStatusChanged


async def test_followers_are_told_a_tier_was_reached_once_each_with_their_own_text(
    notify: Notify, people: StandInDirectory, js: JetStreamContext
) -> None:
    author = await people.citizen()
    followers = [await people.citizen() for _ in range(5)]
    proposal_id = uuid.uuid4()
    # The proposer follows their own proposal too: they get the proposer's text only.
    people.follow(proposal_id, [*followers, author])
    event = threshold(author, proposal_id)
    envelope = await publish(js, event)
    await publish_envelope(js, event, envelope, dedupe=False)  # redelivered

    assert await notify.consume(js) == 2
    # Small pages: the fan-out reads every page, saving its cursor with each.
    dispatcher = notify.dispatcher(policy=DispatchPolicy(followers_page=2))
    while await dispatcher.expand_recipients():
        pass
    assert people.follower_pages == 3

    rows = await notify.rows()
    assert len(rows) == 6
    mine = await notify.one(citizen_id=author)
    assert mine.template_code == "PROPOSAL_TIER_REACHED"
    told = {r.citizen_id: r for r in rows if r.citizen_id != author}
    assert set(told) == set(followers)
    for row in told.values():
        assert row.template_code == "FOLLOWED_TIER_REACHED"
        assert row.event_id == uuid.UUID(envelope.id)
        assert row.proposal_id == proposal_id
        assert "관심 제안" in row.text
        assert TITLE in row.text
        assert "50명" in row.text
        assert row.fallback_text is not None  # AlimTalk with an SMS fallback, as for anyone

    # The job replayed from its start (a crash before its cursor was saved) adds nothing.
    async with transaction(notify.sessions) as session:
        await session.execute(update(RecipientJob).values(done=False, cursor=None))
    while await dispatcher.expand_recipients():
        pass
    assert len(await notify.rows()) == 6

    assert await dispatcher.run_once() == 6
    assert len(await notify.dev_messages()) == 6


async def test_followers_opted_out_sms_only_or_asleep_are_treated_as_today(
    notify: Notify, people: StandInDirectory, js: JetStreamContext
) -> None:
    author = await people.citizen()
    opted_out, sms_only, sleeper, night_owl = [await people.citizen() for _ in range(4)]
    await set_preferences(notify, opted_out, opt_out=True)
    await set_preferences(notify, sms_only, channels=("sms",))
    await set_preferences(notify, night_owl, night_consent=True)
    proposal_id = uuid.uuid4()
    people.follow(proposal_id, [opted_out, sms_only, sleeper, night_owl])
    notify.clock.set(datetime(2026, 11, 25, 22, 30, tzinfo=KST))
    await publish(js, threshold(author, proposal_id))
    await notify.consume(js)

    await notify.dispatcher().run_once()
    assert (await notify.one(citizen_id=opted_out)).skip_reason == "opted_out"
    sms = await notify.one(citizen_id=sms_only)
    assert sms.channel in ("sms", "lms")
    assert sms.template_code == "FOLLOWED_TIER_REACHED"
    assert (await notify.one(citizen_id=sleeper)).status == "deferred"
    assert (await notify.one(citizen_id=night_owl)).status == "sent"


async def test_followers_hear_of_answers_adoption_and_budget_but_not_other_statuses(
    notify: Notify, people: StandInDirectory, js: JetStreamContext
) -> None:
    author, follower = await people.citizen(), await people.citizen()
    proposal_id = uuid.uuid4()
    people.follow(proposal_id, [follower])
    now = datetime.now(UTC)

    def changed(from_status: str, to_status: str) -> ProposalStatusChanged:
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

    await publish(js, changed("open", "closed"))  # the proposer is told, the followers not
    await publish(js, changed("closed", "adopted"))
    await publish(js, changed("adopted", "budget_linked"))
    await publish(
        js,
        ProposalAnswered(
            proposal_id=proposal_id,
            author_id=author,
            title=TITLE,
            obligation="department_answer",
            answer_id=uuid.uuid4(),
            answered_by_role="department",
            answered_at=now,
        ),
    )
    await notify.consume(js)
    await notify.dispatcher().expand_recipients()

    theirs = await notify.rows(citizen_id=follower)
    assert sorted(r.template_code for r in theirs) == [
        "FOLLOWED_ANSWERED",
        "FOLLOWED_STATUS_CHANGED",
        "FOLLOWED_STATUS_CHANGED",
    ]
    texts = " ".join(r.text for r in theirs)
    assert "정책 채택" in texts
    assert "예산 연계 사업 선정" in texts
    assert "담당 부서" in texts
    assert "동의 기간 종료" not in texts
    assert len(await notify.rows(citizen_id=author)) == 4


async def test_followers_hear_when_the_forum_opens_and_closes_with_the_forum_id(
    notify: Notify, people: StandInDirectory, js: JetStreamContext
) -> None:
    author, follower, voter = [await people.citizen() for _ in range(3)]
    proposal_id = uuid.uuid4()
    people.follow(proposal_id, [follower])
    forum_id = await people.forum([voter, follower])
    opens = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)
    await publish(
        js,
        threshold(author, proposal_id),  # notify-svc learns who proposed it
    )
    await publish(
        js,
        ForumOpened(
            forum_id=forum_id,
            proposal_id=proposal_id,
            title="따릉이 대여소, 어디에 더 필요할까요?",
            mode="online",
            options=["찬성", "반대"],
            opens_at=opens,
            closes_at=opens + timedelta(days=14),
        ),
    )
    await publish(
        js,
        ForumClosed(
            forum_id=forum_id,
            proposal_id=proposal_id,
            title="따릉이 대여소, 어디에 더 필요할까요?",
            participant_count=2,
            closed_at=opens + timedelta(days=14),
        ),
    )
    await notify.consume(js)
    while await notify.dispatcher().expand_recipients():
        pass

    theirs = await notify.rows(citizen_id=follower)
    by_code = {r.template_code: r for r in theirs}
    # The follower also voted: the closing reaches them once (as a participant or a follower).
    assert set(by_code) >= {"FOLLOWED_TIER_REACHED", "FOLLOWED_FORUM_OPENED"}
    assert len(theirs) == 3
    opened = by_code["FOLLOWED_FORUM_OPENED"]
    assert (opened.proposal_id, opened.forum_id) == (proposal_id, forum_id)
    assert "2026-12-09 12:00" in opened.text  # the deadline in KST
    closed = [r for r in theirs if r.event_type.endswith("forum.closed.v1")]
    assert len(closed) == 1
    assert closed[0].forum_id == forum_id
    assert {r.template_code for r in await notify.rows(citizen_id=author)} == {
        "PROPOSAL_TIER_REACHED",
        "FORUM_OPENED",
        "FORUM_CLOSED",
    }


async def test_a_proposal_unknown_to_proposal_svc_has_no_followers(
    notify: Notify, people: StandInDirectory, js: JetStreamContext
) -> None:
    author = await people.citizen()
    await publish(js, threshold(author, uuid.uuid4()))  # proposal-svc answers 404
    await notify.consume(js)
    await notify.dispatcher().expand_recipients()
    assert [r.citizen_id for r in await notify.rows()] == [author]
    assert await notify.count(RecipientJob, RecipientJob.done.is_(True)) == 1
    assert await notify.count(Notification, Notification.proposal_id.is_not(None)) == 1
