"""The ``votes`` chaincode (ledger-svc/chaincode) as typed Python calls.

Arguments and results are JSON strings (docs/ledger.md, "Fabric backend"). A batch is
``{"batch_id", "seq", "root", "records": [{"vote_id", "target", "voter_tag", "record"}]}`` where
``record`` is the base64 canonical record and ``root`` the RFC 6962 Merkle root of the records'
bytes; the chaincode recomputes the root, stores each record under (target, voter_tag), refuses
a second record of one (target, voter_tag), and keeps a per-target counter.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ledger_svc.fabric.errors import ChaincodeError, FabricError
from ledger_svc.fabric.gateway import Gateway
from services.canonical import VoteRecord


@dataclass(frozen=True)
class RefusedDuplicate:
    """A record the chaincode refused: its (target, voter_tag) already holds ``first_vote_id``."""

    vote_id: str
    first_vote_id: str


@dataclass(frozen=True)
class RecordedBatch:
    """What ``RecordBatch`` did, and where the transaction that stored the batch is."""

    batch_id: str
    tx_id: str
    block: int
    recorded: list[str]
    already_recorded: list[str]
    duplicates: list[RefusedDuplicate]


@dataclass(frozen=True)
class StoredBatch:
    """A batch as the chaincode stored it (``GetBatch``)."""

    batch_id: str
    seq: int
    root: str
    size: int
    tx_id: str
    recorded: int
    already_recorded: int
    duplicates: list[RefusedDuplicate]


@dataclass(frozen=True)
class StoredRecord:
    """A record on the chain (``GetRecord``, ``GetRecordByVote``, ``RecordsByTarget``)."""

    vote_id: str
    target: str
    voter_tag: str
    record: bytes
    batch_id: str
    tx_id: str


def batch_id(seq: int, root: bytes) -> str:
    """The chain's key of a batch: its sequence and the start of its root, so that retrying the
    same batch is idempotent and a different batch with a recycled sequence is not confused."""
    return f"{seq}-{root.hex()[:16]}"


def batch_document(seq: int, root: bytes, records: Sequence[VoteRecord]) -> str:
    """The ``RecordBatch`` argument."""
    return json.dumps(
        {
            "batch_id": batch_id(seq, root),
            "seq": seq,
            "root": root.hex(),
            "records": [
                {
                    "vote_id": str(r.vote_id),
                    "target": r.target,
                    "voter_tag": r.voter_tag,
                    "record": base64.b64encode(r.encode()).decode("ascii"),
                }
                for r in records
            ],
        },
        separators=(",", ":"),
    )


def _json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise FabricError(f"{what}: the chaincode answered with non-JSON {raw[:200]!r}") from exc


def _stored_record(data: Any) -> StoredRecord:
    return StoredRecord(
        vote_id=str(data["vote_id"]),
        target=str(data["target"]),
        voter_tag=str(data["voter_tag"]),
        record=base64.b64decode(data["record"]),
        batch_id=str(data.get("batch_id", "")),
        tx_id=str(data.get("tx_id", "")),
    )


def _stored_batch(data: Any) -> StoredBatch:
    return StoredBatch(
        batch_id=str(data["batch_id"]),
        seq=int(data["seq"]),
        root=str(data["root"]),
        size=int(data["size"]),
        tx_id=str(data.get("tx_id", "")),
        recorded=int(data.get("recorded", 0)),
        already_recorded=int(data.get("already_recorded", 0)),
        duplicates=_duplicates(data),
    )


def _duplicates(data: Any) -> list[RefusedDuplicate]:
    return [
        RefusedDuplicate(vote_id=str(d["vote_id"]), first_vote_id=str(d["first_vote_id"]))
        for d in data.get("duplicates") or []
    ]


def _is_not_found(error: ChaincodeError) -> bool:
    return "not found" in str(error).lower()


class VotesContract:
    """The votes chaincode through a :class:`Gateway`."""

    def __init__(self, gateway: Gateway, *, page_size: int = 1000) -> None:
        self.gateway = gateway
        self.page_size = page_size

    @property
    def channel(self) -> str:
        return self.gateway.channel_name

    async def record_batch(
        self,
        seq: int,
        root: bytes,
        records: Sequence[VoteRecord],
        *,
        endorsing_orgs: Sequence[str] = (),
    ) -> RecordedBatch:
        """Submit one batch; a batch already on the chain (a retry) answers its stored result
        without a new transaction."""

        def earlier(result: bytes, tx_id: str) -> str | None:
            stored = _json(result, "RecordBatch").get("tx_id")
            return str(stored) if stored else None

        committed = await self.gateway.submit(
            "RecordBatch",
            batch_document(seq, root, records),
            endorsing_orgs=endorsing_orgs,
            reuse=earlier,
        )
        data = _json(committed.result, "RecordBatch")
        return RecordedBatch(
            batch_id=str(data["batch_id"]),
            tx_id=committed.tx_id,
            block=committed.block,
            recorded=[str(v) for v in data.get("recorded") or []],
            already_recorded=[str(v) for v in data.get("already_recorded") or []],
            duplicates=_duplicates(data),
        )

    async def get_batch(self, batch_id: str) -> StoredBatch | None:
        """The stored batch, or None if the chain has no batch of that id."""
        try:
            raw = await self.gateway.evaluate("GetBatch", batch_id)
        except ChaincodeError as exc:
            if _is_not_found(exc):
                return None
            raise
        return _stored_batch(_json(raw, "GetBatch"))

    async def get_record(self, target: str, voter_tag: str) -> StoredRecord | None:
        """The record of (target, voter_tag), or None."""
        try:
            raw = await self.gateway.evaluate("GetRecord", target, voter_tag)
        except ChaincodeError as exc:
            if _is_not_found(exc):
                return None
            raise
        return _stored_record(_json(raw, "GetRecord"))

    async def get_record_by_vote(self, vote_id: str) -> StoredRecord | None:
        """The record of a vote id, or None."""
        try:
            raw = await self.gateway.evaluate("GetRecordByVote", vote_id)
        except ChaincodeError as exc:
            if _is_not_found(exc):
                return None
            raise
        return _stored_record(_json(raw, "GetRecordByVote"))

    async def count_target(self, target: str) -> int:
        """The chain's counter of ``target`` (maintained on write; no scan)."""
        return int(
            _json(await self.gateway.evaluate("CountTarget", target), "CountTarget")["count"]
        )

    async def records_by_target(self, target: str) -> list[StoredRecord]:
        """Every record of ``target``, page by page."""
        found: list[StoredRecord] = []
        bookmark = ""
        while True:
            page = _json(
                await self.gateway.evaluate(
                    "RecordsByTarget", target, str(self.page_size), bookmark
                ),
                "RecordsByTarget",
            )
            records = page.get("records") or []
            found += [_stored_record(r) for r in records]
            next_bookmark = str(page.get("bookmark") or "")
            if len(records) < self.page_size or not next_bookmark or next_bookmark == bookmark:
                return found
            bookmark = next_bookmark

    async def probe(self) -> str | None:
        """None if the gateway peer and the chaincode answer a query now, else why not."""
        return await self.gateway.probe("CountTarget", "readyz:probe")

    async def history(self, target: str, voter_tag: str) -> list[dict[str, Any]]:
        """Every write of the record key of (target, voter_tag), oldest first."""
        data = _json(await self.gateway.evaluate("History", target, voter_tag), "History")
        return list(data or [])
