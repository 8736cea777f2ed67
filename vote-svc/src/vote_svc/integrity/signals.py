"""The pseudonymous signals recorded with each vote (docs/integrity.md), computed on the hot
path: two HMACs and a subtraction, a few microseconds.

- ``network_hash``: HMAC-SHA256 of the client's /24 or /48 (services.client) under the *month
  key* ``HMAC-SHA256(VOTE_SIGNAL_KEY, "vote-signals/YYYY-MM")`` (the UTC month of the vote),
  cut to 128 bits. The same network hashes the same within a month and differently the next.
- ``agent_hash``: the same of the ``User-Agent`` header (the empty string when absent).
- ``account_age_hours``: whole hours from the account's creation (the token's ``since``
  claim) to the vote; None when the token does not say.
- ``age_band``: the band of the token's ``age`` claim (identity-svc's bands), ``unknown``
  without it.

Nothing else of the request is kept: no address, no user agent, no citizen id (the vote row
has that; the signal row names the vote).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from functools import lru_cache
from typing import Final

from vote_svc.integrity.limits import Caster

#: What the hash of a network or a user agent is cut to (hex digits: 128 bits).
HASH_HEX: Final = 32

#: The statement's parameters when no caster is known (nothing is recorded).
NO_SIGNALS: Final = (None, None, None, None)


@lru_cache(maxsize=4)
def month_key(secret: bytes, month: str) -> bytes:
    """The key of one UTC month (``"2026-12"``), derived from the signal secret."""
    return hmac.new(secret, f"vote-signals/{month}".encode(), hashlib.sha256).digest()


def keyed_hash(key: bytes, kind: bytes, value: str) -> str:
    """HMAC-SHA256 of ``kind``-tagged ``value`` under a month key, as 32 hex digits."""
    digest = hmac.new(key, kind + b"\0" + value.encode(), hashlib.sha256).hexdigest()
    return digest[:HASH_HEX]


def age_band(age: int | None) -> str:
    """identity-svc's band of a whole age (identity_svc.claims.age_band), ``unknown`` for None."""
    if age is None:
        return "unknown"
    if age < 14:
        return "under_14"
    if age < 18:
        return "14_17"
    if age < 30:
        return "18_29"
    if age >= 70:
        return "70_plus"
    decade = age // 10 * 10
    return f"{decade}_{decade + 9}"


def signal_params(
    secret: bytes, caster: Caster | None, cast_at: datetime
) -> tuple[str | None, str | None, int | None, str | None]:
    """The cast statement's $16..$19: network hash, user-agent hash, account age (hours), age
    band; all None (nothing recorded) without a caster."""
    if caster is None:
        return NO_SIGNALS
    key = month_key(secret, f"{cast_at.year:04d}-{cast_at.month:02d}")
    since = caster.account_since
    hours = max(int((cast_at - since).total_seconds()) // 3600, 0) if since is not None else None
    return (
        keyed_hash(key, b"net", caster.client.network),
        keyed_hash(key, b"ua", caster.client.user_agent),
        hours,
        age_band(caster.age),
    )
