"""The ledger's use cases: append a batch of vote records to the Merkle log, serve receipts and
proofs, recount a target from the ledger alone, and check the log against its signed heads.

Appends are serialised by an advisory lock (one writer at a time, in the caller's transaction),
so a batch either lands whole (records, nodes, batch, anchor, tree head, events) or not at all:
a worker killed mid-batch leaves nothing, and its messages come back to be appended once.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select, text, tuple_
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ledger_svc import keys
from ledger_svc.backend import BatchToAnchor, LedgerBackend, batch_root
from ledger_svc.bootstrap import LedgerContext
from ledger_svc.merkle import (
    MerkleLog,
    appended_nodes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    nodes_needed_for_append,
    nodes_needed_for_consistency,
    nodes_needed_for_inclusion,
    nodes_needed_for_root,
    root_hash,
)
from ledger_svc.models import Batch, DuplicateReport, LedgerRecord, MerkleNode, TreeHeadRecord
from ledger_svc.treehead import TreeHead, sign_head, verify_head
from services import outbox
from services.canonical import InvalidRecord, VoteRecord
from services.events import LedgerBatchCommitted, LedgerDuplicateRefused, VoteCast
from services.problems import ProblemError

_APPEND_LOCK = text("SELECT pg_advisory_xact_lock(hashtext('ledger.append'))")
Address = tuple[int, int]


@dataclass
class AppendResult:
    """What one append did."""

    appended: int = 0
    already_recorded: int = 0
    duplicates: list[uuid.UUID] = field(default_factory=list)
    invalid: list[uuid.UUID] = field(default_factory=list)
    head: TreeHead | None = None


def record_of(event: VoteCast) -> VoteRecord:
    """The canonical record a ``vote.cast`` event carries, checked against the event."""
    try:
        data = base64.b64decode(event.record, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidRecord("record is not base64") from exc
    record = VoteRecord.decode(data)
    if (
        record.vote_id != event.vote_id
        or record.target != f"{event.target_type}:{event.target_id}"
        or record.voter_tag != event.voter_tag
        or record.hash() != event.record_hash
    ):
        raise InvalidRecord("the record does not match its event")
    return record


async def _nodes(session: AsyncSession, addresses: Iterable[Address]) -> dict[Address, bytes]:
    wanted = sorted(set(addresses))
    if not wanted:
        return {}
    rows = await session.execute(
        select(MerkleNode.level, MerkleNode.idx, MerkleNode.hash).where(
            tuple_(MerkleNode.level, MerkleNode.idx).in_(wanted)
        )
    )
    return {(r.level, r.idx): r.hash for r in rows}


def _lookup(nodes: dict[Address, bytes]) -> Callable[[int, int], bytes]:
    def lookup(level: int, index: int) -> bytes:
        try:
            return nodes[(level, index)]
        except KeyError:
            raise LedgerCorrupted(f"Merkle node ({level}, {index}) is missing") from None

    return lookup


class LedgerCorrupted(ProblemError):
    """The stored log does not add up (someone changed the tables)."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            500, "ledger-corrupted", "The ledger's stored data is inconsistent", detail
        )


async def tree_size(session: AsyncSession) -> int:
    """How many records the log holds (the size of its latest signed head)."""
    return int(
        await session.scalar(select(func.coalesce(func.max(TreeHeadRecord.tree_size), 0))) or 0
    )


async def append(
    session: AsyncSession, ctx: LedgerContext, events: Sequence[VoteCast]
) -> AppendResult:
    """Append the records of ``events`` as one batch. Votes already recorded are skipped (a
    redelivery); a second record of one (target, voter_tag) is refused and reported; a record
    that does not match its event is left out (``invalid``)."""
    result = AppendResult()
    await session.execute(_APPEND_LOCK)
    old_size = await tree_size(session)
    candidates: list[VoteRecord] = []
    for event in events:
        try:
            candidates.append(record_of(event))
        except InvalidRecord:
            result.invalid.append(event.vote_id)
    if not candidates:
        return result
    now = ctx.clock.now()
    accepted = await _screen(session, candidates, result, now)
    if accepted:
        result.head = await _append_batch(session, ctx, old_size, accepted, now)
        result.appended = len(accepted)
    return result


async def _screen(
    session: AsyncSession, candidates: Sequence[VoteRecord], result: AppendResult, now: datetime
) -> list[VoteRecord]:
    """The candidates to append: not recorded yet, and the first of their (target, voter_tag)
    (in the log or in this batch); the others are counted in ``result``, duplicates reported."""
    known_votes = set(
        (
            await session.scalars(
                select(LedgerRecord.vote_id).where(
                    LedgerRecord.vote_id.in_([r.vote_id for r in candidates])
                )
            )
        ).all()
    )
    existing_tags = {
        (row.target, row.voter_tag): row.vote_id
        for row in await session.execute(
            select(LedgerRecord.target, LedgerRecord.voter_tag, LedgerRecord.vote_id).where(
                tuple_(LedgerRecord.target, LedgerRecord.voter_tag).in_(
                    [(r.target, r.voter_tag) for r in candidates]
                )
            )
        )
    }
    accepted: list[VoteRecord] = []
    for record in candidates:
        key = (record.target, record.voter_tag)
        if record.vote_id in known_votes:
            result.already_recorded += 1
        elif key in existing_tags:
            result.duplicates.append(record.vote_id)
            await _refuse_duplicate(session, record, existing_tags[key], now)
        else:
            existing_tags[key] = record.vote_id
            known_votes.add(record.vote_id)
            accepted.append(record)
    return accepted


async def _refuse_duplicate(
    session: AsyncSession, record: VoteRecord, first: uuid.UUID, now: datetime
) -> None:
    """Report the second record of a (target, voter_tag), once (a redelivery reports nothing)."""
    inserted = await session.scalar(
        insert(DuplicateReport)
        .values(
            vote_id=record.vote_id,
            target=record.target,
            voter_tag=record.voter_tag,
            first_vote_id=first,
            record=record.encode(),
            refused_at=now,
        )
        .on_conflict_do_nothing()
        .returning(DuplicateReport.vote_id)
    )
    if inserted is not None:
        outbox.add(
            session,
            LedgerDuplicateRefused(
                target=record.target,
                voter_tag=record.voter_tag,
                vote_id=record.vote_id,
                first_vote_id=first,
                refused_at=now,
            ),
        )


async def _write_leaves(
    session: AsyncSession, seq: int, old_size: int, accepted: Sequence[VoteRecord], now: datetime
) -> bytes:
    """Store the batch's records and the Merkle nodes they complete; the new root."""
    hashes = [leaf_hash(r.encode()) for r in accepted]
    nodes = await _nodes(session, nodes_needed_for_append(old_size, len(hashes)))
    new_nodes = appended_nodes(old_size, hashes, _lookup(nodes))
    await session.execute(
        insert(MerkleNode), [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in new_nodes]
    )
    await session.execute(
        insert(LedgerRecord),
        [
            {
                "leaf_index": old_size + i,
                "vote_id": r.vote_id,
                "target": r.target,
                "voter_tag": r.voter_tag,
                "choice": r.choice,
                "record": r.encode(),
                "batch_seq": seq,
                "appended_at": now,
            }
            for i, r in enumerate(accepted)
        ],
    )
    new_size = old_size + len(accepted)
    nodes.update({(lv, ix): h for lv, ix, h in new_nodes})
    nodes.update(await _nodes(session, nodes_needed_for_root(new_size) - nodes.keys()))
    return root_hash(new_size, _lookup(nodes))


async def _append_batch(
    session: AsyncSession,
    ctx: LedgerContext,
    old_size: int,
    accepted: Sequence[VoteRecord],
    now: datetime,
) -> TreeHead:
    """Append ``accepted`` as the next batch: leaves and nodes, the backend's anchor, the batch
    row, the signed tree head and ``ledger.batch_committed``; the new head."""
    seq = int(await session.scalar(select(func.coalesce(func.max(Batch.seq), 0))) or 0) + 1
    root = await _write_leaves(session, seq, old_size, accepted, now)
    new_size = old_size + len(accepted)
    broot = batch_root(accepted)
    anchor = await ctx.backend.append_batch(
        session,
        BatchToAnchor(
            seq=seq, first_index=old_size, records=accepted, batch_root=broot, committed_at=now
        ),
    )
    session.add(
        Batch(
            seq=seq,
            first_index=old_size,
            size=len(accepted),
            tree_size=new_size,
            root=root,
            batch_root=broot,
            backend=anchor.backend,
            tx_id=anchor.tx_id,
            block=anchor.block,
            committed_at=anchor.committed_at,
            channel=anchor.channel,
        )
    )
    signer = await keys.active_key(session, ctx)
    head = sign_head(signer.private_key, signer.kid, new_size, root, now)
    session.add(
        TreeHeadRecord(
            tree_size=new_size,
            root=root,
            timestamp=head.timestamp,
            key_id=head.key_id,
            signature=head.signature,
        )
    )
    outbox.add(
        session,
        LedgerBatchCommitted(
            batch_seq=seq,
            first_index=old_size,
            size=len(accepted),
            tree_size=new_size,
            root=root.hex(),
            batch_root=broot.hex(),
            backend=anchor.backend,
            tx_id=anchor.tx_id,
            block=anchor.block,
            committed_at=anchor.committed_at,
            vote_ids=[r.vote_id for r in accepted],
        ),
    )
    return head


# --- reading -----------------------------------------------------------------------------------


def _head_of(row: TreeHeadRecord) -> TreeHead:
    return TreeHead(
        tree_size=row.tree_size,
        root=row.root,
        timestamp=row.timestamp,
        key_id=row.key_id,
        signature=row.signature,
    )


async def head_at(session: AsyncSession, size: int | None = None) -> TreeHead | None:
    """The signed head of ``size`` (the latest when None)."""
    query = select(TreeHeadRecord)
    query = (
        query.where(TreeHeadRecord.tree_size == size)
        if size is not None
        else query.order_by(TreeHeadRecord.tree_size.desc()).limit(1)
    )
    row = await session.scalar(query)
    return _head_of(row) if row is not None else None


@dataclass(frozen=True)
class Receipt:
    """A vote's inclusion proof against a signed head."""

    record: LedgerRecord
    batch: Batch
    head: TreeHead
    audit_path: list[bytes]


async def receipt(session: AsyncSession, vote_id: uuid.UUID, *, size: int | None = None) -> Receipt:
    """The receipt of ``vote_id`` against the head of ``size`` (default: the latest)."""
    record = await session.scalar(select(LedgerRecord).where(LedgerRecord.vote_id == vote_id))
    if record is None:
        raise ProblemError(
            404,
            "receipt-not-found",
            "Not recorded (yet)",
            "The vote is not in the ledger yet; receipts appear within seconds of a vote.",
        )
    head = await head_at(session, size)
    if head is None or head.tree_size <= record.leaf_index:
        raise ProblemError(
            404 if size is None else 422,
            "no-such-tree-head",
            "No signed head of that size includes this vote",
            "Ask for a tree size that a published head has, at least leaf_index + 1.",
        )
    nodes = await _nodes(session, nodes_needed_for_inclusion(record.leaf_index, head.tree_size))
    path = inclusion_proof(record.leaf_index, head.tree_size, _lookup(nodes))
    batch = await session.get(Batch, record.batch_seq)
    assert batch is not None
    return Receipt(record=record, batch=batch, head=head, audit_path=path)


async def consistency(session: AsyncSession, old_size: int, new_size: int) -> list[bytes]:
    """The consistency proof between two published heads."""
    if not 0 < old_size <= new_size:
        raise ProblemError(422, "invalid-sizes", "Need 0 < from <= to")
    for size in (old_size, new_size):
        if await head_at(session, size) is None:
            raise ProblemError(404, "no-such-tree-head", f"No signed head has tree_size {size}")
    nodes = await _nodes(session, nodes_needed_for_consistency(old_size, new_size))
    return consistency_proof(old_size, new_size, _lookup(nodes))


@dataclass(frozen=True)
class Recount:
    """A target recounted from the ledger alone."""

    target: str
    count: int
    by_choice: dict[str, int]
    duplicate_tags: int
    refused_duplicates: int


async def recount(session: AsyncSession, backend: LedgerBackend, target: str) -> Recount:
    """Count a target's records as the backend holds them; tags seen twice are counted apart."""
    records = await backend.records_for(session, target)
    tags = [r.voter_tag for r in records]
    by_choice: dict[str, int] = {}
    for r in records:
        by_choice[r.choice] = by_choice.get(r.choice, 0) + 1
    refused = int(
        await session.scalar(
            select(func.count())
            .select_from(DuplicateReport)
            .where(DuplicateReport.target == target)
        )
        or 0
    )
    return Recount(
        target=target,
        count=len(records),
        by_choice=by_choice,
        duplicate_tags=len(tags) - len(set(tags)),
        refused_duplicates=refused,
    )


async def self_check(
    session: AsyncSession, public_keys: dict[str, Ed25519PublicKey], *, chunk: int = 5000
) -> list[str]:
    """Recompute the log from the stored records and compare with the stored nodes and the
    latest signed head. Returns the problems found (empty: the log is intact)."""
    problems: list[str] = []
    head = await head_at(session)
    if head is None:
        return problems
    key = public_keys.get(head.key_id)
    if key is None or not verify_head(head, key):
        problems.append(
            f"the signature of the latest tree head (size {head.tree_size}) does not verify"
        )
    log = MerkleLog()
    index = 0
    while True:
        rows = (
            await session.execute(
                select(LedgerRecord.leaf_index, LedgerRecord.record)
                .where(LedgerRecord.leaf_index >= index)
                .order_by(LedgerRecord.leaf_index)
                .limit(chunk)
            )
        ).all()
        for row in rows:
            if row.leaf_index != len(log):
                problems.append(f"record {len(log)} is missing")
                return problems
            try:
                VoteRecord.decode(row.record)
            except InvalidRecord:
                problems.append(f"record {row.leaf_index} is not a canonical record")
            log.append(row.record)
        if len(rows) < chunk:
            break
        index = rows[-1].leaf_index + 1
    if len(log) < head.tree_size:
        problems.append(f"the head says {head.tree_size} records, the log holds {len(log)}")
        return problems
    if log.root(head.tree_size) != head.root:
        problems.append(f"the records do not hash to the signed root of tree size {head.tree_size}")
    stored_leaves = await _nodes(session, [(0, i) for i in range(min(len(log), head.tree_size))])
    changed = [
        i
        for i in range(min(len(log), head.tree_size))
        if stored_leaves.get((0, i)) != log.leaf_hash(i)
    ]
    if changed:
        problems.append(f"stored leaf hashes differ from the records at {changed[:10]}")
    return problems
