"""Similar proposals on Korean text: Kiwi lemmas plus pg_trgm, ranked inside PostgreSQL.

Korean glues particles and endings to words ("대여소를 늘려주세요"), so comparing words misses
obvious duplicates. Each proposal therefore stores two derived columns, written by
:func:`index_fields` when the proposal is created:

``lemmas``
    the content morphemes of title and body found by Kiwi (nouns, verb and adjective stems,
    foreign words), with Seoul synonyms folded onto one spelling (공공자전거 → 따릉이); GIN.
``search_text``
    title and body, NFC-normalised, lower-cased, whitespace collapsed; GIN ``gin_trgm_ops``.
    Trigrams catch what the analyser gets wrong (typos, new names, odd spacing).

:func:`find_similar` takes candidates from either index and ranks them with::

    score = LEMMA_WEIGHT * shared / sqrt(|query lemmas| * |proposal lemmas|)
          + TRIGRAM_WEIGHT * word_similarity(query terms, search_text)

The first term is the cosine (Ochiai) coefficient of the two lemma sets; unlike Jaccard it does
not collapse when a short title is compared with a proposal's whole body. The second is pg_trgm's
similarity of the query's content words to the best-matching stretch of the proposal's text.
docs/similarity.md explains the formula, the threshold and the C.UTF-8 requirement.
"""

from __future__ import annotations

import asyncio
import importlib
import itertools
import re
import threading
import unicodedata
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

from sqlalchemy import bindparam
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import ARRAY, TEXT, UUID
from sqlalchemy.ext.asyncio import AsyncSession

__all__ = [
    "EXCLUDED_STATUSES",
    "LEMMA_WEIGHT",
    "MIN_SCORE",
    "SHORTLIST",
    "STOP_LEMMAS",
    "SYNONYMS",
    "TRIGRAM_THRESHOLD",
    "TRIGRAM_WEIGHT",
    "USER_WORDS",
    "KoreanAnalyzer",
    "SimilarProposal",
    "TextAnalysis",
    "TrigramSupportError",
    "check_trigram_support",
    "default_analyzer",
    "find_similar",
    "index_fields",
    "normalize_text",
]

#: Weight of the lemma-set cosine coefficient in the score (the meaning signal).
LEMMA_WEIGHT: Final = 0.8
#: Weight of pg_trgm word similarity in the score (the spelling signal).
TRIGRAM_WEIGHT: Final = 0.2
#: Scores below this are not shown; chosen on tests/corpus (see docs/similarity.md).
MIN_SCORE: Final = 0.35
#: ``pg_trgm.word_similarity_threshold`` for the trigram half of the candidate search: at least
#: half of the query terms' trigrams found together in the proposal's text.
TRIGRAM_THRESHOLD: Final = 0.5

#: How many of the best lemma matches get the (costlier) trigram score; see find_similar.
SHORTLIST: Final = 50

#: Statuses never offered as "similar": withdrawn by the author or hidden by moderators.
EXCLUDED_STATUSES: Final = ("withdrawn", "hidden")

#: Different spellings of one thing in Seoul proposals, folded onto the value (one lemma). A key
#: matches one noun or several adjacent ones, with or without spaces between them ("공공 자전거",
#: "공공자전거"); values are matched the same way, so a canonical compound that Kiwi splits
#: (어린이보호구역 → 어린이/보호/구역) is joined again. Latin is lower case. Extend with care: a
#: wrong entry merges unrelated proposals.
SYNONYMS: Final[Mapping[str, str]] = {
    # the public bicycle
    "공공자전거": "따릉이",
    "서울자전거": "따릉이",
    "ddareungi": "따릉이",
    # rail
    "전철": "지하철",
    "도시철도": "지하철",
    "전철역": "지하철역",
    "subway": "지하철",
    "승강기": "엘리베이터",
    "elevator": "엘리베이터",
    # road safety and mobility
    "스쿨존": "어린이보호구역",
    "킥보드": "전동킥보드",
    "개인형이동장치": "전동킥보드",
    "씨씨티비": "cctv",
    "폐쇄회로텔레비전": "cctv",
    "골목길": "골목",
    # animals
    "강아지": "반려견",
    "애완견": "반려견",
    "애완동물": "반려동물",
    # care
    "노인정": "경로당",
    "보육시설": "어린이집",
}

#: Words Kiwi's dictionary splits wrongly (층간소음 → 층/가다/ㄴ/소음 without this entry).
USER_WORDS: Final[tuple[str, ...]] = ("층간", "약냉방", "따릉이", "월세")

#: Lemmas too common in proposals to say anything about the topic: request formulas, the city,
#: the proposer, light verbs, vague nouns, and English function words.
STOP_LEMMAS: Final[frozenset[str]] = frozenset(
    {
        # request and proposal boilerplate
        "요청", "제안", "건의", "부탁", "희망", "바라다", "필요", "문제", "관련", "해결",
        # what nearly every proposal asks for, whatever its subject
        "확대", "지원", "개선", "강화", "마련", "추진", "검토", "시행", "늘리다",
        # the city and its people
        "서울", "서울시", "시민", "주민", "시", "구", "정부",
        # light verbs and adjectives
        "하다", "되다", "있다", "없다", "주다", "같다", "않다", "싶다", "보다", "만들다",
        "이다", "아니다", "많다", "좋다", "크다", "받다", "드리다", "말다", "위하다",
        # vague nouns
        "생각", "경우", "때", "곳", "데", "앞", "뒤", "안", "밖", "속", "날", "등", "점",
        "부분", "정도", "방법", "이용", "사람", "우리", "좀",
        # English function words
        "a", "an", "and", "are", "as", "at", "be", "by", "for", "from", "in", "is", "it",
        "of", "on", "or", "our", "please", "that", "the", "this", "to", "we", "with", "seoul",
    }
)  # fmt: skip

# Kiwi tags whose morphemes carry content. Irregular stems come tagged "VV-I", "VA-R", ...
# (Latin words, tagged SL, are taken by a regex instead: see KoreanAnalyzer._morphemes.)
_NOUN_TAGS: Final = frozenset({"NNG", "NNP", "XR", "SH"})
_STEM_TAGS: Final = frozenset({"VV", "VA"})
# A number only counts together with its counter: "2호선", "10시" (a lone "2024" matches noise).
_COUNTER_TAGS: Final = frozenset({"NNB", "NNG"})
_WHITESPACE: Final = re.compile(r"\s+")
# Latin words, keeping inner hyphens, apostrophes and dots ("Wi-Fi", "A.I."), digits allowed.
_LATIN_WORD: Final = re.compile(r"[A-Za-z0-9]*[A-Za-z][A-Za-z0-9]*(?:[-'.][A-Za-z0-9]+)*")
# Synonym keys span at most this many morphemes (폐쇄회로텔레비전 is 폐쇄/회로/텔레비전).
_LONGEST_SYNONYM: Final = 4


class _Token(Protocol):
    """The part of ``kiwipiepy.Token`` we use (kiwipiepy ships no type information)."""

    @property
    def form(self) -> str: ...
    @property
    def tag(self) -> str: ...
    @property
    def lemma(self) -> str: ...
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


class _Kiwi(Protocol):
    """The part of ``kiwipiepy.Kiwi`` we use."""

    def add_user_word(self, word: str, tag: str = ..., score: float = ...) -> bool: ...
    def tokenize(self, text: str) -> list[_Token]: ...


def _load_kiwi() -> _Kiwi:
    # Imported on first use, not at module import: the model (~105 MB, in the kiwipiepy-model
    # wheel) takes about a second to load, and most processes importing this module (migrations,
    # the worker) never analyse text.
    module = importlib.import_module("kiwipiepy")
    kiwi: _Kiwi = module.Kiwi()
    return kiwi


def _clean(value: str) -> str:
    # NFC (one code point per syllable, whatever the keyboard sent), and invisible characters
    # (zero-width spaces, BOM, NUL, other controls) turned into spaces: they split words for the
    # reader, Kiwi would take them for words, and PostgreSQL refuses NUL in text.
    value = unicodedata.normalize("NFC", value)
    if value.isprintable():
        return value
    return "".join(" " if unicodedata.category(char) in ("Cc", "Cf") else char for char in value)


def normalize_text(value: str) -> str:
    """NFC, lower case, single spaces, no invisible characters: the form of ``search_text``."""
    return _WHITESPACE.sub(" ", _clean(value)).strip().lower()


def _fold_key(value: str) -> str:
    return "".join(normalize_text(value).split())


@dataclass(frozen=True, slots=True)
class TextAnalysis:
    """What similarity search needs to know about a text."""

    #: Distinct content lemmas in order of first appearance, synonyms folded.
    lemmas: tuple[str, ...]
    #: The content words as they were spelled (particles, endings and boilerplate dropped), for
    #: trigram matching: "따릉이 대여소를 늘려주세요" → "따릉이 대여소".
    terms: str


@dataclass(frozen=True, slots=True)
class _Morpheme:
    lemma: str
    start: int
    end: int
    #: Nouns, foreign words and numbers: spelled in ``terms`` and joinable into synonyms.
    word: bool
    #: Lemmas this one also stands for: the stem of a noun compound ("대여소" → "대여").
    parts: tuple[str, ...] = ()


class KoreanAnalyzer:
    """Content lemmas of Korean (and mixed Korean/English) text, by the Kiwi analyser.

    The Kiwi model loads on the first analysis (or :meth:`load`), once per instance, under a
    lock; afterwards any thread may call in (Kiwi objects are thread-safe since kiwipiepy 0.22).
    Use the process-wide :func:`default_analyzer` rather than new instances.
    """

    def __init__(
        self,
        *,
        synonyms: Mapping[str, str] = SYNONYMS,
        user_words: Iterable[str] = USER_WORDS,
        stop_lemmas: Iterable[str] = STOP_LEMMAS,
    ) -> None:
        # Variants and canonical forms both map to the canonical form, so a canonical compound
        # that Kiwi splits ("어린이보호구역" → 어린이/보호/구역) is joined again.
        self._synonyms: dict[str, str] = {}
        for variant, canonical in synonyms.items():
            key, value = _fold_key(variant), _fold_key(canonical)
            if not key or not value:
                raise ValueError(f"empty synonym entry {variant!r} → {canonical!r}")
            self._synonyms[key] = value
            self._synonyms.setdefault(value, value)
        self._user_words = tuple(user_words)
        self._stop_lemmas = frozenset(stop_lemmas)
        self._lock = threading.Lock()
        self._kiwi: _Kiwi | None = None

    def load(self) -> None:
        """Load the model now (at startup, so that the first request does not wait ~1 s)."""
        self._ensure_loaded()

    def lemmas(self, text: str) -> list[str]:
        """The distinct content lemmas of ``text``, in order of first appearance.

        Kept: nouns and roots, verb and adjective stems as dictionary forms ("늘려" → "늘리다"),
        Latin words (lower-cased, inner punctuation dropped: "Wi-Fi" → "wifi") and numbers
        joined to their counter ("2호선"). Dropped: particles, endings, suffixes, symbols, emoji,
        lone numbers and :data:`STOP_LEMMAS`. Synonyms are folded (:data:`SYNONYMS`).
        """
        return list(self.analyze(text).lemmas)

    def analyze(self, text: str) -> TextAnalysis:
        """Lemmas and trigram terms of ``text`` (see :class:`TextAnalysis`)."""
        text = _clean(text)
        morphemes = [
            m for m in self._fold(text, self._morphemes(text)) if m.lemma not in self._stop_lemmas
        ]
        lemmas = tuple(
            dict.fromkeys(
                lemma
                for m in morphemes
                for lemma in (*m.parts, m.lemma)
                if lemma not in self._stop_lemmas
            )
        )
        return TextAnalysis(lemmas=lemmas, terms=_terms(text, [m for m in morphemes if m.word]))

    def _ensure_loaded(self) -> _Kiwi:
        kiwi = self._kiwi
        if kiwi is not None:
            return kiwi
        with self._lock:
            if self._kiwi is None:
                kiwi = _load_kiwi()
                for word in self._user_words:
                    kiwi.add_user_word(word, "NNG")
                # Published only when complete: other threads skip the lock once they see it.
                self._kiwi = kiwi
            return self._kiwi

    def _morphemes(self, text: str) -> list[_Morpheme]:
        # Kiwi cuts Latin oddly ("login." → "lo" + "gin."), so Latin words come from a regex and
        # Kiwi's tokens inside them are ignored.
        latin = [
            _Morpheme(re.sub(r"[-'.]", "", match.group().lower()), match.start(), match.end(), True)
            for match in _LATIN_WORD.finditer(text)
            if len(match.group()) > 1
        ]
        in_latin = bytearray(len(text))
        for match in _LATIN_WORD.finditer(text):
            in_latin[match.start() : match.end()] = b"\x01" * (match.end() - match.start())
        found: list[_Morpheme] = []
        tokens = self._ensure_loaded().tokenize(text) if not text.isascii() else []
        skip_next = False
        for index, token in enumerate(tokens):
            if skip_next:
                skip_next = False
                continue
            if any(in_latin[token.start : token.end]):
                continue
            tag = token.tag.split("-", 1)[0]
            if tag in _NOUN_TAGS:
                previous = found[-1] if found else None
                if (
                    len(token.form) == 1
                    and previous is not None
                    and previous.word
                    and previous.end == token.start
                ):
                    # Kiwi splits 대여소 into 대여 + 소, 냉난방비 into 냉난방 + 비; alone, 소 and
                    # 비 match unrelated words (보호소, 진료비). Keep the compound and its stem.
                    parts = (*previous.parts, previous.lemma) if len(previous.lemma) > 1 else ()
                    found[-1] = _Morpheme(
                        previous.lemma + token.form, previous.start, token.end, True, parts
                    )
                else:
                    found.append(_Morpheme(token.form, token.start, token.end, True))
            elif tag in _STEM_TAGS:
                found.append(_Morpheme(token.lemma, token.start, token.end, False))
            elif tag == "SN" and index + 1 < len(tokens):
                counter = tokens[index + 1]
                if counter.tag in _COUNTER_TAGS and counter.start == token.end:
                    found.append(
                        _Morpheme(token.form + counter.form, token.start, counter.end, True)
                    )
                    skip_next = True
        return sorted([*latin, *found], key=lambda m: m.start)

    def _fold(self, text: str, morphemes: Sequence[_Morpheme]) -> list[_Morpheme]:
        """Replace synonym variants, also when spelled as several adjacent morphemes."""
        folded: list[_Morpheme] = []
        index = 0
        while index < len(morphemes):
            for size in range(min(_LONGEST_SYNONYM, len(morphemes) - index), 0, -1):
                run = morphemes[index : index + size]
                if size > 1 and not _joinable(text, run):
                    continue
                canonical = self._synonyms.get("".join(m.lemma for m in run))
                if canonical is not None:
                    folded.append(_Morpheme(canonical, run[0].start, run[-1].end, run[0].word))
                    index += size
                    break
            else:
                folded.append(morphemes[index])
                index += 1
        return folded


def _joinable(text: str, run: Sequence[_Morpheme]) -> bool:
    # Words of one compound: nouns separated by nothing or by spacing only ("공공 자전거").
    return all(m.word for m in run) and all(
        not text[a.end : b.start].strip() for a, b in itertools.pairwise(run)
    )


def _terms(text: str, words: Sequence[_Morpheme]) -> str:
    # Morphemes with nothing between them were one word ("대여" + "소" → "대여소").
    groups: list[list[_Morpheme]] = []
    for morpheme in words:
        if groups and groups[-1][-1].end == morpheme.start:
            groups[-1].append(morpheme)
        else:
            groups.append([morpheme])
    return normalize_text(" ".join(text[group[0].start : group[-1].end] for group in groups))


_default_analyzer = KoreanAnalyzer()


def default_analyzer() -> KoreanAnalyzer:
    """The process-wide analyser (the Kiwi model is loaded at most once per process)."""
    return _default_analyzer


def index_fields(
    title: str, body: str, *, analyzer: KoreanAnalyzer | None = None
) -> tuple[list[str], str]:
    """``(lemmas, search_text)`` to store with a proposal of this title and body.

    CPU-bound (about 10 ms per 1,000 characters, plus ~1 s once per process while the model
    loads): call it from a worker thread in async code (``asyncio.to_thread``).
    """
    analyzer = analyzer or _default_analyzer
    combined = f"{title}\n{body}"
    return analyzer.lemmas(combined), normalize_text(combined)


@dataclass(frozen=True, slots=True)
class SimilarProposal:
    """A proposal resembling the query text, with its score in [0, 1]."""

    id: uuid.UUID
    title: str
    score: float
    status: str


class TrigramSupportError(RuntimeError):
    """The database cannot make trigrams of Hangul, so similar-proposal search would be blind."""


async def check_trigram_support(session: AsyncSession) -> None:
    """Fail loudly unless pg_trgm is installed and the database's ctype classifies Hangul.

    Under ``LC_CTYPE=C`` (CloudNativePG's default) pg_trgm sees no letters in Hangul and
    ``show_trgm('한글')`` is empty: every Korean similarity is 0 and nothing raises. Run this at
    startup (readiness) so such a database is noticed at once.
    """
    installed = await session.scalar(
        sql("SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_trgm')")
    )
    if not installed:
        raise TrigramSupportError("extension pg_trgm is not installed in this database")
    row = (
        await session.execute(
            sql(
                "SELECT show_trgm('한글') <> '{}'::text[] AS ok, datctype FROM pg_database "
                "WHERE datname = current_database()"
            )
        )
    ).one()
    if not row.ok:
        raise TrigramSupportError(
            f"pg_trgm makes no trigrams of Hangul in this database (LC_CTYPE={row.datctype!r}); "
            "create the database with a UTF-8 ctype such as C.UTF-8 "
            "(CloudNativePG: spec.bootstrap.initdb.localeCType: C.UTF-8)"
        )


# Settings for the search statement only (find_similar rolls back a savepoint afterwards, which
# undoes them; the caller's transaction keeps its own):
# - the word-similarity threshold of the trigram candidates;
# - no sequential scan: pg_trgm's functions are costed like a comparison, so up to tens of
#   thousands of rows the planner prefers scanning the table, computing word_similarity on every
#   row (measured: 140 ms at 10,000 rows, against 5 ms through the two GIN indexes);
# - a plan for the actual lemmas: a generic plan cannot tell a rare lemma from a common one.
_SEARCH_SETTINGS = sql(
    "SELECT set_config('pg_trgm.word_similarity_threshold', :threshold, true), "
    "set_config('enable_seqscan', 'off', true), "
    "set_config('plan_cache_mode', 'force_custom_plan', true)"
)

# Candidates come from either GIN index (a shared lemma, or the query terms' trigrams found in the
# text); the lemma score is computed for all of them (cheap: arrays of distinct lemmas), the
# trigram score only for the SHORTLIST best by lemma score (word_similarity costs ~20 µs per
# proposal and grows with its length), so the work stays bounded when a query has common words.
_FIND_SIMILAR = sql(
    """
    WITH candidates AS MATERIALIZED (
        SELECT p.id, p.created_at,
               (SELECT count(*) FROM unnest(p.lemmas) AS l(lemma) WHERE l.lemma = ANY(:lemmas))
                   / sqrt(GREATEST(cardinality(p.lemmas), 1) * :n_query) AS lemma_score
          FROM proposals AS p
         WHERE (p.lemmas && :lemmas OR :terms <% p.search_text)
           AND p.status <> ALL(:excluded)
           AND (CAST(:exclude_id AS uuid) IS NULL OR p.id <> :exclude_id)
    ), shortlist AS MATERIALIZED (
        SELECT id, lemma_score FROM candidates
         ORDER BY lemma_score DESC, created_at DESC, id
         LIMIT :shortlist
    ), scored AS MATERIALIZED (
        SELECT p.id, p.title, p.status, p.created_at,
               round(CAST(:lemma_weight * s.lemma_score
                          + :trigram_weight * word_similarity(:terms, p.search_text)
                          AS numeric), 3) AS score
          FROM shortlist AS s JOIN proposals AS p ON p.id = s.id
    )
    SELECT id, title, status, score
      FROM scored
     WHERE score >= :min_score
     ORDER BY score DESC, created_at DESC, id
     LIMIT :limit
    """
).bindparams(
    bindparam("lemmas", type_=ARRAY(TEXT)),
    bindparam("excluded", type_=ARRAY(TEXT)),
    bindparam("exclude_id", type_=UUID(as_uuid=True)),
)


async def find_similar(
    session: AsyncSession,
    text: str,
    *,
    limit: int = 5,
    exclude_id: uuid.UUID | None = None,
    min_score: float = MIN_SCORE,
    analyzer: KoreanAnalyzer | None = None,
) -> list[SimilarProposal]:
    """Proposals resembling ``text``, best first: at most ``limit``, each scoring >= ``min_score``.

    ``text`` is whatever the citizen wrote (a title, or title and body). Withdrawn and hidden
    proposals are never returned, nor ``exclude_id`` (the proposal being compared). Text without
    content (empty, emoji, only a request formula) finds nothing. Equal scores are ordered newer
    first, then by id, so results are deterministic.

    Runs inside the caller's transaction, in a savepoint that is rolled back at the end, so the
    planner settings it needs do not leak into the rest of the transaction. Pending ORM changes
    are flushed first (a proposal being created is then visible: pass its id as ``exclude_id``).
    """
    if limit <= 0:
        return []
    analyzer = analyzer or _default_analyzer
    # CPU work (and the first call loads the model for ~1 s): keep it off the event loop.
    analysis = await asyncio.to_thread(analyzer.analyze, text)
    if not analysis.lemmas:
        return []
    params = {
        "lemmas": list(analysis.lemmas),
        "n_query": len(analysis.lemmas),
        # Terms are empty when the text has only verbs ("늘려 주세요"); an empty trigram query
        # would make the GIN index return every row, so fall back on the lemmas.
        "terms": analysis.terms or " ".join(analysis.lemmas),
        "excluded": list(EXCLUDED_STATUSES),
        "exclude_id": exclude_id,
        "lemma_weight": LEMMA_WEIGHT,
        "trigram_weight": TRIGRAM_WEIGHT,
        "shortlist": max(SHORTLIST, limit),
        "min_score": min_score,
        "limit": limit,
    }
    savepoint = await session.begin_nested()
    try:
        await session.execute(_SEARCH_SETTINGS, {"threshold": str(TRIGRAM_THRESHOLD)})
        rows = (await session.execute(_FIND_SIMILAR, params)).all()
    finally:
        await savepoint.rollback()
    return [
        SimilarProposal(id=row.id, title=row.title, score=float(row.score), status=row.status)
        for row in rows
    ]
