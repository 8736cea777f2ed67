"""The rate limits of casting, counted on the hot path (``vote_svc.hot_path`` calls
:func:`count_cast` once per request, before its statement).

Per citizen and per client network (services.client), in one statement on a pooled driver
connection of its own (services.ratelimit.hit_on_driver: autocommit, no session), so the cost
is one round trip; none at all when both lists of rules are empty. Every vote *asked for*
counts, accepted or refused (a refused one is as much load, and repeating ``already-voted``
is what a script does); a request refused by the limit counts nothing and casts nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from sqlalchemy.ext.asyncio import AsyncEngine

from services.client import ClientInfo
from services.db import driver_connection
from services.ratelimit import RateRule, citizen_key, hit_on_driver, network_key
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


def cast_hits(
    ctx: VoteContext, citizen_id: uuid.UUID, caster: Caster | None
) -> list[tuple[str, str, Sequence[RateRule]]]:
    """The counters one vote asked for hits (a client of unknown network counts per citizen
    only)."""
    settings = ctx.settings
    hits: list[tuple[str, str, Sequence[RateRule]]] = []
    if settings.citizen_rate_limits:
        hits.append((CAST_BUCKET, citizen_key(citizen_id), settings.citizen_rate_limits))
    network = caster.client.network if caster is not None else "unknown"
    if settings.network_rate_limits and network != "unknown":
        hits.append((CAST_BUCKET, network_key(network), settings.network_rate_limits))
    return hits


async def count_cast(
    ctx: VoteContext, engine: AsyncEngine, citizen_id: uuid.UUID, caster: Caster | None
) -> None:
    """Count a vote asked for against the limits, or raise 429 ``rate-limited``."""
    hits = cast_hits(ctx, citizen_id, caster)
    if hits:
        async with driver_connection(engine) as driver:
            await hit_on_driver(driver, hits, ctx.clock.now())
