"""Computing integrity signals per target from the votes' pseudonymous signals (the
``integrity`` worker's round, docs/integrity.md).

Time is cut into windows of ``VOTE_INTEGRITY_WINDOW_MINUTES`` since the Unix epoch. Each round
looks at the last ``VOTE_INTEGRITY_CATCH_UP_WINDOWS`` *complete* windows; in each, every target
with at least ``VOTE_INTEGRITY_MIN_VOTES`` votes is measured (:class:`WindowStats`) and judged
by the six rules of :func:`judge`. A signal is stored once per (target, kind, window): the unique
constraint makes rounds, replicas and catch-ups idempotent. Signals never touch a vote; they are
evidence for people to review.

Evidence holds counts, shares and ratios only, never a hash: how many votes came from the most
frequent network, not which network.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from vote_svc.bootstrap import VoteContext
from vote_svc.integrity.models import IntegritySignal, VoteSignal
from vote_svc.integrity.settings import AGE_BANDS, IntegritySettings

KST: Final = timezone(timedelta(hours=9), "KST")
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class WindowStats:
    """One target's votes in one window, as counts."""

    votes: int
    #: Mean votes per window over the baseline windows before this one.
    baseline: float
    #: Votes whose account age is known, and those of accounts younger than the threshold.
    known_age: int
    new_accounts: int
    #: Votes of the most frequent network hash and user-agent hash, and how many distinct.
    top_network: int
    networks: int
    top_agent: int
    agents: int
    #: Votes per age band (known bands only).
    bands: dict[str, int]


@dataclass(frozen=True)
class Finding:
    """A rule that fired: its kind, level and evidence."""

    kind: str
    level: str
    evidence: dict[str, Any]


def window_bounds(moment: datetime, minutes: int) -> tuple[datetime, datetime]:
    """The window of ``minutes`` that contains ``moment``."""
    length = minutes * 60
    elapsed = int((moment - _EPOCH).total_seconds())
    start = _EPOCH + timedelta(seconds=elapsed - elapsed % length)
    return start, start + timedelta(seconds=length)


def _level(value: float, threshold: float, ceiling: float = 1.0) -> str:
    """``warning`` half-way from the threshold to the ceiling, ``notice`` below."""
    return "warning" if value >= threshold + (ceiling - threshold) / 2 else "notice"


def _share(part: int, whole: int) -> float:
    return round(part / whole, 4) if whole else 0.0


def judge(stats: WindowStats, settings: IntegritySettings, *, night: bool) -> list[Finding]:
    """The rules that fire on one target's window (docs/integrity.md, "Signals")."""
    found: list[Finding] = []
    n = stats.votes
    ratio = n / max(stats.baseline, 1.0)
    if ratio > settings.integrity_spike_factor:
        found.append(
            Finding(
                "arrival_spike",
                "warning" if ratio >= 2 * settings.integrity_spike_factor else "notice",
                {
                    "votes": n,
                    "baseline_per_window": round(stats.baseline, 2),
                    "ratio": round(ratio, 2),
                },
            )
        )
    new_share = _share(stats.new_accounts, stats.known_age)
    if (
        stats.known_age >= settings.integrity_min_votes
        and new_share > settings.integrity_new_account_share
    ):
        found.append(
            Finding(
                "new_accounts",
                _level(new_share, settings.integrity_new_account_share),
                {
                    "votes": n,
                    "known_age_votes": stats.known_age,
                    "new_account_votes": stats.new_accounts,
                    "new_account_share": new_share,
                    "younger_than_hours": settings.integrity_new_account_hours,
                },
            )
        )
    for kind, top, distinct, threshold in (
        (
            "network_concentration",
            stats.top_network,
            stats.networks,
            settings.integrity_network_share,
        ),
        ("agent_concentration", stats.top_agent, stats.agents, settings.integrity_agent_share),
    ):
        share = _share(top, n)
        if share > threshold:
            found.append(
                Finding(
                    kind,
                    _level(share, threshold),
                    {"votes": n, "top_votes": top, "top_share": share, "distinct": distinct},
                )
            )
    if night and n >= settings.integrity_night_min_votes:
        found.append(
            Finding(
                "night_burst",
                _level(
                    n, settings.integrity_night_min_votes, 4 * settings.integrity_night_min_votes
                ),
                {
                    "votes": n,
                    "night_hours_kst": [
                        settings.integrity_night_start_hour,
                        settings.integrity_night_end_hour,
                    ],
                },
            )
        )
    found.extend(_age_skew(stats, settings))
    return found


def _age_skew(stats: WindowStats, settings: IntegritySettings) -> list[Finding]:
    """Total variation distance between the window's known bands and the city's."""
    known = sum(stats.bands.values())
    if known < settings.integrity_min_votes:
        return []
    city = settings.integrity_city_age_bands
    bands = sorted(set(city) | set(stats.bands), key=AGE_BANDS.index)
    distance = 0.5 * sum(abs(stats.bands.get(b, 0) / known - city.get(b, 0.0)) for b in bands)
    if distance <= settings.integrity_age_skew:
        return []
    return [
        Finding(
            "age_band_skew",
            _level(distance, settings.integrity_age_skew),
            {
                "votes": stats.votes,
                "known_band_votes": known,
                "distance": round(distance, 4),
                "bands": {
                    b: {
                        "votes": stats.bands.get(b, 0),
                        "share": _share(stats.bands.get(b, 0), known),
                        "city_share": round(city.get(b, 0.0), 4),
                    }
                    for b in bands
                },
            },
        )
    ]


async def _busy_targets(
    session: AsyncSession, start: datetime, end: datetime, minimum: int
) -> list[tuple[str, uuid.UUID, int]]:
    s = VoteSignal
    rows = await session.execute(
        sa.select(s.target_type, s.target_id, sa.func.count())
        .where(s.cast_at >= start, s.cast_at < end)
        .group_by(s.target_type, s.target_id)
        .having(sa.func.count() >= minimum)
    )
    return [(t, i, int(c)) for t, i, c in rows]


async def _top(session: AsyncSession, column: Any, where: list[Any]) -> tuple[int, int]:
    """Votes of the most frequent value of ``column``, and the number of distinct values."""
    counts = sa.select(column, sa.func.count().label("n")).where(*where).group_by(column).subquery()
    row = (
        await session.execute(
            sa.select(sa.func.max(counts.c.n), sa.func.count()).select_from(counts)
        )
    ).one()
    return int(row[0] or 0), int(row[1] or 0)


async def measure(
    session: AsyncSession,
    settings: IntegritySettings,
    target: tuple[str, uuid.UUID],
    start: datetime,
    end: datetime,
) -> WindowStats:
    """One target's :class:`WindowStats` for the window ``[start, end)``."""
    s = VoteSignal
    same = [s.target_type == target[0], s.target_id == target[1]]
    inside = [*same, s.cast_at >= start, s.cast_at < end]
    young = s.account_age_hours < settings.integrity_new_account_hours
    votes, known, new = (
        await session.execute(
            sa.select(
                sa.func.count(),
                sa.func.count(s.account_age_hours),
                sa.func.count().filter(young),
            ).where(*inside)
        )
    ).one()
    span = (end - start) * settings.integrity_baseline_windows
    before = await session.scalar(
        sa.select(sa.func.count()).where(*same, s.cast_at >= start - span, s.cast_at < start)
    )
    top_network, networks = await _top(session, s.network_hash, inside)
    top_agent, agents = await _top(session, s.agent_hash, inside)
    band_rows = await session.execute(
        sa.select(s.age_band, sa.func.count())
        .where(*inside, s.age_band.in_(AGE_BANDS))
        .group_by(s.age_band)
    )
    return WindowStats(
        votes=int(votes),
        baseline=int(before or 0) / settings.integrity_baseline_windows,
        known_age=int(known),
        new_accounts=int(new),
        top_network=top_network,
        networks=networks,
        top_agent=top_agent,
        agents=agents,
        bands={band: int(count) for band, count in band_rows},
    )


def is_night(start: datetime, settings: IntegritySettings) -> bool:
    """Whether a window starts within the night hours (Korean time)."""
    hour = start.astimezone(KST).hour
    return settings.integrity_night_start_hour <= hour < settings.integrity_night_end_hour


async def detect(session: AsyncSession, ctx: VoteContext) -> int:
    """One round: judge the last complete windows and store new signals; how many were new."""
    settings = ctx.settings
    now = ctx.clock.now()
    current, _ = window_bounds(now, settings.integrity_window_minutes)
    length = timedelta(minutes=settings.integrity_window_minutes)
    stored = 0
    for back in range(settings.integrity_catch_up_windows, 0, -1):
        start = current - back * length
        end = start + length
        for target_type, target_id, _n in await _busy_targets(
            session, start, end, settings.integrity_min_votes
        ):
            stats = await measure(session, settings, (target_type, target_id), start, end)
            for finding in judge(stats, settings, night=is_night(start, settings)):
                stored += await _store(session, (target_type, target_id), start, end, finding, now)
    return stored


async def _store(
    session: AsyncSession,
    target: tuple[str, uuid.UUID],
    start: datetime,
    end: datetime,
    finding: Finding,
    now: datetime,
) -> int:
    inserted = await session.execute(
        insert(IntegritySignal)
        .values(
            id=uuid.uuid4(),
            target_type=target[0],
            target_id=target[1],
            kind=finding.kind,
            level=finding.level,
            window_start=start,
            window_end=end,
            evidence=finding.evidence,
            detected_at=now,
        )
        .on_conflict_do_nothing(constraint="uq_integrity_signals_window")
        .returning(IntegritySignal.id)
    )
    return 1 if inserted.first() is not None else 0


async def purge(session: AsyncSession, ctx: VoteContext) -> int:
    """Delete the votes' signals older than the retention period; how many."""
    cutoff = ctx.clock.now() - timedelta(days=ctx.settings.signal_retention_days)
    result = await session.execute(sa.delete(VoteSignal).where(VoteSignal.cast_at < cutoff))
    return int(getattr(result, "rowcount", 0) or 0)
