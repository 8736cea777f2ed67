"""Which public reads of proposal-svc are kept and answered from memory, and what their version is
(services.http_cache; docs/api.md, "Caching").

A version is one statement over the rows the route reads, so a kept copy is never older than the
last commit: the detail's version is a digest of the proposal's row and of its tiers, obligations
(with how many are overdue at the service clock's now, since `overdue` is computed at read
time), answers, committee
decisions and forums; a forum's, of its row and of where *now* stands between its opening and
closing times; the list's, a counter that a trigger on ``proposals`` bumps at the commit of every transaction
that inserts, updates or deletes one (migration 0003_read_versions).
"""

from __future__ import annotations

from services.http_cache import UUID_PATTERN, CachePolicy


def _rows(table: str, alias: str) -> str:
    """The rows of ``table`` of the proposal, as one text (NULL when there are none)."""
    return (
        f"(SELECT string_agg({alias}::text, ',' ORDER BY {alias}::text) FROM {table} {alias} "
        f"WHERE {alias}.proposal_id = CAST(:id AS uuid))"
    )


PROPOSAL_VERSION_SQL = (
    "SELECT md5(concat_ws('|', "
    "(SELECT p::text FROM proposals p WHERE p.id = CAST(:id AS uuid)), "
    f"{_rows('tier_crossings', 't')}, {_rows('obligations', 'o')}, "
    "(SELECT count(*) FROM obligations o WHERE o.proposal_id = CAST(:id AS uuid) "
    "AND o.fulfilled_at IS NULL AND o.due_at <= :now), "
    f"{_rows('answers', 'a')}, {_rows('committee_decisions', 'd')}, {_rows('forums', 'f')}))"
)

FORUM_VERSION_SQL = (
    "SELECT md5(f::text || (f.opens_at <= :now)::text || (f.closes_at <= :now)::text) "
    "FROM forums f WHERE f.id = CAST(:id AS uuid)"
)

LIST_VERSION_SQL = "SELECT version FROM proposal_list_version"

CACHE_POLICIES = (
    CachePolicy("/v1/proposals", r"/v1/proposals", 2, 10, 3600.0, LIST_VERSION_SQL),
    CachePolicy(
        "/v1/proposals/{proposal_id}",
        rf"/v1/proposals/(?P<id>{UUID_PATTERN})",
        2,
        10,
        3600.0,
        PROPOSAL_VERSION_SQL,
    ),
    CachePolicy(
        "/v1/forums/{forum_id}",
        rf"/v1/forums/(?P<id>{UUID_PATTERN})",
        2,
        10,
        3600.0,
        FORUM_VERSION_SQL,
    ),
)
