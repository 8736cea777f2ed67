"""Exporting a dataset: its version (for the ``ETag``), its records in keyset batches, and the
records encoded as CSV or JSON chunks.

Bounded memory: a batch of ``open_data_batch_rows`` rows is read, encoded and handed on before
the next is read (each batch a short read of its own, so a slow download holds no connection
between batches), and encoded text leaves in chunks of about :data:`CHUNK_BYTES`.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any, Final

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc.opendata.datasets import Dataset, Format, csv_value, json_value

#: The datasets' layout version, part of every ``ETag`` (bumped when a column is added).
LAYOUT_VERSION: Final = 1
CHUNK_BYTES: Final = 64 * 1024
MEDIA_TYPES: Final[dict[Format, str]] = {
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
}


async def version(session: AsyncSession, dataset: Dataset) -> str:
    """A strong ``ETag`` of the dataset as it is now: the row count and the newest row version
    (``xmin``, the id of the transaction that last wrote the row: every insert and update
    writes a newer one, every delete lowers the count). One index-free scan of the table,
    without reading or encoding the rows."""
    row = (
        await session.execute(
            text(
                "SELECT count(*), coalesce(max(xmin::text::bigint), 0) "
                f"FROM {dataset.table.name}"  # a constant of DATASETS, never input
            )
        )
    ).one()
    seed = f"{dataset.name}:{LAYOUT_VERSION}:{row[0]}:{row[1]}"
    return '"' + hashlib.sha256(seed.encode()).hexdigest()[:32] + '"'


def etag_for(dataset_etag: str, fmt: Format) -> str:
    """The ``ETag`` of one format of a dataset (CSV and JSON are different representations)."""
    return f'"{dataset_etag.strip(chr(34))}-{fmt}"'


def none_match(header: str | None, etag: str) -> bool:
    """Whether ``If-None-Match: header`` names ``etag`` (RFC 9110 §13.1.2: weak comparison)."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


async def batches(
    sessions: async_sessionmaker[AsyncSession], dataset: Dataset, batch_rows: int
) -> AsyncIterator[list[dict[str, Any]]]:
    """The dataset's records in id order, ``batch_rows`` at a time."""
    after: uuid.UUID | None = None
    while True:
        async with sessions() as session:
            rows = (await session.execute(dataset.query(after, batch_rows))).mappings().all()
        if not rows:
            return
        yield [dataset.record(r) for r in rows]
        if len(rows) < batch_rows:
            return
        after = rows[-1]["id"]


async def encode(
    records: AsyncIterator[list[dict[str, Any]]], dataset: Dataset, fmt: Format
) -> AsyncIterator[bytes]:
    """The records as UTF-8 chunks: CSV (RFC 4180, a header line, CRLF) or a JSON array."""
    buffer = io.StringIO()
    names = [c.name for c in dataset.columns]
    writer = csv.writer(buffer, lineterminator="\r\n")
    if fmt == "csv":
        writer.writerow(names)
    else:
        buffer.write("[")
    first = True
    async for batch in records:
        for record in batch:
            if fmt == "csv":
                writer.writerow([csv_value(record[n]) for n in names])
            else:
                buffer.write("\n" if first else ",\n")
                buffer.write(
                    json.dumps(
                        {n: json_value(record[n]) for n in names},
                        ensure_ascii=False,
                        separators=(",", ":"),
                    )
                )
            first = False
            if buffer.tell() >= CHUNK_BYTES:
                yield buffer.getvalue().encode()
                buffer.seek(0)
                buffer.truncate()
    if fmt == "json":
        buffer.write("\n]\n")
    if buffer.tell():
        yield buffer.getvalue().encode()


def stream(
    sessions: async_sessionmaker[AsyncSession], dataset: Dataset, fmt: Format, batch_rows: int
) -> AsyncIterator[bytes]:
    """The whole export of ``dataset`` in ``fmt``, as chunks."""
    return encode(batches(sessions, dataset, batch_rows), dataset, fmt)
