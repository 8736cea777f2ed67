"""Each vote records only pseudonymous signals, in the vote's own statement: a month-keyed HMAC
of the client's /24 or /48, one of the user agent, the account's age and the age band."""

from __future__ import annotations

import hashlib
import hmac
import uuid
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from vote_helpers import Sessions, open_proposal

from services.client import ClientInfo
from services_dev.testing.tokens import TestTokens
from vote_svc.config import VoteSettings
from vote_svc.integrity.limits import Caster
from vote_svc.integrity.models import VoteSignal
from vote_svc.integrity.signals import age_band, month_key, signal_params

UA = "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) KAKAOTALK 10.9.1"


async def _signals(sessions: Sessions) -> list[VoteSignal]:
    async with sessions() as session:
        return list(await session.scalars(select(VoteSignal)))


async def test_a_vote_records_its_pseudonymous_signals_and_nothing_else(
    client: httpx.AsyncClient, tokens: TestTokens, sessions: Sessions, vote_settings: VoteSettings
) -> None:
    proposal_id = await open_proposal(sessions)
    since = datetime.now(UTC) - timedelta(hours=5, minutes=30)
    headers = {
        **tokens.headers(uuid.uuid4(), claims={"since": int(since.timestamp()), "age": 34}),
        "X-Forwarded-For": "203.0.113.77",
        "User-Agent": UA,
    }
    response = await client.post(
        "/v1/votes/agreements", json={"proposal_id": str(proposal_id)}, headers=headers
    )
    assert response.status_code == 201, response.text
    [row] = await _signals(sessions)
    assert str(row.vote_id) == response.json()["vote_id"]
    assert (row.target_type, row.target_id) == ("proposal", proposal_id)
    assert (row.account_age_hours, row.age_band) == (5, "30_39")
    # The hashes are the month key's HMAC of the /24 and of the user agent, nothing readable.
    key = month_key(vote_settings.signal_key_bytes, f"{row.cast_at:%Y-%m}")
    expected = hmac.new(key, b"net\x00" + b"203.0.113.0/24", hashlib.sha256).hexdigest()[:32]
    assert row.network_hash == expected
    assert row.agent_hash == hmac.new(key, b"ua\x00" + UA.encode(), hashlib.sha256).hexdigest()[:32]
    assert "203.0.113" not in repr(vars(row))
    assert "iPhone" not in repr(vars(row))

    # A second vote of the same citizen is refused and records no second row.
    again = await client.post(
        "/v1/votes/agreements", json={"proposal_id": str(proposal_id)}, headers=headers
    )
    assert again.status_code == 409, again.text
    assert len(await _signals(sessions)) == 1


async def test_a_token_without_the_claims_records_unknown_age() -> None:
    caster = Caster(client=ClientInfo(network="2001:db8:1::/48", user_agent=""))
    moment = datetime(2026, 12, 2, 5, 0, tzinfo=UTC)
    network, agent, hours, band = signal_params(b"k" * 32, caster, moment)
    assert (hours, band) == (None, "unknown")
    assert network is not None
    assert len(network) == 32
    assert agent is not None
    assert signal_params(b"k" * 32, None, moment) == (None, None, None, None)


def test_the_month_key_rotates_the_hashes() -> None:
    caster = Caster(client=ClientInfo(network="203.0.113.0/24", user_agent="ua"))
    secret = b"s" * 32
    december = signal_params(secret, caster, datetime(2026, 12, 31, 23, 59, tzinfo=UTC))
    same_month = signal_params(secret, caster, datetime(2026, 12, 1, 0, 0, tzinfo=UTC))
    january = signal_params(secret, caster, datetime(2027, 1, 1, 0, 0, tzinfo=UTC))
    assert december[:2] == same_month[:2]
    assert december[0] != january[0]
    assert december[1] != january[1]
    assert signal_params(b"t" * 32, caster, datetime(2026, 12, 5, tzinfo=UTC))[0] != december[0]


def test_age_bands_are_identity_svcs() -> None:
    assert [age_band(a) for a in (None, 13, 14, 17, 18, 29, 30, 45, 69, 70, 99)] == [
        "unknown",
        "under_14",
        "14_17",
        "14_17",
        "18_29",
        "18_29",
        "30_39",
        "40_49",
        "60_69",
        "70_plus",
        "70_plus",
    ]
