"""Routes of the integrity report (public) and the signal queue (auditors and admins)."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, cast

from fastapi import APIRouter, Depends, Query

from services.auth import Principal, require_roles
from services.problems import problem_responses
from vote_svc.deps import CtxDep, SessionDep
from vote_svc.integrity import report
from vote_svc.integrity.models import IntegritySignal
from vote_svc.integrity.schemas import (
    ProposalIntegrity,
    SignalKind,
    SignalLevel,
    SignalPublic,
    SignalQueue,
    SignalStaff,
)

router = APIRouter(prefix="/v1/votes/integrity", tags=["integrity"])

#: Staff who review signals: auditors and admins.
Reviewer = Annotated[Principal, Depends(require_roles("auditor", "admin"))]


def _public(signal: IntegritySignal, k: int) -> SignalPublic:
    return SignalPublic(
        kind=cast(SignalKind, signal.kind),  # a CHECK constraint holds it
        level=cast(SignalLevel, signal.level),
        window_start=signal.window_start,
        window_end=signal.window_end,
        detected_at=signal.detected_at,
        evidence=report.withhold_small_counts(signal.evidence, k),
    )


@router.get(
    "/proposals/{proposal_id}",
    summary="A proposal's integrity report (public)",
    description=(
        "The signals computed on the proposal's votes (arrival spikes, brand-new accounts, "
        "concentration on one network or one user agent, night bursts, age-band skew), each "
        "with its window and evidence: counts, shares and ratios only, never a hash, and any "
        "count below `min_count` (k = 10 by default) published as null. A signal is a reason "
        "to look, not a verdict: it never removes a vote (docs/integrity.md). An unknown "
        "proposal answers 404 `proposal-not-found`."
    ),
    responses=problem_responses(404, 422),
)
async def proposal_integrity(
    proposal_id: uuid.UUID, session: SessionDep, ctx: CtxDep
) -> ProposalIntegrity:
    found = await report.proposal_report(session, ctx, proposal_id)
    k = ctx.settings.integrity_report_min_count
    return ProposalIntegrity(
        proposal_id=proposal_id,
        votes_with_signals=found.votes_with_signals,
        min_count=k,
        retention_days=ctx.settings.signal_retention_days,
        signals=[_public(signal, k) for signal in found.signals],
    )


@router.get(
    "/signals",
    summary="Every integrity signal, newest first (auditors and admins)",
    description=(
        "The review queue: every signal of every proposal and forum with its full evidence "
        "(counts, shares, ratios; still never a hash). Paged by `cursor` (the previous "
        "page's `next_cursor`); a cursor this endpoint did not make answers 400 "
        "`invalid-cursor`. Callers without the `auditor` or `admin` role get 403."
    ),
    responses=problem_responses(400, 401, 403, 422),
)
async def signal_queue(
    _: Reviewer,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> SignalQueue:
    page, next_cursor = await report.signal_queue(session, cursor, limit)
    return SignalQueue(items=[_staff(signal) for signal in page], next_cursor=next_cursor)


def _staff(signal: IntegritySignal) -> SignalStaff:
    fields: dict[str, Any] = _public(signal, 0).model_dump()
    return SignalStaff(
        **fields, id=signal.id, target_type=signal.target_type, target_id=signal.target_id
    )
