"""Reading integrity signals: the public report of one proposal (counts below k withheld) and
the staff's queue (docs/integrity.md)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import ColumnElement
from sqlalchemy.ext.asyncio import AsyncSession

from services.paging import after_keyset, decode_keyset, encode_keyset
from vote_svc.bootstrap import VoteContext
from vote_svc.integrity.models import IntegritySignal, VoteSignal
from vote_svc.service.tallies import known_tally


@dataclass(frozen=True)
class ProposalReport:
    """What the public report says of one proposal."""

    signals: list[IntegritySignal]
    #: Votes of the proposal whose signals are still kept (None when fewer than k).
    votes_with_signals: int | None


def withhold_small_counts(evidence: dict[str, Any], k: int) -> dict[str, Any]:
    """``evidence`` with every count (a member named ``votes`` or ``*_votes``) below ``k``
    replaced by None, and the share computed from it (``*_share``, ``share``) with it."""
    public: dict[str, Any] = {}
    small: set[str] = set()
    for key, value in evidence.items():
        if isinstance(value, dict):
            public[key] = {
                name: withhold_small_counts(inner, k) if isinstance(inner, dict) else inner
                for name, inner in value.items()
            }
        elif (key == "votes" or key.endswith("_votes")) and isinstance(value, int) and value < k:
            public[key] = None
            small.add(key.removesuffix("votes").rstrip("_"))
        else:
            public[key] = value
    for stem in small:
        share = f"{stem}_share" if stem else "share"
        if share in public:
            public[share] = None
    return public


async def proposal_report(
    session: AsyncSession, ctx: VoteContext, proposal_id: uuid.UUID
) -> ProposalReport:
    """The signals of a proposal vote-svc knows (404 otherwise), oldest window first."""
    await known_tally(session, "proposal", proposal_id)
    signals = list(
        await session.scalars(
            sa.select(IntegritySignal)
            .where(
                IntegritySignal.target_type == "proposal",
                IntegritySignal.target_id == proposal_id,
            )
            .order_by(IntegritySignal.window_start, IntegritySignal.kind)
        )
    )
    kept = await session.scalar(
        sa.select(sa.func.count()).where(
            VoteSignal.target_type == "proposal", VoteSignal.target_id == proposal_id
        )
    )
    k = ctx.settings.integrity_report_min_count
    return ProposalReport(signals, int(kept or 0) if (kept or 0) >= k else None)


async def signal_queue(
    session: AsyncSession, cursor: str | None, limit: int
) -> tuple[list[IntegritySignal], str | None]:
    """Every signal, newest first, a page at a time (400 ``invalid-cursor``)."""
    after = decode_keyset(cursor, (datetime, uuid.UUID))
    query = sa.select(IntegritySignal).order_by(
        IntegritySignal.detected_at.desc(), IntegritySignal.id.desc()
    )
    if after is not None:
        columns = [IntegritySignal.detected_at, IntegritySignal.id]
        query = query.where(after_keyset(cast(list[ColumnElement[Any]], columns), after))
    rows = list(await session.scalars(query.limit(limit + 1)))
    page = rows[:limit]
    more = len(rows) > limit
    next_cursor = encode_keyset([page[-1].detected_at, page[-1].id]) if more and page else None
    return page, next_cursor
