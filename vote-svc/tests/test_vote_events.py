"""The outbox rows a cast writes are relayed as ``vote.cast`` and ``vote.tally_changed`` on the
VOTE stream: CloudEvents exactly as ``services.outbox.add`` would stage them, the canonical record
in ``vote.cast``, never a citizen id there (a proposal's tally names the agreeing citizen)."""

from __future__ import annotations

import base64
import hashlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

import httpx
import nats
import pytest
from nats.js import JetStreamContext
from vote_helpers import Sessions, open_forum, open_proposal

from services import nats as nats_mod
from services.canonical import VoteRecord, target_key
from services.events import CloudEvent, VoteCast, VoteTallyChanged, parse_event, to_envelope
from services.outbox import OutboxRelay
from services_dev.testing.tokens import TestTokens
from vote_svc.config import VoteSettings


@pytest.fixture
async def js(vote_settings: VoteSettings) -> AsyncIterator[JetStreamContext]:
    nc = await nats.connect(vote_settings.nats_url)
    js = nc.jetstream()
    await nats_mod.ensure_streams(js)
    yield js
    await nc.close()


async def _relay_all(sessions: Sessions, js: JetStreamContext) -> int:
    relay = OutboxRelay(sessions, js, batch_size=50)
    total = 0
    while published := await relay.relay_once():
        total += published
    return total


async def _read(js: JetStreamContext, subject: str) -> list[tuple[dict[str, Any], Any]]:
    sub = await js.pull_subscribe(subject, stream="VOTE")
    try:
        messages = await sub.fetch(100, timeout=1)
    except nats.errors.TimeoutError:
        return []
    return [(json.loads(m.data), m) for m in messages]


async def test_casts_are_published_on_the_vote_stream(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    sessions: Sessions,
    js: JetStreamContext,
) -> None:
    proposal_id = await open_proposal(sessions)
    forum_id = await open_forum(sessions)
    citizens = [uuid.uuid4() for _ in range(3)]
    receipts = {}
    for citizen in citizens:
        response = await client.post(
            "/v1/votes/agreements",
            json={"proposal_id": str(proposal_id)},
            headers=tokens.headers(citizen),
        )
        receipts[response.json()["vote_id"]] = response.json()["receipt"]
    response = await client.post(
        f"/v1/votes/forums/{forum_id}/ballots",
        json={"choice": "반대"},
        headers=tokens.headers(citizens[0]),
    )
    receipts[response.json()["vote_id"]] = response.json()["receipt"]

    assert await _relay_all(sessions, js) == 8
    assert await _relay_all(sessions, js) == 0  # everything marked sent

    casts = await _read(js, VoteCast.subject_name())
    assert len(casts) == 4
    for envelope, msg in casts:
        assert msg.headers["Nats-Msg-Id"] == envelope["id"]
        # The same JSON as an envelope built by services.outbox.add.
        assert CloudEvent.model_validate(envelope).model_dump(mode="json") == envelope
        event = parse_event(CloudEvent.model_validate(envelope))
        assert isinstance(event, VoteCast)
        assert envelope["source"] == "/vote-svc"
        assert envelope["type"] == "kr.seoul.democracy.vote.cast.v1"
        assert envelope["subject"] == f"{event.target_type}s/{event.target_id}"
        raw = base64.b64decode(event.record)
        record = VoteRecord.decode(raw)
        assert hashlib.sha256(raw).hexdigest() == event.record_hash
        assert receipts[str(event.vote_id)] == {
            "record_hash": event.record_hash,
            "voter_tag": event.voter_tag,
        }
        assert record.target == target_key(event.target_type, event.target_id)
        assert record.voter_tag == event.voter_tag
        assert record.choice == event.choice
        # No citizen id anywhere in what the ledger and integrators receive.
        assert not any(str(c) in msg.data.decode() for c in citizens)

    changes = await _read(js, VoteTallyChanged.subject_name())
    events = [parse_event(CloudEvent.model_validate(envelope)) for envelope, _ in changes]
    assert all(isinstance(e, VoteTallyChanged) for e in events)
    proposal_counts = [
        (e.count, e.by_choice)
        for e in events
        if isinstance(e, VoteTallyChanged) and e.target_id == proposal_id
    ]
    assert proposal_counts == [(1, {"agree": 1}), (2, {"agree": 2}), (3, {"agree": 3})]
    # An agreement's tally names the agreeing citizen (proposal-svc makes them a follower)...
    agreers = [
        e.citizen_id
        for e in events
        if isinstance(e, VoteTallyChanged) and e.target_id == proposal_id
    ]
    assert agreers == citizens
    forum_counts = [
        (e.count, e.by_choice, e.citizen_id)
        for e in events
        if isinstance(e, VoteTallyChanged) and e.target_id == forum_id
    ]
    # ... a forum's never: next to by_choice it would tell the ballot.
    assert forum_counts == [(1, {"반대": 1}, None)]


async def test_refused_casts_publish_nothing(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    sessions: Sessions,
    js: JetStreamContext,
) -> None:
    proposal_id = await open_proposal(sessions)
    citizen = uuid.uuid4()
    for _ in range(3):
        await client.post(
            "/v1/votes/agreements",
            json={"proposal_id": str(proposal_id)},
            headers=tokens.headers(citizen),
        )
    assert await _relay_all(sessions, js) == 2
    assert len(await _read(js, "vote.>")) == 2


async def test_tally_changes_are_enveloped_as_outbox_add_would(
    client: httpx.AsyncClient,
    tokens: TestTokens,
    sessions: Sessions,
    js: JetStreamContext,
) -> None:
    """The statement adds the counts to an envelope built in Python; what is published is the
    envelope ``to_envelope`` makes of the event with those counts, member for member."""
    forum_id = await open_forum(sessions)
    cast = []
    for choice in ("찬성", "반대", "찬성"):
        response = await client.post(
            f"/v1/votes/forums/{forum_id}/ballots",
            json={"choice": choice},
            headers=tokens.headers(),
        )
        cast.append(response.json())
    assert await _relay_all(sessions, js) == 6

    changes = await _read(js, VoteTallyChanged.subject_name())
    assert len(changes) == 3
    for (envelope, msg), vote, count, by_choice in zip(
        changes,
        cast,
        [1, 2, 3],
        [{"찬성": 1}, {"찬성": 1, "반대": 1}, {"찬성": 2, "반대": 1}],
        strict=True,
    ):
        assert msg.headers["Nats-Msg-Id"] == envelope["id"]
        expected = to_envelope(
            VoteTallyChanged(
                target_type="forum",
                target_id=forum_id,
                count=count,
                by_choice=by_choice,
                changed_at=datetime.fromisoformat(vote["cast_at"]),
            ),
            event_id=uuid.UUID(envelope["id"]),
            time=datetime.fromisoformat(vote["cast_at"]),
        )
        assert envelope == expected.model_dump(mode="json")
