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
:mod:`~proposal_svc.similarity.analysis` holds the Korean analysis and indexing,
:mod:`~proposal_svc.similarity.search` the search and the database check.
"""

from proposal_svc.similarity.analysis import (
    STOP_LEMMAS,
    SYNONYMS,
    USER_WORDS,
    KoreanAnalyzer,
    TextAnalysis,
    default_analyzer,
    index_fields,
    normalize_text,
)
from proposal_svc.similarity.search import (
    EXCLUDED_STATUSES,
    LEMMA_WEIGHT,
    MIN_SCORE,
    SHORTLIST,
    TRIGRAM_THRESHOLD,
    TRIGRAM_WEIGHT,
    SimilarProposal,
    TrigramSupportError,
    check_trigram_support,
    find_similar,
)

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
