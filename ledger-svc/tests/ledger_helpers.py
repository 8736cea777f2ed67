"""Helpers for ledger-svc tests: vote.cast events carrying real canonical records, published as
vote-svc's relay publishes them."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime

from nats.js import JetStreamContext

from services.canonical import VoteRecord, target_key, voter_tag
from services.events import VoteCast, to_envelope

KEY = b"\x07" * 32


def vote_cast(
    target_id: uuid.UUID | None = None,
    citizen_id: uuid.UUID | None = None,
    *,
    target_type: str = "proposal",
    choice: str = "agree",
    vote_id: uuid.UUID | None = None,
) -> VoteCast:
    """An event as vote-svc publishes it."""
    target_id = target_id or uuid.uuid4()
    target = target_key(target_type, target_id)  # type: ignore[arg-type]
    now = datetime.now(UTC)
    record = VoteRecord.build(
        target=target,
        voter_tag=voter_tag(KEY, citizen_id or uuid.uuid4(), target),
        vote_id=vote_id or uuid.uuid4(),
        cast_at=now,
        choice=choice,
    )
    return VoteCast(
        target_type=target_type,
        target_id=target_id,
        vote_id=record.vote_id,
        choice=choice,
        cast_at=now,
        voter_tag=record.voter_tag,
        record=base64.b64encode(record.encode()).decode(),
        record_hash=record.hash(),
    )


async def publish_votes(js: JetStreamContext, events: Iterable[VoteCast]) -> list[str]:
    """Publish ``events`` on the VOTE stream, deduplicated by their ids; the envelopes' ids."""
    ids = []
    for event in events:
        envelope = to_envelope(event)
        await js.publish(
            event.subject_name(),
            json.dumps(envelope.model_dump(mode="json")).encode(),
            headers={"Nats-Msg-Id": envelope.id},
        )
        ids.append(envelope.id)
    return ids
