"""The audit: recount every target from the ledger alone and compare, vote by vote, with
vote-svc's rows (through its public records endpoint, never its database); and check the log
against its own signed heads. Differences are stored (the public audit endpoint shows the last
result) and published as ``ledger.audit_mismatch``."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from ledger_svc import keys, ledger
from ledger_svc.backend import BackendUnavailable
from ledger_svc.bootstrap import LedgerContext
from ledger_svc.models import AuditResult, LedgerRecord
from ledger_svc.treehead import public_key_from_jwk
from services import outbox
from services.db import transaction
from services.events import LedgerAuditMismatch

log = logging.getLogger(__name__)

#: A vote cast less than this long ago may still be on its way to the ledger.
IN_FLIGHT = timedelta(seconds=30)


@dataclass(frozen=True)
class ServiceView:
    """vote-svc's rows of a target, as its public records endpoint shows them."""

    tally: int
    rows: dict[uuid.UUID, datetime]


class VoteServiceClient:
    """Reads vote-svc's public per-target records over HTTP."""

    def __init__(self, base_url: str, client: httpx.AsyncClient | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=30.0)

    async def records(self, target: str) -> ServiceView:
        target_type, target_id = target.split(":", 1)
        response = await self._client.get(
            f"{self._base}/v1/votes/records/{target_type}/{target_id}"
        )
        if response.status_code == 404:
            return ServiceView(tally=0, rows={})
        response.raise_for_status()
        body = response.json()
        return ServiceView(
            tally=int(body["tally"]),
            rows={
                uuid.UUID(r["vote_id"]): datetime.fromisoformat(r["cast_at"])
                for r in body["records"]
            },
        )

    async def aclose(self) -> None:
        await self._client.aclose()


async def _store(
    session: AsyncSession,
    target: str,
    *,
    ledger_count: int | None,
    service_count: int | None,
    consistent: bool,
    details: dict[str, Any],
    now: datetime,
) -> bool:
    """Upsert the result; True when it differs from the previous one (worth an event)."""
    previous = await session.get(AuditResult, target, with_for_update=True)
    changed = previous is None or previous.consistent != consistent or previous.details != details
    await session.execute(
        insert(AuditResult)
        .values(
            target=target,
            ledger_count=ledger_count,
            service_count=service_count,
            consistent=consistent,
            details=details,
            checked_at=now,
        )
        .on_conflict_do_update(
            index_elements=[AuditResult.target],
            set_={
                "ledger_count": ledger_count,
                "service_count": service_count,
                "consistent": consistent,
                "details": details,
                "checked_at": now,
            },
        )
    )
    return changed


async def audit_target(
    session: AsyncSession,
    ctx: LedgerContext,
    votes: VoteServiceClient,
    target: str,
) -> AuditResult:
    """Compare one target's ledger records with vote-svc's rows."""
    now = ctx.clock.now()
    view = await votes.records(target)
    recount = await ledger.recount(session, ctx.backend, target)
    ledger_ids = {r.vote_id for r in await ctx.backend.records_for(session, target)}
    missing_in_service = sorted(ledger_ids - view.rows.keys())
    # Votes younger than IN_FLIGHT may still be travelling to the ledger.
    missing_in_ledger = sorted(
        v for v, cast_at in view.rows.items() if v not in ledger_ids and cast_at < now - IN_FLIGHT
    )
    in_flight = sum(
        1 for v, cast_at in view.rows.items() if v not in ledger_ids and cast_at >= now - IN_FLIGHT
    )
    consistent = (
        not missing_in_service
        and not missing_in_ledger
        and recount.duplicate_tags == 0
        and view.tally == len(view.rows)
    )
    details: dict[str, Any] = {
        "missing_in_service": [str(v) for v in missing_in_service],
        "missing_in_ledger": [str(v) for v in missing_in_ledger],
        "duplicate_tags": recount.duplicate_tags,
        "refused_duplicates": recount.refused_duplicates,
        "service_tally": view.tally,
        "in_flight": in_flight,
    }
    if (
        await _store(
            session,
            target,
            ledger_count=recount.count,
            service_count=len(view.rows),
            consistent=consistent,
            details=details,
            now=now,
        )
        and not consistent
    ):
        outbox.add(
            session,
            LedgerAuditMismatch(
                kind="target",
                target=target,
                ledger_count=recount.count,
                service_count=len(view.rows),
                missing_in_service=missing_in_service,
                missing_in_ledger=missing_in_ledger,
                detail=f"vote-svc tally {view.tally}, rows {len(view.rows)}, ledger {recount.count}",
                detected_at=now,
            ),
        )
    result = await session.get(AuditResult, target)
    assert result is not None
    return result


async def audit_integrity(session: AsyncSession, ctx: LedgerContext) -> AuditResult:
    """Check the stored log against the latest signed head (tampering with ledger tables)."""
    now = ctx.clock.now()
    public = {k["kid"]: public_key_from_jwk(k) for k in await keys.published_keys(session)}
    problems = await ledger.self_check(session, public)
    size = await ledger.tree_size(session)
    details: dict[str, Any] = {"problems": problems, "tree_size": size}
    if (
        await _store(
            session,
            "ledger",
            ledger_count=size,
            service_count=None,
            consistent=not problems,
            details=details,
            now=now,
        )
        and problems
    ):
        outbox.add(
            session,
            LedgerAuditMismatch(
                kind="ledger_integrity", detail="; ".join(problems)[:2000], detected_at=now
            ),
        )
    result = await session.get(AuditResult, "ledger")
    assert result is not None
    return result


async def active_targets(session: AsyncSession, ctx: LedgerContext) -> list[str]:
    """Targets with a record appended in the last ``LEDGER_AUDIT_ACTIVE_DAYS`` days."""
    since = ctx.clock.now() - timedelta(days=ctx.settings.audit_active_days)
    rows = await session.scalars(
        select(LedgerRecord.target)
        .group_by(LedgerRecord.target)
        .having(func.max(LedgerRecord.appended_at) >= since)
    )
    return sorted(rows.all())


async def audit_round(
    ctx: LedgerContext, sessions: async_sessionmaker[AsyncSession], votes: VoteServiceClient
) -> int:
    """One round of the auditor: the ledger's integrity, then every active target, each in its
    own transaction (a result is kept even if a later target fails); returns the mismatches."""
    mismatches = 0
    async with transaction(sessions) as session:
        mismatches += not (await audit_integrity(session, ctx)).consistent
        targets = await active_targets(session, ctx)
    for target in targets:
        async with transaction(sessions) as session:
            mismatches += not (await audit_target(session, ctx, votes, target)).consistent
    return mismatches


async def logged_audit_round(
    ctx: LedgerContext, sessions: async_sessionmaker[AsyncSession], votes: VoteServiceClient
) -> None:
    """:func:`audit_round` as the worker runs it: inconsistencies are logged, and an unreachable
    backend is a warning (the next round tries again), not a failure."""
    try:
        found = await audit_round(ctx, sessions, votes)
    except BackendUnavailable as exc:
        log.warning("audit: the ledger's backend is unreachable; next round: %s", exc)
        return
    if found:
        log.warning("audit: %d inconsistencies", found)
