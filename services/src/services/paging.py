"""Opaque keyset-pagination cursors: over a UUID key (e.g. the last citizen id of a page), or
over a composite key (the ordering columns of a page's last row)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, literal, tuple_

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
        raise _invalid() from None


#: What a composite keyset cursor can hold, one value per ordering column.
KeyValue = int | str | datetime | uuid.UUID
KeyType = type[int] | type[str] | type[datetime] | type[uuid.UUID]


def encode_keyset(values: Sequence[KeyValue]) -> str:
    """An opaque cursor over a composite key (e.g. ``(agreement_count, created_at, id)`` of a
    page's last row), base64url of a JSON list."""
    plain = [v.isoformat() if isinstance(v, datetime) else v for v in values]
    text = json.dumps([str(v) if isinstance(v, uuid.UUID) else v for v in plain])
    return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()


def decode_keyset(cursor: str | None, types: Sequence[KeyType]) -> tuple[KeyValue, ...] | None:
    """The composite key a cursor continues after, typed as ``types`` (None for the first
    page), or 400 ``invalid-cursor`` for anything :func:`encode_keyset` did not make."""
    if not cursor:
        return None
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        if not isinstance(raw, list) or len(raw) != len(types):
            raise ValueError("wrong shape")
        return tuple(_typed(value, kind) for value, kind in zip(raw, types, strict=True))
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError):
        raise _invalid() from None


def _typed(value: object, kind: KeyType) -> KeyValue:
    if kind is datetime:
        if not isinstance(value, str):
            raise TypeError(value)
        parsed = datetime.fromisoformat(value)
        if parsed.tzinfo is None:
            raise ValueError("naive time")
        return parsed
    if kind is uuid.UUID:
        return uuid.UUID(str(value))
    if kind is int:
        if not isinstance(value, int) or isinstance(value, bool):
            raise TypeError(value)
        return value
    if not isinstance(value, str):
        raise TypeError(value)
    return value


def after_keyset(
    columns: Sequence[ColumnElement[Any]], key: Sequence[KeyValue], *, descending: bool = True
) -> ColumnElement[bool]:
    """The condition "this row comes after ``key``" for rows ordered by ``columns`` (all
    descending, or all ascending): a row-value comparison PostgreSQL answers from an index on
    the same columns."""
    left, right = tuple_(*columns), tuple_(*(literal(v) for v in key))
    return left < right if descending else left > right


def _invalid() -> ProblemError:
    return ProblemError(
        400, "invalid-cursor", "Invalid cursor", "Pass back a `next_cursor` unchanged."
    )
