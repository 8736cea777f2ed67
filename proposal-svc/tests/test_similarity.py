"""Similar proposals on Korean text, against real PostgreSQL and the committed corpus.

The corpus (tests/corpus/seoul_proposals.json) holds realistic Seoul proposals grouped by topic,
queries whose best hit is known, duplicate pairs, and unrelated queries. Each test gets a fresh
C.UTF-8 database with the ``proposals`` columns and indexes that proposal-svc's migration
creates.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import unicodedata
import uuid
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc.similarity import (
    MIN_SCORE,
    KoreanAnalyzer,
    SimilarProposal,
    TrigramSupportError,
    analysis,
    check_trigram_support,
    default_analyzer,
    find_similar,
    index_fields,
)
from services.db import create_engine, create_sessionmaker
from services_dev.localrt.postgres import EmbeddedPostgres
from services_dev.testing.servers import create_database

CORPUS: dict[str, Any] = json.loads(
    (Path(__file__).parent / "corpus" / "seoul_proposals.json").read_text(encoding="utf-8")
)
PROPOSALS: dict[str, dict[str, str]] = {p["key"]: p for p in CORPUS["proposals"]}

# The columns and indexes proposal-svc's migration gives the table (the contract of this module).
SCHEMA = (
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    """
    CREATE TABLE proposals (
        id uuid PRIMARY KEY,
        title text NOT NULL,
        body text NOT NULL,
        status text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        lemmas text[] NOT NULL DEFAULT '{}',
        search_text text NOT NULL DEFAULT ''
    )
    """,
    "CREATE INDEX ix_proposals_lemmas ON proposals USING gin (lemmas)",
    "CREATE INDEX ix_proposals_search_text_trgm ON proposals USING gin (search_text gin_trgm_ops)",
)

INSERT = text(
    "INSERT INTO proposals (id, title, body, status, created_at, lemmas, search_text) "
    "VALUES (:id, :title, :body, :status, :created_at, :lemmas, :search_text)"
)

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


@dataclass
class Db:
    """A fresh database holding the corpus; ``ids`` maps corpus keys to proposal ids."""

    sessions: async_sessionmaker[AsyncSession]
    ids: dict[str, uuid.UUID]

    async def similar(self, query: str, **kw: Any) -> list[SimilarProposal]:
        async with self.sessions() as session, session.begin():
            return await find_similar(session, query, **kw)

    def key(self, proposal_id: uuid.UUID) -> str:
        return next(key for key, value in self.ids.items() if value == proposal_id)

    async def keys(self, query: str, **kw: Any) -> list[str]:
        return [self.key(hit.id) for hit in await self.similar(query, **kw)]

    async def set_status(self, key: str, status: str) -> None:
        async with self.sessions() as session, session.begin():
            await session.execute(
                text("UPDATE proposals SET status = :status WHERE id = :id"),
                {"status": status, "id": self.ids[key]},
            )


def row(title: str, body: str, status: str, created_at: datetime) -> dict[str, Any]:
    lemmas, search_text = index_fields(title, body)
    return {
        "id": uuid.uuid4(),
        "title": title,
        "body": body,
        "status": status,
        "created_at": created_at,
        "lemmas": lemmas,
        "search_text": search_text,
    }


async def insert(sessions: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]]) -> None:
    async with sessions() as session, session.begin():
        await session.execute(INSERT, rows)


@pytest.fixture
async def empty_db(pg_server: EmbeddedPostgres) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A new C.UTF-8 database with an empty ``proposals`` table."""
    dsn = await create_database(pg_server, "similarity")
    conn = await asyncpg.connect(dsn)
    try:
        for statement in SCHEMA:
            await conn.execute(statement)
    finally:
        await conn.close()
    engine = create_engine(dsn, pool_size=2, max_overflow=0)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def db(empty_db: async_sessionmaker[AsyncSession]) -> Db:
    """The corpus, one proposal a minute (later corpus entries are newer)."""
    rows = [
        row(p["title"], p["body"], p["status"], T0 + timedelta(minutes=i))
        for i, p in enumerate(CORPUS["proposals"])
    ]
    await insert(empty_db, rows)
    ids = {p["key"]: r["id"] for p, r in zip(CORPUS["proposals"], rows, strict=True)}
    return Db(empty_db, ids)


# --- the analyser -------------------------------------------------------------------------------


def test_lemmas_drop_particles_endings_and_request_formulas() -> None:
    lemmas = default_analyzer().lemmas
    assert lemmas("따릉이 대여소를 늘려주세요") == ["따릉이", "대여", "대여소"]
    assert lemmas("보육교사들의 처우를 개선해야 합니다") == ["보육", "교사", "처우"]
    assert lemmas("2호선 배차간격을 줄여 주세요") == ["2호선", "배차", "간격", "줄이다"]


@pytest.mark.parametrize(
    ("variant", "canonical"),
    [
        ("따릉이대여소를 늘려 주세요", "따릉이 대여소를 늘려주세요"),  # spacing
        ("따릉이 대여소가 부족합니다", "따릉이 대여소를 부족하다"),  # particles and endings
        ("층간 소음", "층간소음으로"),  # needs the user word 층간 (else 층/가다/ㄴ/소음)
        ("공공자전거", "따릉이"),
        ("공공 자전거", "따릉이"),  # a synonym written as two words
        ("Ddareungi", "따릉이"),
        ("전철역", "지하철 역"),
        ("스쿨존", "어린이보호구역"),
        ("킥보드", "전동 킥보드"),
        ("골목길", "골목"),
    ],
)
def test_variants_have_the_same_lemmas(variant: str, canonical: str) -> None:
    lemmas = default_analyzer().lemmas
    assert lemmas(variant) == lemmas(canonical)


def test_lemmas_of_mixed_korean_and_english() -> None:
    assert default_analyzer().lemmas("The app crashes on login. 로그인 오류, Wi-Fi 안 돼요") == [
        "app",
        "crashes",
        "login",
        "로그인",
        "오류",
        "wifi",
    ]


@pytest.mark.parametrize(
    "empty", ["", "   \n\t", "🚲🚇🌳", "ㅋㅋㅋㅋ ㅎㅎ", "요청합니다!!", "...", "2024"]
)
def test_text_without_content_has_no_lemmas(empty: str) -> None:
    assert default_analyzer().lemmas(empty) == []


def test_index_fields_normalise_the_stored_text() -> None:
    decomposed = unicodedata.normalize("NFD", "따릉이 대여소")  # as some keyboards send it
    lemmas, search_text = index_fields(f"  {decomposed}  확대", "Station  앞\n\n거치대 부족")
    assert lemmas == ["따릉이", "대여", "대여소", "station", "거치대", "부족"]
    assert search_text == "따릉이 대여소 확대 station 앞 거치대 부족"
    assert unicodedata.is_normalized("NFC", search_text)


def test_invisible_characters_separate_words_and_never_reach_the_database() -> None:
    lemmas, search_text = index_fields("따릉이\u200b대여소\x00확대", "\ufeff본문\r\n끝")
    assert lemmas == default_analyzer().lemmas("따릉이 대여소 확대 본문 끝")
    assert search_text == "따릉이 대여소 확대 본문 끝"


def test_model_loads_once_under_concurrent_first_use(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    loads: list[float] = []
    real_load = analysis._load_kiwi

    def counting_load() -> Any:
        started = time.perf_counter()
        kiwi = real_load()
        loads.append(time.perf_counter() - started)
        return kiwi

    monkeypatch.setattr(analysis, "_load_kiwi", counting_load)
    analyzer = KoreanAnalyzer()
    start = threading.Barrier(8)

    def first_use() -> list[str]:
        start.wait()
        return analyzer.lemmas("따릉이 대여소를 늘려주세요")

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(lambda _: first_use(), range(8)))
    assert len(loads) == 1
    assert results == [["따릉이", "대여", "대여소"]] * 8
    with capsys.disabled():
        print(f"\nKiwi model load: {loads[0]:.2f} s")  # noqa: T201 - a figure for the report


# --- ranking on the corpus ------------------------------------------------------------------------


async def test_expected_proposal_is_the_top_hit(db: Db) -> None:
    wrong = []
    for case in CORPUS["expected_top"]:
        hits = await db.similar(case["query"])
        keys = [db.key(hit.id) for hit in hits]
        if not keys or keys[0] != case["top"]:
            wrong.append(f"{case['query']!r} ({case['why']}): expected {case['top']}, got {keys}")
    assert not wrong, "\n".join(wrong)


async def test_issue_example_finds_the_bike_station_proposal(db: Db) -> None:
    [hit, *_] = await db.similar("따릉이 대여소를 늘려주세요")
    assert hit.id == db.ids["bike-1"]
    assert hit.title == "따릉이 대여소 확대 요청"
    assert hit.status == "open"
    assert hit.score >= 0.5


@pytest.mark.parametrize(("first", "second"), CORPUS["similar_pairs"])
async def test_duplicate_proposals_rank_each_other_first(db: Db, first: str, second: str) -> None:
    proposal = PROPOSALS[first]
    # Threshold 0: this is about ranking. subway-3/5, a paraphrase with few words in common,
    # ranks first but scores below MIN_SCORE (docs/similarity.md).
    hits = await db.similar(
        f"{proposal['title']}\n{proposal['body']}", exclude_id=db.ids[first], min_score=0.0
    )
    assert db.key(hits[0].id) == second, [(db.key(h.id), h.score) for h in hits]


async def test_unrelated_queries_find_nothing(db: Db) -> None:
    found = {query: await db.keys(query) for query in CORPUS["unrelated"]}
    assert {query: keys for query, keys in found.items() if keys} == {}


async def test_unrelated_queries_stay_well_below_the_threshold(db: Db) -> None:
    for query in CORPUS["unrelated"]:
        hits = await db.similar(query, min_score=0.0)
        assert all(hit.score < MIN_SCORE - 0.1 for hit in hits), (query, hits)


async def test_spacing_and_particle_variants_score_like_the_title_itself(db: Db) -> None:
    [exact] = await db.similar("따릉이 대여소 확대 요청", limit=1)
    for variant in (
        "따릉이대여소 확대요청",
        "따릉이 대여소를 확대해 주세요",
        "따릉이대여소를 확대해주시기 바랍니다",
    ):
        [hit] = await db.similar(variant, limit=1)
        assert hit.id == exact.id == db.ids["bike-1"]
        assert hit.score >= exact.score - 0.15, (variant, hit.score, exact.score)


async def test_synonyms_find_proposals_written_with_the_other_word(db: Db) -> None:
    assert (await db.keys("서울 공공자전거 대여소 좀 늘려요"))[0] == "bike-1"
    assert (await db.keys("스쿨존에 과속 단속 카메라"))[0] == "safe-2"
    assert (await db.keys("노인정 냉난방비"))[0] == "senior-1"
    assert (await db.keys("전철 2호선 배차 간격"))[0] == "subway-1"


async def test_zero_width_space_between_words(db: Db) -> None:
    assert (await db.keys("따릉이\u200b대여소\u200b확대"))[0] == "bike-1"


async def test_korean_and_english_mixed(db: Db) -> None:
    assert (await db.keys("Ddareungi 대여소 확대"))[0] == "bike-1"
    assert (await db.keys("서울시 app login 오류"))[0] == "en-2"
    assert (await db.keys("CCTV 골목 설치"))[0] == "safe-1"


@pytest.mark.parametrize("status", ["hidden", "withdrawn"])
async def test_hidden_and_withdrawn_proposals_are_not_offered(db: Db, status: str) -> None:
    assert (await db.keys("따릉이 대여소 확대"))[0] == "bike-1"
    await db.set_status("bike-1", status)
    assert "bike-1" not in await db.keys("따릉이 대여소 확대", min_score=0.0)


async def test_other_statuses_are_offered(db: Db) -> None:
    for status in ("closed", "adopted", "budget_linked"):
        await db.set_status("bike-1", status)
        [hit, *_] = await db.similar("따릉이 대여소 확대")
        assert (db.key(hit.id), hit.status) == ("bike-1", status)


async def test_exclude_id_leaves_out_the_proposal_being_compared(db: Db) -> None:
    assert "bike-1" not in await db.keys("따릉이 대여소 확대 요청", exclude_id=db.ids["bike-1"])


async def test_limit_and_order(db: Db) -> None:
    everything = await db.similar("지하철 시간", min_score=0.0, limit=100)
    assert len(everything) > 3
    scores = [hit.score for hit in everything]
    assert scores == sorted(scores, reverse=True)
    assert all(0.0 <= score <= 1.0 and round(score, 3) == score for score in scores)
    assert await db.similar("지하철 시간", min_score=0.0, limit=2) == everything[:2]
    assert await db.similar("지하철 시간", limit=0) == []


async def test_ties_are_ordered_newest_first_then_by_id(
    empty_db: async_sessionmaker[AsyncSession],
) -> None:
    older, newer, same_a, same_b = (
        row("따릉이 대여소 확대", "", "open", T0),
        row("따릉이 대여소 확대", "", "open", T0 + timedelta(days=1)),
        row("따릉이 대여소 확대", "", "open", T0 - timedelta(days=1)),
        row("따릉이 대여소 확대", "", "open", T0 - timedelta(days=1)),
    )
    await insert(empty_db, [same_b, older, newer, same_a])
    async with empty_db() as session, session.begin():
        hits = await find_similar(session, "따릉이 대여소 확대", limit=10)
    assert [hit.score for hit in hits] == [1.0] * 4
    assert [hit.id for hit in hits] == [
        newer["id"],
        older["id"],
        *sorted([same_a["id"], same_b["id"]]),
    ]


@pytest.mark.parametrize(
    "empty", ["", "   ", "\n\t", "🚲🚇🌳", "ㅋㅋㅋ", "요청합니다", "?!", "\x00", "\u200b"]
)
async def test_queries_without_content_return_nothing(db: Db, empty: str) -> None:
    assert await db.similar(empty) == []
    assert await db.similar(empty, min_score=0.0) == []


async def test_verb_only_query_does_not_fail(db: Db) -> None:
    # No nouns at all: the trigram side falls back on the lemmas instead of an empty query.
    hits = await db.similar("늘려 주세요", min_score=0.0)
    assert all(hit.score < MIN_SCORE for hit in hits)


async def test_search_leaves_the_callers_transaction_as_it_was(db: Db) -> None:
    settings = text(
        "SELECT current_setting('pg_trgm.word_similarity_threshold'), "
        "current_setting('enable_seqscan'), current_setting('plan_cache_mode')"
    )
    new = row("따릉이 대여소 신설", "역 앞에 대여소를", "open", T0 + timedelta(days=1))
    async with db.sessions() as session, session.begin():
        before = (await session.execute(settings)).one()
        await session.execute(INSERT, new)  # the caller's own write, before searching
        hits = await find_similar(session, "따릉이 대여소", limit=10)
        assert new["id"] in [hit.id for hit in hits]  # its transaction sees its write
        assert (await session.execute(settings)).one() == before
    async with db.sessions() as session:
        assert await session.scalar(text("SELECT title FROM proposals WHERE id = :id"), new) == (
            "따릉이 대여소 신설"
        )


# --- the database must make trigrams of Hangul ------------------------------------------------


async def test_trigram_support_on_a_c_utf8_database(
    empty_db: async_sessionmaker[AsyncSession],
) -> None:
    async with empty_db() as session:
        await check_trigram_support(session)


async def test_trigram_check_fails_on_a_c_ctype_database(pg_server: EmbeddedPostgres) -> None:
    name = f"ctype_c_{uuid.uuid4().hex[:12]}"
    admin = await asyncpg.connect(pg_server.dsn("postgres"))
    try:
        await admin.execute(
            f"CREATE DATABASE {name} WITH TEMPLATE template0 ENCODING 'UTF8' "
            "LC_COLLATE 'C' LC_CTYPE 'C'"
        )
    finally:
        await admin.close()
    engine = create_engine(pg_server.dsn(name), pool_size=1, max_overflow=0)
    try:
        async with create_sessionmaker(engine)() as session:
            with pytest.raises(TrigramSupportError, match="not installed"):
                await check_trigram_support(session)
            await session.execute(text("CREATE EXTENSION pg_trgm"))
            with pytest.raises(TrigramSupportError, match=r"LC_CTYPE='C'.*C\.UTF-8"):
                await check_trigram_support(session)
            # What the check protects against: every Korean similarity silently 0.
            assert await session.scalar(text("SELECT similarity('따릉이 대여소', '따릉이')")) == 0
    finally:
        await engine.dispose()


# --- latency on ~1,000 proposals (printed, not asserted) --------------------------------------

DISTRICTS = (
    "강남구 강동구 강북구 강서구 관악구 광진구 구로구 금천구 노원구 도봉구 동대문구 "
    "동작구 마포구 서대문구 서초구 성동구 성북구 송파구 양천구 영등포구 용산구"
).split()


async def test_query_latency_on_a_thousand_proposals(
    empty_db: async_sessionmaker[AsyncSession], capsys: pytest.CaptureFixture[str]
) -> None:
    # Every corpus proposal once per district: 48 x 21 = 1,008 rows, many near-duplicates, so
    # the candidate sets are larger than in a real table of that size.
    started = time.perf_counter()
    rows = [
        row(f"{district} {p['title']}", f"{district} 주민입니다. {p['body']}", p["status"], T0)
        for district in DISTRICTS
        for p in CORPUS["proposals"]
    ]
    analysed = time.perf_counter() - started
    await insert(empty_db, rows)
    async with empty_db() as session, session.begin():
        await session.execute(text("ANALYZE proposals"))

    queries = [case["query"] for case in CORPUS["expected_top"]] + CORPUS["unrelated"]
    timings: list[float] = []
    async with empty_db() as session:
        for query in queries:  # warm-up: connection, statement cache, model
            async with session.begin():
                await find_similar(session, query)
        for _ in range(5):
            for query in queries:
                async with session.begin():
                    started = time.perf_counter()
                    hits = await find_similar(session, query)
                    timings.append(time.perf_counter() - started)
                assert len(hits) <= 5
        async with session.begin():
            # At 1,000 rows a sequential scan is cheaper and the planner rightly takes it; what
            # matters is that both candidate conditions *can* use their index as the table grows.
            await session.execute(text("SET LOCAL enable_seqscan = off"))
            plan = "\n".join(
                await session.scalars(
                    text(
                        "EXPLAIN SELECT id FROM proposals WHERE lemmas && ARRAY['따릉이','대여소'] "
                        "OR '따릉이 대여소' <% search_text"
                    )
                )
            )
    assert "ix_proposals_lemmas" in plan
    assert "ix_proposals_search_text_trgm" in plan

    timings.sort()
    ms = [t * 1000 for t in timings]
    with capsys.disabled():
        print(  # noqa: T201 - figures for the report; timing is not asserted
            f"\nfind_similar on {len(rows)} rows, {len(ms)} queries: "
            f"p50 {statistics.median(ms):.2f} ms, p95 {ms[int(len(ms) * 0.95)]:.2f} ms, "
            f"max {ms[-1]:.2f} ms; index_fields {analysed / len(rows) * 1000:.2f} ms/row"
        )
