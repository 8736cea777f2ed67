"""Signed tree heads: the exact signing input, Ed25519 signatures, JSON and JWK round trips."""

from __future__ import annotations

import base64
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_svc.treehead import (
    SIGNING_CONTEXT,
    InvalidKey,
    InvalidTreeHead,
    TreeHead,
    format_timestamp,
    jwk_thumbprint,
    keys_by_id,
    parse_timestamp,
    public_jwk,
    public_key_from_jwk,
    sign_head,
    signing_input,
    verify_head,
)

# RFC 8032 §7.1, TEST 1: a published key, so these vectors can be checked anywhere.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC_X = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
KEY = Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
ROOT = bytes.fromhex("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4")
WHEN = datetime(2026, 11, 24, 12, 0, 6, 500000, tzinfo=UTC)


def test_the_signing_input_is_a_prefix_and_canonical_json() -> None:
    assert signing_input(5, ROOT, WHEN) == (
        b"democracy-seoul-ledger-sth-v1\n"
        b'{"root":"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",'
        b'"timestamp":"2026-11-24T12:00:06.500Z","tree_size":5}'
    )
    assert signing_input(0, bytes(32), datetime(1, 1, 1, tzinfo=UTC)).endswith(
        b'"timestamp":"0001-01-01T00:00:00.000Z","tree_size":0}'
    )
    assert SIGNING_CONTEXT == b"democracy-seoul-ledger-sth-v1\n"


def test_the_rfc8032_key_signs_as_published() -> None:
    # RFC 8032 TEST 1 signature of the empty message: proves the key is the published one.
    assert KEY.sign(b"").hex() == (
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e3970"
        "1cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )


def test_a_signed_head_verifies_with_its_key_only() -> None:
    head = sign_head(KEY, "ledger-1", 5, ROOT, WHEN)
    assert head.signature == KEY.sign(signing_input(5, ROOT, WHEN))
    assert verify_head(head, KEY.public_key())
    assert not verify_head(head, OTHER.public_key())


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": 6},
        {"tree_size": 4},
        {"root": bytes(32)},
        {"timestamp": WHEN + timedelta(milliseconds=1)},
        {"signature": bytes(64)},
    ],
)
def test_any_change_to_a_signed_head_breaks_its_signature(change: dict[str, Any]) -> None:
    head = sign_head(KEY, "ledger-1", 5, ROOT, WHEN)
    assert not verify_head(replace(head, **change), KEY.public_key())


@settings(max_examples=40, deadline=None)
@given(bit=st.integers(min_value=0, max_value=64 * 8 - 1))
def test_any_flipped_signature_bit_fails(bit: int) -> None:
    head = sign_head(KEY, "ledger-1", 5, ROOT, WHEN)
    signature = bytearray(head.signature)
    signature[bit // 8] ^= 1 << (bit % 8)
    assert not verify_head(replace(head, signature=bytes(signature)), KEY.public_key())


def test_signing_normalises_the_time_to_utc_milliseconds() -> None:
    seoul = timezone(timedelta(hours=9))
    head = sign_head(KEY, "k", 1, ROOT, datetime(2026, 11, 24, 21, 0, 0, 123999, tzinfo=seoul))
    assert head.timestamp == datetime(2026, 11, 24, 12, 0, 0, 123000, tzinfo=UTC)
    assert head.to_json()["timestamp"] == "2026-11-24T12:00:00.123Z"
    with pytest.raises(InvalidTreeHead, match="timezone-aware"):
        sign_head(KEY, "k", 1, ROOT, datetime(2026, 11, 24))


@pytest.mark.parametrize(
    "values",
    [
        {"tree_size": -1},
        {"tree_size": True},
        {"root": bytes(31)},
        {"root": "00" * 32},
        {"timestamp": datetime(2026, 1, 1)},
        {"timestamp": datetime(2026, 1, 1, 0, 0, 0, 1, tzinfo=UTC)},
        {"timestamp": datetime(2026, 1, 1, tzinfo=timezone(timedelta(hours=9)))},
        {"key_id": ""},
        {"signature": bytes(63)},
    ],
)
def test_a_head_refuses_impossible_values(values: dict[str, Any]) -> None:
    fields: dict[str, Any] = {
        "tree_size": 1,
        "root": ROOT,
        "timestamp": WHEN,
        "key_id": "k",
        "signature": bytes(64),
    }
    with pytest.raises(InvalidTreeHead):
        TreeHead(**(fields | values))


def test_head_json_is_the_published_shape() -> None:
    head = sign_head(KEY, "ledger-1", 5, ROOT, WHEN)
    assert head.to_json() == {
        "tree_size": 5,
        "root": ROOT.hex(),
        "timestamp": "2026-11-24T12:00:06.500Z",
        "signature": base64.b64encode(head.signature).decode(),
        "key_id": "ledger-1",
    }
    assert TreeHead.from_json(head.to_json()) == head
    assert TreeHead.from_json(head.to_json() | {"extra": 1}) == head


@settings(max_examples=60, deadline=None)
@given(
    tree_size=st.integers(min_value=0, max_value=2**63),
    root=st.binary(min_size=32, max_size=32),
    moment=st.datetimes(
        min_value=datetime(2000, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    key_id=st.text(min_size=1, max_size=20),
)
def test_heads_survive_json_and_still_verify(
    tree_size: int, root: bytes, moment: datetime, key_id: str
) -> None:
    head = sign_head(KEY, key_id, tree_size, root, moment)
    again = TreeHead.from_json(head.to_json())
    assert again == head
    assert verify_head(again, KEY.public_key())
    assert parse_timestamp(format_timestamp(moment)) == head.timestamp


@pytest.mark.parametrize(
    "change",
    [
        {"tree_size": "5"},
        {"tree_size": 5.0},
        {"tree_size": True},
        {"tree_size": -1},
        {"root": ROOT.hex().upper()},
        {"root": ROOT.hex()[:-2]},
        {"root": " " + ROOT.hex()[1:]},
        {"root": ROOT.hex() + "\n"},
        {"timestamp": "2026-11-24T12:00:06.500Z\n"},
        {"timestamp": "2026-11-24T12:00:06.500+00:00"},
        {"timestamp": "2026-11-24T12:00:06.500000Z"},
        {"timestamp": "2026-11-24T12:00:06Z"},
        {"timestamp": "2026-13-24T12:00:06.500Z"},
        {"timestamp": 1764000000},
        {"signature": "not base64!"},
        {"signature": base64.b64encode(bytes(64)).decode() + "\n"},
        {"signature": base64.b64encode(bytes(63)).decode()},
        {"signature": base64.urlsafe_b64encode(b"\xff" * 64).decode()},
        {"key_id": 7},
        {"key_id": ""},
    ],
)
def test_malformed_head_json_is_refused(change: dict[str, Any]) -> None:
    document = sign_head(KEY, "ledger-1", 5, ROOT, WHEN).to_json() | change
    with pytest.raises(InvalidTreeHead):
        TreeHead.from_json(document)


@pytest.mark.parametrize("document", [None, [], "head", {"tree_size": 5}])
def test_what_is_not_a_head_object_is_refused(document: object) -> None:
    with pytest.raises(InvalidTreeHead):
        TreeHead.from_json(document)


# --- JWK -----------------------------------------------------------------------------------------


def test_public_keys_are_rfc8037_jwks() -> None:
    jwk = public_jwk(KEY.public_key(), "ledger-1")
    assert jwk == {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": RFC8032_PUBLIC_X,
        "kid": "ledger-1",
        "alg": "EdDSA",
        "use": "sig",
    }
    head = sign_head(KEY, "ledger-1", 5, ROOT, WHEN)
    assert verify_head(head, public_key_from_jwk(jwk))
    assert verify_head(head, public_key_from_jwk({"kty": "OKP", "crv": "Ed25519", "x": jwk["x"]}))


def test_the_thumbprint_is_rfc8037s() -> None:
    # RFC 8037 Appendix A.3.
    assert jwk_thumbprint(KEY.public_key()) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


@pytest.mark.parametrize(
    "change",
    [
        {"kty": "EC"},
        {"crv": "Ed448"},
        {"crv": None},
        {"d": "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"},
        {"alg": "ES256"},
        {"use": "enc"},
        {"x": RFC8032_PUBLIC_X + "="},
        {"x": RFC8032_PUBLIC_X[:-1]},
        {"x": RFC8032_PUBLIC_X + "\n"},
        {"x": RFC8032_PUBLIC_X.replace("_", "/")},
        {"x": 12},
    ],
)
def test_jwks_that_are_not_ed25519_public_keys_are_refused(change: dict[str, Any]) -> None:
    with pytest.raises(InvalidKey):
        public_key_from_jwk(public_jwk(KEY.public_key(), "k") | change)


def test_keys_are_indexed_by_kid() -> None:
    one, two = public_jwk(KEY.public_key(), "one"), public_jwk(OTHER.public_key(), "two")
    keys = keys_by_id([one, two])
    assert sorted(keys) == ["one", "two"]
    assert verify_head(sign_head(OTHER, "two", 1, ROOT, WHEN), keys["two"])
    with pytest.raises(InvalidKey, match="share"):
        keys_by_id([one, one])
    with pytest.raises(InvalidKey, match="kid"):
        keys_by_id([{k: v for k, v in one.items() if k != "kid"}])
    with pytest.raises(InvalidKey, match="JSON object"):
        keys_by_id(["one"])
