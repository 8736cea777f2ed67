"""Opaque keyset-pagination cursors over a UUID key (e.g. the last citizen id of a page)."""

from __future__ import annotations

import base64
import binascii
import uuid

from services.problems import ProblemError


def encode_cursor(after: uuid.UUID) -> str:
    """An opaque page cursor: the last id of a page, base64url."""
    return base64.urlsafe_b64encode(after.bytes).rstrip(b"=").decode()


def decode_cursor(cursor: str | None) -> uuid.UUID | None:
    """The id a cursor continues after (None for no or an empty cursor: the first page), or
    400 ``invalid-cursor``."""
    if not cursor:
        return None
    try:
        return uuid.UUID(bytes=base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError):
        raise ProblemError(
            400, "invalid-cursor", "Invalid cursor", "Pass back a `next_cursor` unchanged."
        ) from None
