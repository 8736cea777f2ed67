"""Secrets sealed at rest open only with the same key and the same associated data."""

from __future__ import annotations

import pytest
from cryptography.exceptions import InvalidTag

from services.sealing import seal, unseal

KEK = b"k" * 32


def test_round_trip_and_fresh_nonces() -> None:
    blob = seal(KEK, "kid-1", b"private key")
    assert unseal(KEK, "kid-1", blob) == b"private key"
    assert seal(KEK, "kid-1", b"private key") != blob


@pytest.mark.parametrize(
    ("kek", "associated", "flip"),
    [(b"x" * 32, "kid-1", False), (KEK, "kid-2", False), (KEK, "kid-1", True)],
    ids=["other-key", "moved-to-another-row", "tampered"],
)
def test_anything_different_does_not_open(kek: bytes, associated: str, flip: bool) -> None:
    blob = bytearray(seal(KEK, "kid-1", b"private key"))
    if flip:
        blob[-1] ^= 1
    with pytest.raises(InvalidTag):
        unseal(kek, associated, bytes(blob))
