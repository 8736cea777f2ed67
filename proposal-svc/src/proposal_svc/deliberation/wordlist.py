"""The word list that holds a comment for review when it is posted (``PROPOSAL_COMMENT_HELD_WORDS``).

Korean glues particles, endings and other words onto a word, so a listed word is not found by
looking for its letters: 시발 ("starting", in 시발점 and 시발역) and 등신 (in 등신대, "life-size")
are ordinary words that contain listed syllables. A listed Korean word therefore matches only
at the *start* of a run of Hangul syllables (an eojeol with its punctuation cut away), optionally
after an intensifying prefix (개-, 왕-, 썅-), and only when everything after it in the run is
made of :data:`TAIL_UNITS` -- particles, the copula and its endings, light verbs (하다, 같다,
스럽다), plural 들 and words that glue onto insults (놈, 새끼) -- or of other listed words. So
씨발놈아 (씨발 + 놈 + 아), 병신같은 (병신 + 같 + 은) and 개새끼들아 are held; 시발점 (점 is no tail),
질병신고 (병신 is not at the start) and 한남충전소 (전소 is no tail) are not. 1956년 병신년 (the
year's name) is not held either: 년 is deliberately no tail unit.

Why not Kiwi, which the similarity search uses: its dictionary knows some insults as words of
their own and splits others, so token boundaries do not say what we need (씨발놈 is one token, so
a rule on tokens misses it; 시발역 is 시발 + 역, so a rule on tokens holds it).

Latin words match whole words, case-insensitively, with an English inflection at most (fuck,
fucking, fucked; not Scunthorpe nor "flame retardant"). Text is NFKC-folded before matching, so
full-width letters (U+FF41...) are found too. Known gaps, left to citizens' reports: letters spaced
or punctuated apart (씨 발, f.u.c.k), a listed word glued after an ordinary one (이런씨발), and
initials (ㅅㅂ).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Final

#: The default list: unambiguous Korean insults and slurs, and English ones. Words with an
#: ordinary meaning as well (시발 "starting", 꺼져 "turned off", 닥쳐 "approaching", 새끼 "young
#: animal", 미친 "crazy, madly") are deliberately not listed.
DEFAULT_HELD_WORDS: Final[tuple[str, ...]] = (
    "씨발", "씨팔", "씨벌", "개새끼", "병신", "지랄", "좆", "존나", "등신", "미친놈", "미친년",
    "썅년", "느금마", "한남충", "김치녀", "틀딱", "급식충",
    "fuck", "motherfucker", "shit", "bitch", "asshole", "bastard", "cunt", "retard",
)  # fmt: skip

#: What may follow a listed Korean word inside one eojeol, in any sequence.
TAIL_UNITS: Final[frozenset[str]] = frozenset(
    # particles
    "이 가 은 는 을 를 의 에 에게 에게서 한테 한테서 께 께서 에서 로 으로 로서 으로서 로써 으로써 "
    "와 과 랑 이랑 하고 도 만 까지 부터 마저 조차 처럼 보다 이나 나 이든 든 이라도 라도 야 아 "
    "여 이여 요 이요 만큼 밖에 뿐 이며 며 이란 란 이라는 라는 "
    # the copula and endings
    "이다 다 이야 이네 네 이지 지 이고 고 이라 라 이라고 라고 이라니 라니 이냐 냐 이니 니 "
    "이군 군 이구나 구나 이에요 예요 에요 이었 였 었 인 임 이죠 죠 인데 데 인가 가요 인지 "
    "일 이세요 세요 입니다 니다 이래 래 이면 면 이잖아 잖아 어 게 서 "
    # light verbs and adjectives glued on: 지랄하네, 병신같은, 좆같네, 병신스럽다
    "하 한 할 함 해 했 하는 하네 하지 하냐 하니 해라 하세요 합니다 하면 해서 하게 "
    "같 같은 같이 같네 같다 같아 같고 같음 스럽 스러운 스러워 스럽다 스럽네 "
    # glued nouns: 개새끼들, 씨발놈, 병신새끼, 지랄짓
    "들 놈 년들 새끼 짓".split()
)
#: Intensifiers glued in front: 개병신, 왕지랄.
PREFIXES: Final[tuple[str, ...]] = ("", "개", "왕", "썅")
_LONGEST_UNIT: Final = max(len(unit) for unit in TAIL_UNITS)
_HANGUL_RUN: Final = re.compile(r"[가-힣]+")
_LATIN_WORD: Final = re.compile(r"[a-z]+")
_LATIN_ENTRY: Final = re.compile(r"[a-z]+")
_HANGUL_ENTRY: Final = re.compile(r"[가-힣]+")
#: English inflections a listed Latin word may carry.
_LATIN_SUFFIXES: Final = ("", "s", "es", "ed", "er", "ers", "ing", "in", "y", "ty")


def normalize_entry(word: str) -> str:
    """A list entry as it is matched: NFKC, lower case, trimmed. ValueError unless it is one
    Korean word (Hangul syllables) or one Latin word (letters a-z)."""
    entry = unicodedata.normalize("NFKC", word).strip().casefold()
    if not (_LATIN_ENTRY.fullmatch(entry) or _HANGUL_ENTRY.fullmatch(entry)):
        raise ValueError(
            f"held word {word!r} must be one Korean word (Hangul syllables) or one Latin word"
        )
    return entry


class WordList:
    """Finds the first listed word in a text (see the module docstring for the rules)."""

    def __init__(self, words: Iterable[str]) -> None:
        entries = {normalize_entry(word) for word in words}
        self._korean = frozenset(e for e in entries if _HANGUL_ENTRY.fullmatch(e))
        self._korean_lengths = sorted({len(e) for e in self._korean}, reverse=True)
        latin = sorted((e for e in entries if _LATIN_ENTRY.fullmatch(e)), key=len, reverse=True)
        self._latin = frozenset(latin)

    def find(self, text: str) -> str | None:
        """The listed word ``text`` contains (as the entry is spelled in the list), or None."""
        folded = unicodedata.normalize("NFKC", text).casefold()
        for match in _HANGUL_RUN.finditer(folded):
            found = self._korean_at_start(match.group())
            if found is not None:
                return found
        for match in _LATIN_WORD.finditer(folded):
            word = match.group()
            for suffix in _LATIN_SUFFIXES:
                if word.endswith(suffix) and word[: len(word) - len(suffix)] in self._latin:
                    return word[: len(word) - len(suffix)]
        return None

    def _korean_at_start(self, run: str) -> str | None:
        for prefix in PREFIXES:
            if not run.startswith(prefix):
                continue
            rest = run[len(prefix) :]
            for length in self._korean_lengths:
                word = rest[:length]
                if len(word) == length and word in self._korean and self._tail(rest[length:]):
                    return word
        return None

    def _tail(self, rest: str) -> bool:
        """Whether ``rest`` splits into tail units and listed words, wholly."""
        return _splits(rest, self._korean)


def _splits(rest: str, listed: frozenset[str]) -> bool:
    # reachable[i]: rest[:i] splits into units; a tail is a few syllables, so this is tiny.
    reachable = [True] + [False] * len(rest)
    longest = max(_LONGEST_UNIT, *(len(word) for word in listed)) if listed else _LONGEST_UNIT
    for end in range(1, len(rest) + 1):
        for start in range(max(0, end - longest), end):
            piece = rest[start:end]
            if reachable[start] and (piece in TAIL_UNITS or piece in listed):
                reachable[end] = True
                break
    return reachable[-1]


@lru_cache(maxsize=8)
def word_list(words: tuple[str, ...]) -> WordList:
    """The compiled list of ``words`` (cached: the settings' list is compiled once)."""
    return WordList(words)
