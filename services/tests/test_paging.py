"""services.paging: the UUID keyset cursors identity-svc and vote-svc hand out, and composite
keyset cursors."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from services.db import create_engine
from services.paging import after_keyset, decode_cursor, decode_keyset, encode_cursor, encode_keyset
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


def test_a_composite_keyset_round_trips_with_its_types() -> None:
    at = datetime(2026, 12, 2, 7, 30, 1, 123456, tzinfo=UTC)
    pid = uuid.uuid4()
    cursor = encode_keyset([57, at, pid])
    assert "=" not in cursor
    assert decode_keyset(cursor, (int, datetime, uuid.UUID)) == (57, at, pid)
    assert decode_keyset(None, (int,)) is None


@pytest.mark.parametrize(
    "values",
    [
        ["57", "2026-12-02T07:30:01+00:00", str(uuid.UUID(int=1))],  # a string where an int goes
        [57, "2026-12-02T07:30:01", str(uuid.UUID(int=1))],  # a naive time
        [57, "2026-12-02T07:30:01+00:00"],  # too short
        [True, "2026-12-02T07:30:01+00:00", str(uuid.UUID(int=1))],  # a bool is no count
    ],
)
def test_a_keyset_of_the_wrong_shape_is_a_400_invalid_cursor(values: list[object]) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps(values).encode()).decode().rstrip("=")
    with pytest.raises(ProblemError) as caught:
        decode_keyset(cursor, (int, datetime, uuid.UUID))
    assert (caught.value.status, caught.value.slug) == (400, "invalid-cursor")


async def test_after_keyset_pages_through_rows_in_descending_order(
    service_env: dict[str, str],
) -> None:
    engine = create_engine(service_env["database_url"])
    try:
        async with engine.connect() as conn:
            rows = [(count, uuid.UUID(int=i)) for i, count in enumerate([3, 3, 2, 2, 2, 1], 1)]
            values = sa.values(sa.column("n", sa.Integer), sa.column("id", sa.Uuid), name="t")
            table = values.data(rows).alias("t")
            order = (table.c.n.desc(), table.c.id.desc())
            seen: list[tuple[int, uuid.UUID]] = []
            key = None
            while True:
                query = sa.select(table.c.n, table.c.id).order_by(*order).limit(2)
                if key is not None:
                    query = query.where(after_keyset([table.c.n, table.c.id], key))
                page = [(r.n, r.id) for r in (await conn.execute(query)).all()]
                if not page:
                    break
                seen += page
                key = decode_keyset(encode_keyset(page[-1]), (int, uuid.UUID))
    finally:
        await engine.dispose()
    assert seen == sorted(rows, reverse=True)
