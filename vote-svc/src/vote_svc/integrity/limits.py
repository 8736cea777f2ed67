"""The rate limits of casting, counted on the hot path: ``vote_svc.hot_path`` takes
:func:`cast_hits` once per request and counts them with ``services.ratelimit.hit_on_driver``
just before its statement, on the same pooled driver connection (autocommit, no session).

Per citizen and per client network (services.client), in one statement, so the cost is one
round trip; none at all when both lists of rules are empty. Every vote *asked for*
counts, accepted or refused (a refused one is as much load, and repeating ``already-voted``
is what a script does); a request refused by the limit counts nothing and casts nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from services.client import ClientInfo
from services.ratelimit import RateRule, citizen_key, network_key
from vote_svc.bootstrap import VoteContext

#: The bucket of every vote asked for (agreements and forum ballots).
CAST_BUCKET: Final = "vote.cast"


@dataclass(frozen=True, slots=True)
class Caster:
    """Who asks for a vote besides the citizen id, as the limits and the integrity signals
    see them: the client (network, user agent) and the token's ``since`` and ``age`` claims."""

    client: ClientInfo
    #: When the account was first verified (the token's ``since`` claim), if it says.
    account_since: datetime | None = None
    #: The token's ``age`` claim.
    age: int | None = None


#: One counter set a vote hits: (bucket, key, rules).
CastHit = tuple[str, str, Sequence[RateRule]]


def cast_hits(ctx: VoteContext, citizen_id: uuid.UUID, caster: Caster | None) -> list[CastHit]:
    """The counters one vote asked for hits (a client of unknown network counts per citizen
    only)."""
    settings = ctx.settings
    hits: list[CastHit] = []
    if settings.citizen_rate_limits:
        hits.append((CAST_BUCKET, citizen_key(citizen_id), settings.citizen_rate_limits))
    network = caster.client.network if caster is not None else "unknown"
    if settings.network_rate_limits and network != "unknown":
        hits.append((CAST_BUCKET, network_key(network), settings.network_rate_limits))
    return hits
