"""Finding similar proposals inside PostgreSQL: candidates from the lemma and trigram GIN
indexes, ranked by the score the package docstring (:mod:`proposal_svc.similarity`) gives; and
the start-up check that the database can make trigrams of Hangul."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Final

from sqlalchemy import bindparam
from sqlalchemy import text as sql
from sqlalchemy.dialects.postgresql import ARRAY, TEXT, UUID
from sqlalchemy.ext.asyncio import AsyncSession

from proposal_svc.similarity.analysis import KoreanAnalyzer, default_analyzer

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
    analyzer = analyzer or default_analyzer()
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
