"""Integrity signals from synthetic vote patterns: each rule fires on a pattern made to trip it
(and only it), an organic pattern fires none, a scripted burst fires on its proposal and not on
an organic neighbour; the public report withholds small counts and every hash; the staff queue
is for auditors and admins; old per-vote signals are purged."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, insert, select
from vote_helpers import Sessions, open_proposal

from services.clock import ManualClock
from services.db import transaction
from services_dev.testing import running_app
from services_dev.testing.tokens import TestTokens
from vote_svc.bootstrap import VoteContext, bootstrap
from vote_svc.config import VoteSettings
from vote_svc.integrity import detect
from vote_svc.integrity.models import IntegritySignal, VoteSignal
from vote_svc.integrity.settings import DEFAULT_CITY_AGE_BANDS
from vote_svc.main import create_app

#: A window of 10 minutes at 14:00 Korean time (05:00 UTC), and one at 02:00 (17:00 UTC).
DAY = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
NIGHT = datetime(2026, 12, 1, 17, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=10)
AGENTS = [f"Mozilla/5.0 agent {i}" for i in range(8)]
#: Bands in the city's proportions, 60 votes.
CITY_60 = [b for b, share in DEFAULT_CITY_AGE_BANDS.items() for _ in range(round(share * 60))]


def _row(target: uuid.UUID, at: datetime, i: int, **over: Any) -> dict[str, Any]:
    """One synthetic vote's signals: organic by default (its own network, one of eight user
    agents, an account months old, the city's age mix)."""
    return {
        "vote_id": uuid.uuid4(),
        "target_type": "proposal",
        "target_id": target,
        "cast_at": at,
        "network_hash": f"{uuid.uuid4().hex}",
        "agent_hash": f"{i % len(AGENTS):032x}",
        "account_age_hours": 2000 + 37 * i,
        "age_band": CITY_60[i % len(CITY_60)],
        **over,
    }


async def _insert(sessions: Sessions, rows: list[dict[str, Any]]) -> None:
    async with transaction(sessions) as session:
        await session.execute(insert(VoteSignal), rows)


async def _organic(
    sessions: Sessions, target: uuid.UUID, start: datetime, *, per_window: int = 40
) -> None:
    """Twelve windows of organic baseline before ``start`` (``per_window`` votes each)."""
    rows = [
        _row(target, start - (w + 1) * WINDOW + timedelta(seconds=13 * j), j)
        for w in range(12)
        for j in range(per_window)
    ]
    await _insert(sessions, rows)


def _window_votes(
    target: uuid.UUID, start: datetime, n: int = 60, **pattern: Any
) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        over = {k: (v(i) if callable(v) else v) for k, v in pattern.items()}
        rows.append(_row(target, start + timedelta(seconds=9 * i), i, **over))
    return rows


async def _detect(vote_settings: VoteSettings, sessions: Sessions, at: datetime) -> VoteContext:
    ctx = bootstrap(vote_settings, clock=ManualClock(at))
    async with transaction(sessions) as session:
        await detect.detect(session, ctx)
    return ctx


async def _kinds(sessions: Sessions, target: uuid.UUID) -> set[str]:
    async with sessions() as session:
        rows = await session.scalars(
            select(IntegritySignal.kind).where(IntegritySignal.target_id == target)
        )
        return set(rows)


PATTERNS: dict[str, tuple[datetime, dict[str, Any], int]] = {
    # name: (window start, distortion of the window's 60 votes, baseline per window)
    "organic": (DAY, {}, 40),
    "arrival_spike": (DAY, {}, 5),
    "new_accounts": (DAY, {"account_age_hours": lambda i: 3 if i % 10 < 7 else 5000}, 40),
    "network_concentration": (
        DAY,
        {"network_hash": lambda i: "a" * 32 if i % 5 < 2 else uuid.uuid4().hex},
        40,
    ),
    "agent_concentration": (
        DAY,
        {"agent_hash": lambda i: "b" * 32 if i % 10 < 7 else f"{i % 8:032x}"},
        40,
    ),
    "night_burst": (NIGHT, {}, 40),
    "age_band_skew": (DAY, {"age_band": "70_plus"}, 40),
}


@pytest.mark.parametrize("name", list(PATTERNS))
async def test_each_pattern_fires_its_own_signal_and_organic_traffic_none(
    name: str, sessions: Sessions, vote_settings: VoteSettings
) -> None:
    start, pattern, baseline = PATTERNS[name]
    target = uuid.uuid4()
    await _organic(sessions, target, start, per_window=baseline)
    await _insert(sessions, _window_votes(target, start, **pattern))
    await _detect(vote_settings, sessions, start + WINDOW + timedelta(minutes=1))
    assert await _kinds(sessions, target) == (set() if name == "organic" else {name})


async def test_a_scripted_burst_signals_its_proposal_and_not_an_organic_one(
    sessions: Sessions, vote_settings: VoteSettings
) -> None:
    burst, organic = uuid.uuid4(), uuid.uuid4()
    await _organic(sessions, burst, DAY, per_window=2)
    await _organic(sessions, organic, DAY)
    # 300 accounts made in the last hour agree within a minute from one network, one app.
    await _insert(
        sessions,
        [
            _row(
                burst,
                DAY + timedelta(seconds=i / 5),
                i,
                network_hash="c" * 32,
                agent_hash="d" * 32,
                account_age_hours=0,
            )
            for i in range(300)
        ],
    )
    await _insert(sessions, _window_votes(organic, DAY))
    ctx = await _detect(vote_settings, sessions, DAY + WINDOW + timedelta(seconds=5))
    assert await _kinds(sessions, burst) == {
        "arrival_spike",
        "new_accounts",
        "network_concentration",
        "agent_concentration",
    }
    assert await _kinds(sessions, organic) == set()
    # Rounds are idempotent: the same windows judged again store nothing new.
    async with transaction(sessions) as session:
        assert await detect.detect(session, ctx) == 0


@pytest.fixture
async def api(vote_ctx: VoteContext, tokens: TestTokens) -> AsyncIterator[httpx.AsyncClient]:
    async with running_app(create_app(vote_ctx, key_source=tokens)) as client:
        yield client


async def test_the_public_report_shows_aggregates_only(
    api: httpx.AsyncClient, sessions: Sessions, vote_settings: VoteSettings
) -> None:
    proposal_id = await open_proposal(sessions)
    await _organic(sessions, proposal_id, DAY)
    await _insert(sessions, _window_votes(proposal_id, DAY, age_band="70_plus"))
    await _detect(vote_settings, sessions, DAY + WINDOW + timedelta(minutes=1))
    response = await api.get(f"/v1/votes/integrity/proposals/{proposal_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["min_count"], body["retention_days"], body["votes_with_signals"]) == (10, 90, 540)
    [signal] = body["signals"]
    assert (signal["kind"], signal["level"]) == ("age_band_skew", "warning")
    bands = signal["evidence"]["bands"]
    assert bands["70_plus"] == {"votes": 60, "share": 1.0, "city_share": 0.155}
    # Bands with fewer than k votes are withheld, count and share.
    assert bands["18_29"] == {"votes": None, "share": None, "city_share": 0.17}
    # No hash of anything, anywhere in the answer.
    assert not re.search(r"[0-9a-f]{32}", response.text)


async def test_the_public_report_of_an_unknown_proposal_is_404(api: httpx.AsyncClient) -> None:
    response = await api.get(f"/v1/votes/integrity/proposals/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/proposal-not-found")
    malformed = await api.get("/v1/votes/integrity/proposals/not-a-uuid")
    assert malformed.status_code == 422


async def test_the_queue_is_for_auditors_and_admins_and_pages(
    api: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, vote_settings: VoteSettings
) -> None:
    target = uuid.uuid4()
    await _organic(sessions, target, NIGHT, per_window=2)
    await _insert(sessions, _window_votes(target, NIGHT, age_band="14_17"))
    await _detect(vote_settings, sessions, NIGHT + WINDOW + timedelta(minutes=1))
    url = "/v1/votes/integrity/signals"
    assert (await api.get(url)).status_code == 401
    citizen = await api.get(url, headers=tokens.headers())
    assert citizen.status_code == 403
    assert citizen.headers["content-type"] == "application/problem+json"
    seen: list[str] = []
    cursor: str | None = None
    for role in ("auditor", "admin", "auditor"):
        params = {"limit": "1", **({"cursor": cursor} if cursor else {})}
        page = await api.get(url, params=params, headers=tokens.headers(roles=[role]))
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [item["kind"] for item in body["items"]]
        assert all(item["target_id"] == str(target) for item in body["items"])
        cursor = body["next_cursor"]
    assert sorted(seen) == ["age_band_skew", "arrival_spike", "night_burst"]
    assert cursor is None
    bad = await api.get(url, params={"cursor": "forged"}, headers=tokens.headers(roles=["admin"]))
    assert bad.status_code == 400
    assert bad.json()["type"].endswith("/invalid-cursor")


async def test_vote_signals_are_deleted_after_the_retention_period(
    sessions: Sessions, vote_settings: VoteSettings
) -> None:
    target = uuid.uuid4()
    now = DAY + timedelta(days=100)
    await _insert(
        sessions,
        [_row(target, now - timedelta(days=91), 1), _row(target, now - timedelta(days=89), 2)],
    )
    ctx = bootstrap(vote_settings, clock=ManualClock(now))
    async with transaction(sessions) as session:
        assert await detect.purge(session, ctx) == 1
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(VoteSignal)) == 1
