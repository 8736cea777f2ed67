"""Signed tree heads: the ledger's Ed25519 signature over (tree size, root, time).

A head says "at ``timestamp`` the log held ``tree_size`` records and its Merkle root was
``root``". The bytes signed are (docs/verification.md, "Signed tree heads")::

    b"democracy-seoul-ledger-sth-v1\\n" + JSON

where JSON is ``{"root":"<64 lowercase hex>","timestamp":"YYYY-MM-DDTHH:MM:SS.mmmZ","tree_size":<n>}``
with keys in this (ascending) order, no whitespace and ``tree_size`` a plain decimal integer. The
prefix keeps a head's signature from ever being mistaken for a signature over anything else.

Heads travel as the JSON of ``GET /v1/ledger/head``; public keys as JWKs (RFC 8037, ``OKP`` /
``Ed25519``). Key generation and storage belong to the caller.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

SIGNING_CONTEXT = b"democracy-seoul-ledger-sth-v1\n"
SIGNATURE_SIZE = 64
ROOT_SIZE = 32

_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
_HEX_ROOT = re.compile(r"^[0-9a-f]{64}$")
_BASE64_SIGNATURE = re.compile(r"^[A-Za-z0-9+/]{86}==$")
_BASE64URL_KEY = re.compile(r"^[A-Za-z0-9_-]{43}$")


class InvalidTreeHead(ValueError):
    """Values or JSON that do not make a well-formed tree head."""


class InvalidKey(ValueError):
    """A JWK that is not an Ed25519 public key."""


# --- Timestamps --------------------------------------------------------------------------------


def normalise_timestamp(moment: datetime) -> datetime:
    """``moment`` in UTC, truncated to whole milliseconds (what a head can carry)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidTreeHead("timestamp must be timezone-aware")
    utc = moment.astimezone(UTC)
    return utc - timedelta(microseconds=utc.microsecond % 1000)


def format_timestamp(moment: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.mmmZ`` (UTC, exactly three fractional digits)."""
    t = normalise_timestamp(moment)
    return (
        f"{t.year:04d}-{t.month:02d}-{t.day:02d}T{t.hour:02d}:{t.minute:02d}:{t.second:02d}"
        f".{t.microsecond // 1000:03d}Z"
    )


def parse_timestamp(text: str) -> datetime:
    """The inverse of :func:`format_timestamp`; any other spelling is refused."""
    if not isinstance(text, str) or not _TIMESTAMP.fullmatch(text):
        raise InvalidTreeHead("timestamp must be YYYY-MM-DDTHH:MM:SS.mmmZ")
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    except ValueError as exc:
        raise InvalidTreeHead(f"timestamp is not a valid time: {text}") from exc


# --- Heads -------------------------------------------------------------------------------------


def _check_values(tree_size: int, root: bytes, timestamp: datetime) -> None:
    if isinstance(tree_size, bool) or not isinstance(tree_size, int) or tree_size < 0:
        raise InvalidTreeHead("tree_size must be a non-negative integer")
    if not isinstance(root, bytes) or len(root) != ROOT_SIZE:
        raise InvalidTreeHead("root must be 32 bytes")
    if not isinstance(timestamp, datetime) or normalise_timestamp(timestamp) != timestamp:
        raise InvalidTreeHead("timestamp must be UTC with millisecond precision")
    if timestamp.utcoffset() != timedelta(0):
        raise InvalidTreeHead("timestamp must be UTC")


def signing_input(tree_size: int, root: bytes, timestamp: datetime) -> bytes:
    """The exact bytes a tree head's signature covers (see the module docstring)."""
    _check_values(tree_size, root, timestamp)
    body = json.dumps(
        {"root": root.hex(), "timestamp": format_timestamp(timestamp), "tree_size": tree_size},
        sort_keys=True,
        separators=(",", ":"),
    )
    return SIGNING_CONTEXT + body.encode("ascii")


@dataclass(frozen=True)
class TreeHead:
    """A signed statement of the log's size and root at a moment."""

    tree_size: int
    root: bytes
    timestamp: datetime
    key_id: str
    signature: bytes

    def __post_init__(self) -> None:
        _check_values(self.tree_size, self.root, self.timestamp)
        if not isinstance(self.key_id, str) or not self.key_id:
            raise InvalidTreeHead("key_id must be a non-empty string")
        if not isinstance(self.signature, bytes) or len(self.signature) != SIGNATURE_SIZE:
            raise InvalidTreeHead("signature must be 64 bytes (Ed25519)")

    def signing_input(self) -> bytes:
        """The bytes :attr:`signature` covers."""
        return signing_input(self.tree_size, self.root, self.timestamp)

    def to_json(self) -> dict[str, object]:
        """The body of ``GET /v1/ledger/head``."""
        return {
            "tree_size": self.tree_size,
            "root": self.root.hex(),
            "timestamp": format_timestamp(self.timestamp),
            "signature": base64.b64encode(self.signature).decode("ascii"),
            "key_id": self.key_id,
        }

    @classmethod
    def from_json(cls, data: object) -> TreeHead:
        """Parse :meth:`to_json`'s shape strictly; members beyond the five are ignored."""
        if not isinstance(data, Mapping):
            raise InvalidTreeHead("a tree head is a JSON object")
        missing = {"tree_size", "root", "timestamp", "signature", "key_id"} - set(data)
        if missing:
            raise InvalidTreeHead(f"tree head lacks {sorted(missing)}")
        tree_size, root, signature = data["tree_size"], data["root"], data["signature"]
        if isinstance(tree_size, bool) or not isinstance(tree_size, int):
            raise InvalidTreeHead("tree_size must be an integer")
        if not isinstance(root, str) or not _HEX_ROOT.fullmatch(root):
            raise InvalidTreeHead("root must be 64 lowercase hex digits")
        if not isinstance(signature, str) or not _BASE64_SIGNATURE.fullmatch(signature):
            raise InvalidTreeHead("signature must be the base64 of 64 bytes")
        timestamp = data["timestamp"]
        if not isinstance(timestamp, str):
            raise InvalidTreeHead("timestamp must be a string")
        key_id = data["key_id"]
        if not isinstance(key_id, str):
            raise InvalidTreeHead("key_id must be a string")
        return cls(
            tree_size=tree_size,
            root=bytes.fromhex(root),
            timestamp=parse_timestamp(timestamp),
            key_id=key_id,
            signature=base64.b64decode(signature, validate=True),
        )


def sign_head(
    private_key: Ed25519PrivateKey,
    key_id: str,
    tree_size: int,
    root: bytes,
    timestamp: datetime,
) -> TreeHead:
    """Sign a head; ``timestamp`` is converted to UTC and truncated to milliseconds first."""
    moment = normalise_timestamp(timestamp)
    signature = private_key.sign(signing_input(tree_size, root, moment))
    return TreeHead(tree_size, root, moment, key_id, signature)


def verify_head(head: TreeHead, public_key: Ed25519PublicKey) -> bool:
    """Is ``head.signature`` the signature of ``public_key`` over the head's signing input?
    (The key id is not checked here; choose the key by it.)"""
    try:
        public_key.verify(head.signature, head.signing_input())
    except InvalidSignature:
        return False
    return True


# --- Keys as JWK -------------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _raw(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def public_jwk(public_key: Ed25519PublicKey, kid: str) -> dict[str, str]:
    """The public key as a JWK: ``{"kty":"OKP","crv":"Ed25519","x":...,"kid":...}`` plus
    ``"alg":"EdDSA"`` and ``"use":"sig"``."""
    return {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": _b64url(_raw(public_key)),
        "kid": kid,
        "alg": "EdDSA",
        "use": "sig",
    }


def jwk_thumbprint(public_key: Ed25519PublicKey) -> str:
    """RFC 7638 thumbprint (base64url SHA-256 of the required members): a stable key id if the
    caller wants one derived from the key itself."""
    required = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(_raw(public_key))}
    canonical = json.dumps(required, sort_keys=True, separators=(",", ":")).encode("ascii")
    return _b64url(hashlib.sha256(canonical).digest())


def public_key_from_jwk(jwk: object) -> Ed25519PublicKey:
    """The Ed25519 public key of a JWK; anything else (other key types, private members,
    malformed ``x``) raises :class:`InvalidKey`."""
    if not isinstance(jwk, Mapping):
        raise InvalidKey("a JWK is a JSON object")
    if jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
        raise InvalidKey('expected "kty": "OKP" and "crv": "Ed25519"')
    if "d" in jwk:
        raise InvalidKey("the JWK holds private key material; publish only the public part")
    if jwk.get("alg", "EdDSA") != "EdDSA" or jwk.get("use", "sig") != "sig":
        raise InvalidKey('"alg" must be "EdDSA" and "use" must be "sig" when present')
    x = jwk.get("x")
    if not isinstance(x, str) or not _BASE64URL_KEY.fullmatch(x):
        raise InvalidKey('"x" must be the unpadded base64url of 32 bytes')
    try:
        raw = base64.urlsafe_b64decode(x + "=")
        return Ed25519PublicKey.from_public_bytes(raw)
    except (binascii.Error, ValueError) as exc:
        raise InvalidKey('"x" is not an Ed25519 public key') from exc


def keys_by_id(jwks: Iterable[object]) -> dict[str, Ed25519PublicKey]:
    """Index JWKs by ``kid``; raises :class:`InvalidKey` on a malformed key or a missing or
    repeated ``kid``."""
    keys: dict[str, Ed25519PublicKey] = {}
    for jwk in jwks:
        if not isinstance(jwk, Mapping):
            raise InvalidKey("a JWK is a JSON object")
        key = public_key_from_jwk(jwk)
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidKey('every key needs a "kid"')
        if kid in keys:
            raise InvalidKey(f"two keys share the kid {kid!r}")
        keys[kid] = key
    return keys
