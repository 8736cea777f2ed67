"""Where batches are anchored. ``local`` keeps the anchor in ledger-svc's own database (the Merkle
log and signed tree heads are what make it checkable); ``fabric`` submits one Hyperledger Fabric
transaction per batch to a channel endorsed by two organisations. Both implement
:class:`LedgerBackend`, and both pass the same tests."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ledger_svc.fabric import (
    FabricUnavailable,
    Gateway,
    RetryPolicy,
    Timeouts,
    VotesContract,
    load_profile,
)
from ledger_svc.fabric.contract import batch_id
from ledger_svc.merkle import MerkleLog
from ledger_svc.models import Batch, LedgerRecord
from services.canonical import InvalidRecord, VoteRecord
from services.consumer import Unavailable
from services.problems import ProblemError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Anchor:
    """Where a batch is anchored: a transaction id, a block number where there are blocks, and
    the channel on Fabric."""

    backend: str
    tx_id: str
    block: int | None
    committed_at: datetime
    channel: str | None = None


class BackendUnavailable(ProblemError, Unavailable):
    """The backend cannot be reached now; the work should be kept and retried: over HTTP a 503,
    in the consumer a pause (``services.consumer.Unavailable``: the same batch is tried again,
    and the attempts do not count towards its redelivery bound)."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            503,
            "ledger-backend-unavailable",
            "The ledger's backend cannot be reached",
            detail,
            headers={"Retry-After": "5"},
        )


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

    async def readiness(self) -> str:
        """``"ok"``, or why the backend cannot take batches now (for ``/readyz``)."""
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


def batch_root(records: Sequence[VoteRecord]) -> bytes:
    """The Merkle root of a batch's records alone (RFC 6962 hashing)."""
    log = MerkleLog()
    for record in records:
        log.append(record.encode())
    return log.root()


def _anchor_of(row: Batch) -> Anchor:
    return Anchor(
        backend=row.backend,
        tx_id=row.tx_id,
        block=row.block,
        committed_at=row.committed_at,
        channel=row.channel,
    )


async def _stored_batch_records(session: AsyncSession, batch_seq: int) -> list[VoteRecord] | None:
    """The batch's records as ledger-svc's tables hold them (None if one is not canonical)."""
    rows = (
        await session.scalars(
            select(LedgerRecord.record)
            .where(LedgerRecord.batch_seq == batch_seq)
            .order_by(LedgerRecord.leaf_index)
        )
    ).all()
    try:
        return [VoteRecord.decode(r) for r in rows]
    except (InvalidRecord, ValueError):
        return None


def _local_tx_id(seq: int, root: bytes) -> str:
    return hashlib.sha256(f"local:{seq}:".encode() + root).hexdigest()


class LocalBackend:
    """Anchors in our own Postgres: the tx id is the hash of (seq, batch root)."""

    name = "local"

    async def readiness(self) -> str:
        return "ok"

    async def aclose(self) -> None:
        return None

    async def append_batch(self, session: AsyncSession, batch: BatchToAnchor) -> Anchor:
        return Anchor(
            backend=self.name,
            tx_id=_local_tx_id(batch.seq, batch.batch_root),
            block=batch.seq,
            committed_at=batch.committed_at,
        )

    async def get_anchor(self, session: AsyncSession, batch_seq: int) -> Anchor | None:
        row = await session.get(Batch, batch_seq)
        return _anchor_of(row) if row is not None else None

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
        records = await _stored_batch_records(session, batch_seq)
        if records is None:
            return False
        return (
            len(records) == batch.size
            and batch_root(records) == batch.batch_root
            and batch.tx_id == _local_tx_id(batch_seq, batch.batch_root)
        )


class FabricBackend:
    """One Fabric transaction per batch: ``RecordBatch`` of the votes chaincode, endorsed by the
    organisations the channel's policy requires; the anchor is its tx id and block."""

    name = "fabric"

    def __init__(self, contract: VotesContract, *, readiness_ttl: float = 2.0) -> None:
        self.contract = contract
        self._readiness_ttl = readiness_ttl
        self._readiness: tuple[float, str] | None = None

    @classmethod
    def connect(
        cls,
        profile_path: str,
        *,
        org: str | None = None,
        timeouts: Timeouts | None = None,
        retry: RetryPolicy | None = None,
        page_size: int = 1000,
    ) -> FabricBackend:
        """A backend on the network ``profile_path`` describes (nothing is dialled yet)."""
        gateway = Gateway(load_profile(profile_path), org=org, timeouts=timeouts, retry=retry)
        return cls(VotesContract(gateway, page_size=page_size))

    @property
    def channel(self) -> str:
        return self.contract.channel

    async def append_batch(self, session: AsyncSession, batch: BatchToAnchor) -> Anchor:
        try:
            recorded = await self.contract.record_batch(batch.seq, batch.batch_root, batch.records)
        except FabricUnavailable as exc:
            raise BackendUnavailable(str(exc)) from exc
        if recorded.duplicates:
            # Only possible if someone wrote to the chain directly: our log already refused the
            # second record of every (target, voter_tag) it holds. Keep our log as it is; the
            # audit shows the difference between the chain and the log.
            log.error(
                "fabric: batch %s: the chain refused %d record(s) the ledger accepted as first of "
                "their (target, voter_tag): %s",
                recorded.batch_id,
                len(recorded.duplicates),
                [(d.vote_id, d.first_vote_id) for d in recorded.duplicates[:20]],
            )
        answered = {
            *recorded.recorded,
            *recorded.already_recorded,
            *(d.vote_id for d in recorded.duplicates),
        }
        unanswered = [str(r.vote_id) for r in batch.records if str(r.vote_id) not in answered]
        if unanswered:
            log.error(
                "fabric: batch %s: the chain did not account for %d record(s): %s",
                recorded.batch_id,
                len(unanswered),
                unanswered[:20],
            )
        return Anchor(
            backend=self.name,
            tx_id=recorded.tx_id,
            block=recorded.block,
            committed_at=batch.committed_at,
            channel=self.channel,
        )

    async def get_anchor(self, session: AsyncSession, batch_seq: int) -> Anchor | None:
        row = await session.get(Batch, batch_seq)
        return _anchor_of(row) if row is not None else None

    async def records_for(self, session: AsyncSession, target: str) -> list[VoteRecord]:
        try:
            stored = await self.contract.records_by_target(target)
        except FabricUnavailable as exc:
            raise BackendUnavailable(str(exc)) from exc
        records: list[VoteRecord] = []
        for item in stored:
            try:
                records.append(VoteRecord.decode(item.record))
            except (InvalidRecord, ValueError):
                log.error(
                    "fabric: the chain holds a non-canonical record for %s (vote %s, tx %s)",
                    target,
                    item.vote_id,
                    item.tx_id,
                )
        return records

    async def verify_anchor(self, session: AsyncSession, batch_seq: int) -> bool:
        """The batch's stored records still hash to its batch root, and the chain holds a batch
        of that id with the same root, size and transaction."""
        batch = await session.get(Batch, batch_seq)
        if batch is None or batch.backend != self.name:
            return False
        records = await _stored_batch_records(session, batch_seq)
        if records is None or len(records) != batch.size or batch_root(records) != batch.batch_root:
            return False
        try:
            stored = await self.contract.get_batch(batch_id(batch_seq, batch.batch_root))
        except FabricUnavailable as exc:
            raise BackendUnavailable(str(exc)) from exc
        return (
            stored is not None
            and stored.root == batch.batch_root.hex()
            and stored.size == batch.size
            and stored.tx_id == batch.tx_id
        )

    async def readiness(self) -> str:
        """One query on the gateway peer (cached for a moment): "ok", or why not."""
        now = time.monotonic()
        if self._readiness is not None and now - self._readiness[0] < self._readiness_ttl:
            return self._readiness[1]
        problem = await self.contract.probe()
        status = "ok" if problem is None else f"unreachable: {problem}"
        self._readiness = (time.monotonic(), status)
        return status

    async def aclose(self) -> None:
        await self.contract.gateway.close()
