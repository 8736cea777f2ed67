"""The canonical vote record: the exact bytes a vote receipt hashes and the ledger stores.

Specified in docs/canonical-record.md so that anyone can re-implement it. A record has five
string fields and is encoded as JSON with keys sorted, no insignificant whitespace, UTF-8, and
no escaping beyond what JSON requires (RFC 8785 JCS restricted to string values):

    {"cast_at":"2026-11-24T12:00:00.123456Z","choice":"agree","target":"proposal:<uuid>",
     "vote_id":"<uuid>","voter_tag":"<64 hex>"}

It never contains a citizen id. ``voter_tag = hex(HMAC-SHA256(k_ledger, citizen_id || "|" ||
target))``: the same person has the same tag on one target (duplicates are provable) and
unlinkable tags across targets (without the key).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

TargetType = Literal["proposal", "forum"]

_TAG = re.compile(r"^[0-9a-f]{64}$")
_CAST_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
_TARGET = re.compile(
    r"^(proposal|forum):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
FIELDS = ("cast_at", "choice", "target", "vote_id", "voter_tag")
MAX_CHOICE_LENGTH = 100


class InvalidRecord(ValueError):
    """Bytes or values that are not a canonical record."""


def target_key(target_type: TargetType, target_id: uuid.UUID) -> str:
    """``proposal:<uuid>`` or ``forum:<uuid>`` (lowercase, hyphenated)."""
    return f"{target_type}:{target_id}"


def format_time(moment: datetime) -> str:
    """UTC with exactly six fractional digits and a ``Z``."""
    if moment.tzinfo is None:
        raise InvalidRecord("cast_at must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def normalise_choice(choice: str) -> str:
    """NFC, no control characters, 1..100 characters."""
    normal = unicodedata.normalize("NFC", choice)
    if not 0 < len(normal) <= MAX_CHOICE_LENGTH or any(
        unicodedata.category(c) == "Cc" for c in normal
    ):
        raise InvalidRecord("choice must be 1-100 characters without control characters")
    return normal


def voter_tag(key: bytes, citizen_id: uuid.UUID, target: str) -> str:
    """The per-target pseudonym of a voter."""
    return hmac.new(key, f"{citizen_id}|{target}".encode(), hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class VoteRecord:
    """One vote as the public ledger sees it."""

    target: str
    voter_tag: str
    vote_id: uuid.UUID
    cast_at: str
    choice: str

    def __post_init__(self) -> None:
        if not _TARGET.fullmatch(self.target):
            raise InvalidRecord("target must be proposal:<uuid> or forum:<uuid>")
        if not _TAG.fullmatch(self.voter_tag):
            raise InvalidRecord("voter_tag must be 64 lowercase hex digits")
        if not _CAST_AT.fullmatch(self.cast_at):
            raise InvalidRecord("cast_at must be YYYY-MM-DDTHH:MM:SS.ffffffZ")
        if normalise_choice(self.choice) != self.choice:
            raise InvalidRecord("choice must be NFC")

    @classmethod
    def build(
        cls, *, target: str, voter_tag: str, vote_id: uuid.UUID, cast_at: datetime, choice: str
    ) -> VoteRecord:
        """A record from typed values (normalises time and choice)."""
        return cls(target, voter_tag, vote_id, format_time(cast_at), normalise_choice(choice))

    def encode(self) -> bytes:
        """The canonical bytes."""
        values = {
            "cast_at": self.cast_at,
            "choice": self.choice,
            "target": self.target,
            "vote_id": str(self.vote_id),
            "voter_tag": self.voter_tag,
        }
        return json.dumps(
            values, ensure_ascii=False, separators=(",", ":"), sort_keys=True
        ).encode()

    def hash(self) -> str:
        """SHA-256 of the canonical bytes, hex (the receipt's ``record_hash``)."""
        return hashlib.sha256(self.encode()).hexdigest()

    @classmethod
    def decode(cls, data: bytes) -> VoteRecord:
        """Parse canonical bytes; anything that would not re-encode identically is refused."""
        try:
            values = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidRecord("not UTF-8 JSON") from exc
        if not isinstance(values, dict) or sorted(values) != list(FIELDS):
            raise InvalidRecord(f"expected exactly the fields {FIELDS}")
        if not all(isinstance(v, str) for v in values.values()):
            raise InvalidRecord("every field is a string")
        try:
            vote_id = uuid.UUID(values["vote_id"])
        except ValueError as exc:
            raise InvalidRecord("vote_id is not a UUID") from exc
        record = cls(
            values["target"], values["voter_tag"], vote_id, values["cast_at"], values["choice"]
        )
        if record.encode() != data:
            raise InvalidRecord("not in canonical form")
        return record
