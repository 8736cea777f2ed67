"""How the city keeps its promises: obligations due, fulfilled on time or late, overdue and
open, and the median days to fulfil them, per department, tier, category, district or month;
and agreements per proposal district or category (docs/statistics.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

ObligationDimension = Literal["department", "tier", "category", "district", "month"]
AgreementDimension = Literal["district", "category"]
#: The key of obligations (or proposals) the dimension does not apply to or that lack it.
UNASSIGNED: Final = "(unassigned)"

#: The SQL of each dimension's key over ``o`` (obligations joined to their proposal and to the
#: first department answer). Constants, never input.
_KEYS: Final[dict[ObligationDimension, str]] = {
    # Whoever answers: the department of the first department answer (not yet known while the
    # obligation is open: unassigned), the mayor's office for the mayor's answer.
    "department": (
        "CASE o.kind WHEN 'mayor_answer' THEN 'mayor_office' "
        "ELSE coalesce(o.department, :unassigned) END"
    ),
    "tier": "o.kind",
    "category": "o.category",
    "district": "coalesce(o.district, :unassigned)",
    # The month the obligation falls due, in Korea (UTC+9).
    "month": "to_char(o.due_at AT TIME ZONE 'UTC' + interval '9 hours', 'YYYY-MM')",
}
_WHERE: Final[dict[ObligationDimension, str]] = {
    "department": "WHERE o.kind IN ('department_answer', 'mayor_answer')",
}

_OBLIGATIONS_SQL: Final = """
WITH o AS (
    SELECT ob.kind, ob.created_at, ob.due_at, ob.fulfilled_at, p.category, p.district,
           (SELECT a.department FROM answers AS a
            WHERE a.proposal_id = ob.proposal_id AND a.kind = 'department'
            ORDER BY a.created_at LIMIT 1) AS department
    FROM obligations AS ob JOIN proposals AS p ON p.id = ob.proposal_id
)
SELECT {key} AS key,
       count(*) AS total,
       count(*) FILTER (WHERE o.due_at <= :now) AS due,
       count(*) FILTER (WHERE o.fulfilled_at <= o.due_at) AS fulfilled_on_time,
       count(*) FILTER (WHERE o.fulfilled_at > o.due_at) AS fulfilled_late,
       count(*) FILTER (WHERE o.fulfilled_at IS NULL AND o.due_at <= :now) AS overdue,
       count(*) FILTER (WHERE o.fulfilled_at IS NULL AND o.due_at > :now) AS open,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM o.fulfilled_at - o.created_at) / 86400.0
       ) FILTER (WHERE o.fulfilled_at IS NOT NULL) AS median_days
FROM o {where}
GROUP BY 1 ORDER BY 1
"""


@dataclass(frozen=True)
class ObligationCell:
    key: str
    total: int
    due: int
    fulfilled_on_time: int
    fulfilled_late: int
    overdue: int
    open: int
    median_days_to_fulfil: float | None


async def obligation_statistics(
    session: AsyncSession, by: ObligationDimension, now: datetime
) -> list[ObligationCell]:
    """The obligations counted per ``by``, as of ``now``."""
    sql = _OBLIGATIONS_SQL.format(key=_KEYS[by], where=_WHERE.get(by, ""))
    rows = await session.execute(text(sql), {"now": now, "unassigned": UNASSIGNED})
    return [
        ObligationCell(
            key=str(r.key),
            total=r.total,
            due=r.due,
            fulfilled_on_time=r.fulfilled_on_time,
            fulfilled_late=r.fulfilled_late,
            overdue=r.overdue,
            open=r.open,
            median_days_to_fulfil=None if r.median_days is None else round(r.median_days, 2),
        )
        for r in rows
    ]


@dataclass(frozen=True)
class AgreementCell:
    key: str
    proposals: int
    agreements: int


async def agreement_statistics(
    session: AsyncSession, by: AgreementDimension
) -> list[AgreementCell]:
    """Agreements with the proposals of each district (or category); hidden proposals left out."""
    column = {"district": "coalesce(district, :unassigned)", "category": "category"}[by]
    rows = await session.execute(
        text(
            f"SELECT {column} AS key, count(*) AS proposals, "
            "coalesce(sum(agreement_count), 0) AS agreements FROM proposals "
            "WHERE status <> 'hidden' GROUP BY 1 ORDER BY 1"
        ),
        {"unassigned": UNASSIGNED},
    )
    return [AgreementCell(str(r.key), r.proposals, int(r.agreements)) for r in rows]
