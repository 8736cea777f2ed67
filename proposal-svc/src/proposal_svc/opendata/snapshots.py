"""The daily snapshots: every dataset in both formats, written once a day (Seoul's date) into
``<open_data_dir>/<YYYY-MM-DD>/`` by the ``tick`` worker, listed and served by the API.

A snapshot is written file by file under temporary names and renamed into place; its
``manifest.json`` (names, rows, bytes, SHA-256) is written last, so a directory without one is
an unfinished snapshot, which the API does not list and the next round writes again.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from proposal_svc.bootstrap import ProposalContext
from proposal_svc.opendata import export
from proposal_svc.opendata.datasets import DATASETS, FORMATS, Dataset, Format, iso

log = logging.getLogger(__name__)

#: The city's day: a snapshot is "of" a date in Korea Standard Time (UTC+9, no daylight time).
KST: Final = timezone(timedelta(hours=9), "KST")
MANIFEST: Final = "manifest.json"
#: Every file a snapshot holds, e.g. ``proposals.csv``.
FILE_NAMES: Final[tuple[str, ...]] = tuple(f"{d}.{f}" for d in DATASETS for f in FORMATS)
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass(frozen=True)
class SnapshotFile:
    name: str
    rows: int
    bytes: int
    sha256: str


@dataclass(frozen=True)
class Snapshot:
    day: date
    generated_at: datetime
    files: tuple[SnapshotFile, ...]


def today(ctx: ProposalContext) -> date:
    """The city's date now."""
    return ctx.clock.now().astimezone(KST).date()


def _day_dir(root: Path, day: date) -> Path:
    return root / day.isoformat()


async def _write_file(
    sessions: async_sessionmaker[AsyncSession],
    dataset: Dataset,
    fmt: Format,
    path: Path,
    batch_rows: int,
) -> SnapshotFile:
    rows = 0
    digest = hashlib.sha256()
    size = 0

    async def counted() -> AsyncIterator[list[dict[str, Any]]]:
        nonlocal rows
        async for batch in export.batches(sessions, dataset, batch_rows):
            rows += len(batch)
            yield batch

    partial = path.with_name(path.name + ".partial")
    with partial.open("wb") as out:
        async for chunk in export.encode(counted(), dataset, fmt):
            digest.update(chunk)
            size += len(chunk)
            await asyncio.to_thread(out.write, chunk)
    partial.replace(path)
    return SnapshotFile(path.name, rows, size, digest.hexdigest())


async def write_snapshot(
    sessions: async_sessionmaker[AsyncSession], ctx: ProposalContext, day: date
) -> Snapshot:
    """Write the snapshot of ``day`` (replacing an unfinished one) and return its manifest."""
    settings = ctx.settings
    folder = _day_dir(settings.open_data_dir, day)
    folder.mkdir(parents=True, exist_ok=True)
    generated_at = ctx.clock.now()
    files = []
    for dataset in DATASETS.values():
        for fmt in FORMATS:
            path = folder / f"{dataset.name}.{fmt}"
            files.append(
                await _write_file(sessions, dataset, fmt, path, settings.open_data_batch_rows)
            )
    snapshot = Snapshot(day, generated_at, tuple(files))
    manifest = folder / MANIFEST
    partial = manifest.with_name(MANIFEST + ".partial")
    partial.write_text(json.dumps(_manifest_json(snapshot), ensure_ascii=False, indent=2))
    partial.replace(manifest)
    return snapshot


def _manifest_json(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "date": snapshot.day.isoformat(),
        "generated_at": iso(snapshot.generated_at),
        "files": [vars(f) for f in snapshot.files],
    }


def read_manifest(root: Path, day: date) -> Snapshot | None:
    """The finished snapshot of ``day``, or None."""
    path = _day_dir(root, day) / MANIFEST
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return Snapshot(
        day=day,
        generated_at=datetime.fromisoformat(data["generated_at"]),
        files=tuple(SnapshotFile(**f) for f in data["files"]),
    )


def list_snapshots(root: Path) -> list[Snapshot]:
    """Every finished snapshot, newest first."""
    if not root.is_dir():
        return []
    found = []
    for entry in sorted(root.iterdir(), reverse=True):
        if entry.is_dir() and _DAY.match(entry.name):
            snapshot = read_manifest(root, date.fromisoformat(entry.name))
            if snapshot is not None:
                found.append(snapshot)
    return found


def snapshot_file(root: Path, day: date, name: str) -> tuple[Path, SnapshotFile] | None:
    """The file ``name`` of the finished snapshot of ``day`` and its manifest entry, or None."""
    snapshot = read_manifest(root, day)
    if snapshot is None:
        return None
    for entry in snapshot.files:
        if entry.name == name:
            return _day_dir(root, day) / name, entry
    return None


def prune(root: Path, newest: date, keep_days: int) -> list[date]:
    """Remove the snapshots older than ``keep_days`` before ``newest``; the days removed."""
    removed = []
    cutoff = newest - timedelta(days=keep_days)
    for entry in root.iterdir() if root.is_dir() else ():
        if entry.is_dir() and _DAY.match(entry.name):
            day = date.fromisoformat(entry.name)
            if day <= cutoff:
                shutil.rmtree(entry)
                removed.append(day)
    return removed


async def snapshot_round(
    sessions: async_sessionmaker[AsyncSession], ctx: ProposalContext
) -> Snapshot | None:
    """One round of the worker: write today's snapshot unless it exists, then prune; the
    snapshot written, or None."""
    day = today(ctx)
    root = ctx.settings.open_data_dir
    if read_manifest(root, day) is not None:
        return None
    snapshot = await write_snapshot(sessions, ctx, day)
    removed = prune(root, day, ctx.settings.open_data_keep_days)
    log.info("open data snapshot %s written (%d old removed)", day, len(removed))
    return snapshot
