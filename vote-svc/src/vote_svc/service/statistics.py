"""Statistics of a proposal's agreements: who agreed by age band and residency category (only
cells of at least k = 10 people, ``services.kanon``), and how fast (agreements per hour).

Both read the proposal's votes through the votes' unique (target_type, target_id, citizen_id)
index; nothing is added to the agreement's statement but two parameters (docs/statistics.md).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from services.auth import RESIDENCIES
from services.kanon import K_DEFAULT, Suppressed, suppress
from vote_svc.service.tallies import known_tally

AGE_BANDS: Final = ("under_14", "14_17", "18_29", "30_39", "40_49", "50_59", "60_69", "70_plus")
#: The cell of votes whose token carried no such claim.
UNKNOWN: Final = "unknown"
#: The longest signing-rate history answered in one response, in hours.
MAX_HOURS: Final = 24 * 400


@dataclass(frozen=True)
class Breakdowns:
    agreements: int
    k: int
    by_age_band: Suppressed
    by_residency: Suppressed


async def _counts(session: AsyncSession, proposal_id: uuid.UUID, column: str) -> dict[str, int]:
    rows = await session.execute(
        text(
            f"SELECT coalesce({column}, :unknown), count(*) FROM votes "  # column: a constant
            "WHERE target_type = 'proposal' AND target_id = :target GROUP BY 1"
        ),
        {"unknown": UNKNOWN, "target": proposal_id},
    )
    return {str(key): int(n) for key, n in rows.all()}


def _cells(counts: dict[str, int], keys: tuple[str, ...]) -> dict[str, int]:
    # Every cell listed (a layout that does not depend on the data), unknown last.
    return {**{key: counts.pop(key, 0) for key in keys}, **counts, UNKNOWN: counts.get(UNKNOWN, 0)}


async def agreement_breakdowns(
    session: AsyncSession, proposal_id: uuid.UUID, k: int = K_DEFAULT
) -> Breakdowns:
    """A proposal's agreements by age band and by residency, small cells suppressed (404 when
    vote-svc does not know the proposal)."""
    _, tally = await known_tally(session, "proposal", proposal_id)
    ages = _cells(await _counts(session, proposal_id, "age_band"), AGE_BANDS)
    residencies = _cells(await _counts(session, proposal_id, "residency"), RESIDENCIES)
    return Breakdowns(
        agreements=tally.vote_count if tally else 0,
        k=k,
        by_age_band=suppress(ages, k),
        by_residency=suppress(residencies, k),
    )


@dataclass(frozen=True)
class HourCount:
    hour: datetime
    agreements: int
    total: int


async def signing_history(session: AsyncSession, proposal_id: uuid.UUID) -> list[HourCount]:
    """Agreements per hour (UTC hours, every hour from the first agreement's to the last's,
    empty hours as 0) with the running total (404 when vote-svc does not know the proposal)."""
    await known_tally(session, "proposal", proposal_id)
    rows = await session.execute(
        text(
            "SELECT date_trunc('hour', cast_at AT TIME ZONE 'UTC') AS hour, count(*) FROM votes "
            "WHERE target_type = 'proposal' AND target_id = :target GROUP BY 1 ORDER BY 1"
        ),
        {"target": proposal_id},
    )
    per_hour = {hour.replace(tzinfo=UTC): int(n) for hour, n in rows.all()}
    if not per_hour:
        return []
    first, last = min(per_hour), max(per_hour)
    hours = min(int((last - first) / timedelta(hours=1)), MAX_HOURS)
    history, total = [], 0
    for step in range(hours + 1):
        hour = first + timedelta(hours=step)
        count = per_hour.get(hour, 0)
        total += count
        history.append(HourCount(hour, count, total))
    return history
