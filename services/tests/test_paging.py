"""services.paging: the UUID keyset cursors identity-svc and vote-svc hand out."""

from __future__ import annotations

import uuid

import pytest

from services.paging import decode_cursor, encode_cursor
from services.problems import ProblemError


def test_cursor_round_trips_and_is_opaque_base64url() -> None:
    after = uuid.UUID("6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f")
    cursor = encode_cursor(after)
    assert "=" not in cursor
    assert str(after) not in cursor
    assert decode_cursor(cursor) == after


@pytest.mark.parametrize("cursor", [None, ""])
def test_no_cursor_means_the_first_page(cursor: str | None) -> None:
    assert decode_cursor(cursor) is None


@pytest.mark.parametrize("cursor", ["not a cursor!", "AAAA"])
def test_bad_cursor_is_a_400_invalid_cursor_problem(cursor: str) -> None:
    with pytest.raises(ProblemError) as caught:
        decode_cursor(cursor)
    assert (caught.value.status, caught.value.slug) == (400, "invalid-cursor")
