"""Read-your-writes for new targets: a vote on a proposal or forum that vote-svc has not heard of
yet (its event has not arrived) is not refused with 404; vote-svc asks proposal-svc (here its
stand-in, ``standin_proposals``), fills its read model and casts. The event arriving later
changes nothing, an older one never undoes a newer state, and a genuinely unknown id is still a
404 (against real PostgreSQL)."""

from __future__ import annotations

import asyncio
import unicodedata
import uuid
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import select
from standin_proposals import StandInProposals
from test_vote_api import PROBLEM, agree, ballot, problem
from vote_helpers import (
    NOTHING,
    Sessions,
    Written,
    apply,
    forum_opened,
    now,
    open_proposal,
    proposal_closed,
    proposal_opened,
    written,
)

from services.canonical import TargetType
from services.clock import SystemClock
from services_dev.testing.tokens import TestTokens
from vote_svc.models import Target
from vote_svc.targets import TargetLearner, TargetSnapshot, TargetSourceUnavailable


async def _target(sessions: Sessions, target_type: str, target_id: uuid.UUID) -> Target | None:
    async with sessions() as session:
        return await session.scalar(
            select(Target).where(Target.target_type == target_type, Target.target_id == target_id)
        )


async def test_an_agreement_on_a_proposal_not_heard_of_yet_is_accepted(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, proposals: StandInProposals
) -> None:
    opened_at = now() - timedelta(seconds=1)
    proposal_id = proposals.proposal(opened_at)
    assert await _target(sessions, "proposal", proposal_id) is None

    first = await agree(client, tokens, uuid.uuid4(), proposal_id)
    assert first.status_code == 201, first.text
    assert first.json()["proposal_id"] == str(proposal_id)
    target = await _target(sessions, "proposal", proposal_id)
    assert target is not None
    assert target.status == "open"
    assert target.opens_at == opened_at
    assert target.opened_event_at == opened_at
    assert target.closes_at == opened_at + timedelta(days=30)
    assert proposals.calls == {proposal_id: 1}

    # Now a hit: the read model answers, proposal-svc is not asked again.
    assert (await agree(client, tokens, uuid.uuid4(), proposal_id)).status_code == 201
    assert proposals.calls == {proposal_id: 1}
    assert await written(sessions) == Written(votes=2, tallied=2, outbox=4)


async def test_known_targets_never_ask_proposal_svc(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, proposals: StandInProposals
) -> None:
    proposal_id = await open_proposal(sessions)
    citizen = uuid.uuid4()
    assert (await agree(client, tokens, citizen, proposal_id)).status_code == 201
    problem(await agree(client, tokens, citizen, proposal_id), 409, "already-voted")
    await apply(sessions, proposal_closed(proposal_id))
    problem(await agree(client, tokens, uuid.uuid4(), proposal_id), 409, "proposal-closed")
    assert proposals.calls == {}


async def test_a_genuinely_unknown_id_is_still_404(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, proposals: StandInProposals
) -> None:
    unknown = uuid.uuid4()
    problem(await agree(client, tokens, uuid.uuid4(), unknown), 404, "proposal-not-found")
    problem(await ballot(client, tokens, uuid.uuid4(), unknown, "찬성"), 404, "forum-not-found")
    assert proposals.calls == {unknown: 2}
    assert await _target(sessions, "proposal", unknown) is None
    assert await written(sessions) == NOTHING


async def test_a_ballot_in_a_forum_not_heard_of_yet_takes_its_options(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, proposals: StandInProposals
) -> None:
    # A decomposed (NFD) option is kept in NFC, as the forum.opened handler keeps it.
    options = [unicodedata.normalize("NFD", "찬성"), "반대", "유보", "반대"]
    forum_id = proposals.forum(now() - timedelta(minutes=1), options)
    problem(await ballot(client, tokens, uuid.uuid4(), forum_id, "기권"), 422, "invalid-choice")
    accepted = await ballot(client, tokens, uuid.uuid4(), forum_id, "반대")
    assert accepted.status_code == 201, accepted.text
    target = await _target(sessions, "forum", forum_id)
    assert target is not None
    assert target.options == ["찬성", "반대", "유보"]
    assert proposals.calls == {forum_id: 1}


async def test_a_scheduled_forum_is_not_filled(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, proposals: StandInProposals
) -> None:
    forum_id = proposals.forum(now() + timedelta(days=1), ["찬성", "반대"], opened=False)
    problem(await ballot(client, tokens, uuid.uuid4(), forum_id, "찬성"), 404, "forum-not-found")
    assert await _target(sessions, "forum", forum_id) is None


async def test_a_proposal_closed_before_vote_svc_heard_of_it_is_409(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, proposals: StandInProposals
) -> None:
    opened_at = now() - timedelta(minutes=5)
    proposal_id = proposals.proposal(
        opened_at, closed_at=opened_at + timedelta(minutes=1), status="withdrawn"
    )
    refused = problem(
        await agree(client, tokens, uuid.uuid4(), proposal_id), 409, "proposal-closed"
    )
    assert refused["target_status"] == "withdrawn"
    assert await written(sessions) == NOTHING

    # The late proposal.opened (stated before the close) does not reopen it.
    await apply(sessions, proposal_opened(proposal_id, opened_at=opened_at), at=opened_at)
    problem(await agree(client, tokens, uuid.uuid4(), proposal_id), 409, "proposal-closed")


async def test_the_late_events_change_nothing_and_newer_ones_still_apply(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, proposals: StandInProposals
) -> None:
    opened_at = now() - timedelta(seconds=2)
    proposal_id = proposals.proposal(opened_at)
    assert (await agree(client, tokens, uuid.uuid4(), proposal_id)).status_code == 201
    filled = await _target(sessions, "proposal", proposal_id)
    assert filled is not None

    # proposal.opened arrives, stated (as its publisher staged it) just after opened_at.
    event = proposal_opened(proposal_id, opened_at=opened_at)
    await apply(sessions, event, at=opened_at + timedelta(milliseconds=3))
    await apply(sessions, event, at=opened_at - timedelta(seconds=1))  # an older copy
    after = await _target(sessions, "proposal", proposal_id)
    assert after is not None
    assert (after.status, after.opens_at, after.closes_at, after.options) == (
        filled.status,
        filled.opens_at,
        filled.closes_at,
        filled.options,
    )
    assert (await agree(client, tokens, uuid.uuid4(), proposal_id)).status_code == 201

    # A newer close applies as always.
    await apply(sessions, proposal_closed(proposal_id, "hidden"))
    problem(await agree(client, tokens, uuid.uuid4(), proposal_id), 409, "proposal-closed")
    assert proposals.calls == {proposal_id: 1}


async def test_a_burst_of_agreements_on_a_new_proposal_asks_once(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, proposals: StandInProposals
) -> None:
    proposal_id = proposals.proposal(now() - timedelta(milliseconds=5))
    proposals.delay = 0.2  # the misses overlap while the one request is answered
    answers = await asyncio.gather(
        *(agree(client, tokens, uuid.uuid4(), proposal_id) for _ in range(50))
    )
    assert [a.status_code for a in answers] == [201] * 50
    assert proposals.calls == {proposal_id: 1}
    assert await written(sessions) == Written(votes=50, tallied=50, outbox=100)


async def test_proposal_svc_unavailable_is_a_503_and_nothing_is_written(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, proposals: StandInProposals
) -> None:
    proposal_id = proposals.proposal(now())
    proposals.fail = True
    refused = await agree(client, tokens, uuid.uuid4(), proposal_id)
    problem(refused, 503, "proposal-lookup-failed")
    assert refused.headers["retry-after"] == "1"
    assert await written(sessions) == NOTHING
    assert await _target(sessions, "proposal", proposal_id) is None

    proposals.fail = False
    assert (await agree(client, tokens, uuid.uuid4(), proposal_id)).status_code == 201


async def test_the_event_first_then_no_lookup(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, proposals: StandInProposals
) -> None:
    forum_id = uuid.uuid4()
    await apply(sessions, forum_opened(forum_id))
    response = await ballot(client, tokens, uuid.uuid4(), forum_id, "찬성")
    assert response.status_code == 201
    assert response.headers["content-type"] != PROBLEM
    assert proposals.calls == {}


class _BlockingSource:
    """A source whose answer never comes (the leader of a lookup is cancelled meanwhile)."""

    def __init__(self) -> None:
        self.asked = asyncio.Event()

    async def target(self, target_type: TargetType, target_id: uuid.UUID) -> TargetSnapshot | None:
        self.asked.set()
        await asyncio.Event().wait()
        return None

    async def aclose(self) -> None:
        return None


async def test_waiters_of_a_cancelled_lookup_get_unavailable_not_cancelled(
    sessions: Sessions,
) -> None:
    source = _BlockingSource()
    learner = TargetLearner(source, SystemClock())
    target_id = uuid.uuid4()
    leader = asyncio.create_task(learner.learn(sessions, "proposal", target_id))
    await source.asked.wait()
    waiter = asyncio.create_task(learner.learn(sessions, "proposal", target_id))
    await asyncio.sleep(0)
    leader.cancel()
    with pytest.raises(TargetSourceUnavailable):
        await waiter
    assert leader.cancelled()


async def test_a_miss_arriving_after_the_lookup_finished_does_not_ask_again(
    sessions: Sessions, proposals: StandInProposals
) -> None:
    # A request whose statement missed before the fill committed, but which reaches the learner
    # only after the shared lookup is over (a loaded machine), is told to cast again.
    proposal_id = proposals.proposal(now() - timedelta(seconds=1))
    learner = TargetLearner(proposals.source, SystemClock())
    assert await learner.learn(sessions, "proposal", proposal_id)
    assert await learner.learn(sessions, "proposal", proposal_id)
    assert proposals.calls == {proposal_id: 1}
    # Unknown ids are not remembered: each miss asks (a target may be created meanwhile).
    unknown = uuid.uuid4()
    assert not await learner.learn(sessions, "proposal", unknown)
    assert not await learner.learn(sessions, "proposal", unknown)
    assert proposals.calls == {proposal_id: 1, unknown: 2}
