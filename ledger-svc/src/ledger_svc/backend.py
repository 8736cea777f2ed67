"""Where batches are anchored. ``local`` keeps the anchor in ledger-svc's own database (the Merkle
log and signed tree heads are what make it checkable); ``fabric`` (next issue) submits one Fabric
transaction per batch. Both implement :class:`LedgerBackend`, and both pass the same tests."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ledger_svc.merkle import MerkleLog
from ledger_svc.models import Batch, LedgerRecord
from services.canonical import VoteRecord


@dataclass(frozen=True)
class Anchor:
    """Where a batch is anchored: a transaction id, and a block number where there are blocks."""

    backend: str
    tx_id: str
    block: int | None
    committed_at: datetime


@dataclass(frozen=True)
class BatchToAnchor:
    """What a backend anchors: the batch's position, its records and their Merkle root."""

    seq: int
    first_index: int
    records: Sequence[VoteRecord]
    batch_root: bytes
    committed_at: datetime


class LedgerBackend(Protocol):
    """The interface both backends implement."""

    name: str

    async def append_batch(self, session: AsyncSession, batch: BatchToAnchor) -> Anchor:
        """Anchor the batch (inside the caller's transaction for ``local``)."""
        ...

    async def get_anchor(self, session: AsyncSession, batch_seq: int) -> Anchor | None:
        """The anchor of a committed batch."""
        ...

    async def records_for(self, session: AsyncSession, target: str) -> list[VoteRecord]:
        """Every record of ``target`` according to the backend (the public recount's source)."""
        ...

    async def verify_anchor(self, session: AsyncSession, batch_seq: int) -> bool:
        """Whether the backend still holds the batch exactly as anchored."""
        ...


def batch_root(records: Sequence[VoteRecord]) -> bytes:
    """The Merkle root of a batch's records alone (RFC 6962 hashing)."""
    log = MerkleLog()
    for record in records:
        log.append(record.encode())
    return log.root()


class LocalBackend:
    """Anchors in our own Postgres: the tx id is the hash of (seq, batch root)."""

    name = "local"

    async def append_batch(self, session: AsyncSession, batch: BatchToAnchor) -> Anchor:
        tx_id = hashlib.sha256(f"local:{batch.seq}:".encode() + batch.batch_root).hexdigest()
        return Anchor(
            backend=self.name, tx_id=tx_id, block=batch.seq, committed_at=batch.committed_at
        )

    async def get_anchor(self, session: AsyncSession, batch_seq: int) -> Anchor | None:
        row = await session.get(Batch, batch_seq)
        if row is None:
            return None
        return Anchor(
            backend=row.backend, tx_id=row.tx_id, block=row.block, committed_at=row.committed_at
        )

    async def records_for(self, session: AsyncSession, target: str) -> list[VoteRecord]:
        rows = (
            await session.scalars(
                select(LedgerRecord.record)
                .where(LedgerRecord.target == target)
                .order_by(LedgerRecord.leaf_index)
            )
        ).all()
        return [VoteRecord.decode(r) for r in rows]

    async def verify_anchor(self, session: AsyncSession, batch_seq: int) -> bool:
        batch = await session.get(Batch, batch_seq)
        if batch is None:
            return False
        rows = (
            await session.scalars(
                select(LedgerRecord.record)
                .where(LedgerRecord.batch_seq == batch_seq)
                .order_by(LedgerRecord.leaf_index)
            )
        ).all()
        try:
            records = [VoteRecord.decode(r) for r in rows]
        except ValueError:
            return False
        expected_tx = hashlib.sha256(f"local:{batch_seq}:".encode() + batch.batch_root).hexdigest()
        return (
            len(records) == batch.size
            and batch_root(records) == batch.batch_root
            and batch.tx_id == expected_tx
        )
