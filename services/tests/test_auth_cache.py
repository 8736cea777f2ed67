"""The per-process cache of verified access tokens: it saves the signature check of a token
already verified, and serves nothing that a full verification would refuse (expired, forged,
signed with a retired key), nor remembers failures."""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from services.auth import InvalidToken, TokenVerifier

ISS = "https://democracy.seoul.example/identity"
AUD = "democracy-platform"


class Keys:
    """An in-memory key source whose keys can be rotated out (``retire``)."""

    def __init__(self) -> None:
        self.private: dict[str, ec.EllipticCurvePrivateKey] = {
            "k1": ec.generate_private_key(ec.SECP256R1())
        }
        self.asked = 0

    async def get_key(self, kid: str) -> Any:
        self.asked += 1
        if kid not in self.private:
            raise InvalidToken("unknown key id")
        return self.private[kid].public_key()


def issue(
    private: ec.EllipticCurvePrivateKey,
    *,
    kid: str = "k1",
    exp: datetime | None = None,
    **claims: Any,
) -> str:
    now = datetime.now(UTC)
    payload: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "sub": str(uuid.uuid4()),
        "iat": now,
        "exp": exp or now + timedelta(minutes=15),
        "jti": str(uuid.uuid4()),
        "typ": "access",
        "roles": ["citizen"],
        **claims,
    }
    return jwt.encode(payload, private, algorithm="ES256", headers={"kid": kid})


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def decodes(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every full verification (signature check) the verifier makes, by token."""
    calls: list[str] = []
    real: Callable[..., Any] = jwt.decode

    def counting(token: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)  # what services.auth calls
    return calls


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def test_a_verified_token_is_served_from_the_cache(keys: Keys, decodes: list[str]) -> None:
    verifier = TokenVerifier(keys, issuer=ISS, audience=AUD)
    token = issue(keys.private["k1"], roles=["citizen", "committee"], dept="교통정책과")
    first = await verifier.verify(token)
    again = [await verifier.verify(token) for _ in range(5)]
    assert decodes == [token]  # one signature check for six uses
    assert all(p == first for p in again)
    assert first.roles == frozenset({"citizen", "committee"})
    assert first.department == "교통정책과"
    # The key source is still asked on every use (a retired key must reject cached tokens).
    assert keys.asked == 6


async def test_a_cached_token_still_expires_at_exp(keys: Keys) -> None:
    """Real time, no leeway: the token is refused from its ``exp`` on, as uncached."""
    verifier = TokenVerifier(keys, issuer=ISS, audience=AUD, leeway=0)
    exp = int(time.time()) + 2
    token = issue(keys.private["k1"], exp=datetime.fromtimestamp(exp, UTC))
    await verifier.verify(token)
    assert len(verifier.cache) == 1
    await asyncio.sleep(max(0.0, exp - time.time()) + 0.05)
    with pytest.raises(InvalidToken, match="expired"):
        await verifier.verify(token)
    assert len(verifier.cache) == 0


async def test_the_cache_serves_until_exp_by_its_clock(keys: Keys, decodes: list[str]) -> None:
    now = [time.time()]
    verifier = TokenVerifier(keys, issuer=ISS, audience=AUD, clock=lambda: now[0])
    exp = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=15)
    token = issue(keys.private["k1"], exp=exp)
    await verifier.verify(token)
    now[0] = exp.timestamp() - 1
    await verifier.verify(token)
    assert len(decodes) == 1
    now[0] = exp.timestamp()  # from exp on: verified in full again, and not cached again
    await verifier.verify(token)
    assert len(decodes) == 2
    assert len(verifier.cache) == 0


async def test_a_forged_token_is_never_served_from_the_cache(
    keys: Keys, decodes: list[str]
) -> None:
    verifier = TokenVerifier(keys, issuer=ISS, audience=AUD)
    genuine = issue(keys.private["k1"])
    principal = await verifier.verify(genuine)
    header, payload, signature = genuine.split(".")
    attacker = ec.generate_private_key(ec.SECP256R1())
    claims = json.loads(_unb64(payload))
    elevated = _b64(json.dumps({**claims, "roles": ["citizen", "admin"]}).encode())
    flipped = bytearray(_unb64(signature))
    flipped[5] ^= 0x01
    forgeries = {
        # the same claims signed by someone else under our kid
        "foreign signature": ".".join(
            [header, payload, issue(attacker, **claims).rsplit(".", 1)[1]]
        ),
        # the genuine signature over edited claims
        "edited claims": f"{header}.{elevated}.{signature}",
        # one bit of the signature changed
        "altered signature": f"{header}.{payload}.{_b64(bytes(flipped))}",
        # a fresh token with the same subject and jti signed by the attacker
        "attacker's token": issue(attacker, sub=claims["sub"], jti=claims["jti"]),
    }
    for name, forged in forgeries.items():
        for _ in range(2):  # refused again: failures are not remembered either way
            with pytest.raises(InvalidToken):
                await verifier.verify(forged)
        assert decodes.count(forged) == 2, name
    assert await verifier.verify(genuine) == principal
    assert len(verifier.cache) == 1


async def test_failures_are_not_cached(keys: Keys) -> None:
    verifier = TokenVerifier(keys, issuer=ISS, audience=AUD)
    rotated_in = ec.generate_private_key(ec.SECP256R1())
    token = issue(rotated_in, kid="k2")
    with pytest.raises(InvalidToken, match="unknown key id"):
        await verifier.verify(token)
    keys.private["k2"] = rotated_in  # the key is published: the same token now verifies
    assert (await verifier.verify(token)).roles == frozenset({"citizen"})


async def test_a_retired_key_rejects_its_cached_tokens(keys: Keys) -> None:
    verifier = TokenVerifier(keys, issuer=ISS, audience=AUD)
    token = issue(keys.private["k1"])
    await verifier.verify(token)
    original = keys.private["k1"]
    # Another key served under the same kid does not vouch for the cached token.
    keys.private["k1"] = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(InvalidToken, match="token rejected"):
        await verifier.verify(token)
    keys.private["k1"] = original
    await verifier.verify(token)
    assert len(verifier.cache) == 1
    # The key is retired (gone from the JWKS): its cached tokens are refused at once.
    del keys.private["k1"]
    with pytest.raises(InvalidToken, match="unknown key id"):
        await verifier.verify(token)
    assert len(verifier.cache) == 0


async def test_the_cache_is_a_bounded_lru(keys: Keys, decodes: list[str]) -> None:
    verifier = TokenVerifier(keys, issuer=ISS, audience=AUD, cache_size=3)
    tokens = [issue(keys.private["k1"]) for _ in range(4)]
    for token in tokens[:3]:
        await verifier.verify(token)
    await verifier.verify(tokens[0])  # now the most recently used
    await verifier.verify(tokens[3])  # evicts tokens[1], the least recently used
    assert len(verifier.cache) == 3
    decodes.clear()
    for token in (tokens[0], tokens[2], tokens[3]):
        await verifier.verify(token)
    assert decodes == []
    await verifier.verify(tokens[1])
    assert decodes == [tokens[1]]
    assert len(verifier.cache) == 3


async def test_a_cache_of_size_zero_verifies_every_time(keys: Keys, decodes: list[str]) -> None:
    verifier = TokenVerifier(keys, issuer=ISS, audience=AUD, cache_size=0)
    token = issue(keys.private["k1"])
    for _ in range(3):
        await verifier.verify(token)
    assert decodes == [token] * 3
    assert len(verifier.cache) == 0
