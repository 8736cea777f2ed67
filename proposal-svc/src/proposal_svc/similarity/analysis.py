"""Korean text analysis for similar-proposal search: the content lemmas of a text found by Kiwi,
with Seoul synonyms folded onto one spelling, and the two search fields a proposal stores
(:func:`index_fields`). The package docstring (:mod:`proposal_svc.similarity`) explains how
they are used; docs/similarity.md the choices behind the tables below.
"""

from __future__ import annotations

import importlib
import itertools
import re
import threading
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, Protocol

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
