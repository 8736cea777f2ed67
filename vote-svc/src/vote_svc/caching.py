"""Which public reads of vote-svc are kept and answered from memory, and what their version is
(services.http_cache; docs/api.md, "Caching"): a tally's version is its target's row and its
tally row as text, so a kept copy is never older than the last vote counted."""

from __future__ import annotations

from services.http_cache import UUID_PATTERN, CachePolicy


def _tally_version(target_type: str) -> str:
    return (
        "SELECT md5(concat_ws('|', "
        f"(SELECT g::text FROM targets g WHERE g.target_type = '{target_type}' "
        "AND g.target_id = CAST(:id AS uuid)), "
        f"(SELECT t.vote_count::text || t.by_choice::text FROM tallies t "
        f"WHERE t.target_type = '{target_type}' AND t.target_id = CAST(:id AS uuid))))"
    )


CACHE_POLICIES = (
    CachePolicy(
        "/v1/votes/tallies/proposals/{proposal_id}",
        rf"/v1/votes/tallies/proposals/(?P<id>{UUID_PATTERN})",
        1,
        5,
        3600.0,
        _tally_version("proposal"),
    ),
    CachePolicy(
        "/v1/votes/tallies/forums/{forum_id}",
        rf"/v1/votes/tallies/forums/(?P<id>{UUID_PATTERN})",
        1,
        5,
        3600.0,
        _tally_version("forum"),
    ),
)
