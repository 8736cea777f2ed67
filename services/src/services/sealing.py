"""Sealing secrets at rest with a key-encryption key (AES-256-GCM).

A sealed blob is ``nonce (12 bytes) || ciphertext+tag``; the associated data (e.g. a key id)
binds the blob to its row, so a blob copied to another row does not open.
"""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

NONCE_SIZE = 12


def seal(kek: bytes, associated: str, plaintext: bytes) -> bytes:
    """Encrypt ``plaintext`` under ``kek``, bound to ``associated``."""
    nonce = os.urandom(NONCE_SIZE)
    return nonce + AESGCM(kek).encrypt(nonce, plaintext, associated.encode())


def unseal(kek: bytes, associated: str, blob: bytes) -> bytes:
    """Open a blob made by :func:`seal` (raises ``InvalidTag`` if anything differs)."""
    return AESGCM(kek).decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], associated.encode())
