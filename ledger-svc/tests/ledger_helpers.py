"""Helpers for ledger-svc tests: vote.cast events carrying real canonical records."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime

from services.canonical import VoteRecord, target_key, voter_tag
from services.events import VoteCast

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
