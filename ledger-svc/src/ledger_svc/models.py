"""ledger-svc's tables: the append-only Merkle log of vote records, its batches and anchors,
signed tree heads, signing keys, refused duplicates and audit results."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from services.consumer import InboxMessage
from services.db import Base
from services.outbox import OutboxMessage

__all__ = [
    "AuditResult",
    "Batch",
    "DuplicateReport",
    "InboxMessage",
    "LedgerRecord",
    "LedgerSigningKey",
    "MerkleNode",
    "OutboxMessage",
    "TreeHeadRecord",
]

TZ = DateTime(timezone=True)


class LedgerRecord(Base):
    """One vote's canonical record at its position in the log. Never a citizen id."""

    __tablename__ = "ledger_records"

    leaf_index: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    vote_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    target: Mapped[str] = mapped_column(String(60))
    voter_tag: Mapped[str] = mapped_column(String(64))
    choice: Mapped[str] = mapped_column(String(100))
    record: Mapped[bytes] = mapped_column(LargeBinary)
    batch_seq: Mapped[int] = mapped_column(BigInteger)
    appended_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())

    __table_args__ = (
        # The same person (tag) can be on a target once: the database refuses a second record.
        Index("uq_ledger_records_target_voter_tag", "target", "voter_tag", unique=True),
    )


class MerkleNode(Base):
    """A complete, aligned subtree's hash: level 0 are leaf hashes."""

    __tablename__ = "merkle_nodes"

    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32))


class Batch(Base):
    """Records appended together, with the anchor the backend gave them."""

    __tablename__ = "ledger_batches"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    first_index: Mapped[int] = mapped_column(BigInteger)
    size: Mapped[int] = mapped_column(Integer)
    tree_size: Mapped[int] = mapped_column(BigInteger)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    batch_root: Mapped[bytes] = mapped_column(LargeBinary(32))
    backend: Mapped[str] = mapped_column(String(10))
    tx_id: Mapped[str] = mapped_column(String(128))
    block: Mapped[int | None] = mapped_column(BigInteger)
    committed_at: Mapped[datetime] = mapped_column(TZ)
    #: The Fabric channel of the anchoring transaction (None for ``local``).
    channel: Mapped[str | None] = mapped_column(String(250))


class TreeHeadRecord(Base):
    """A signed tree head, one per batch."""

    __tablename__ = "tree_heads"

    tree_size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32))
    timestamp: Mapped[datetime] = mapped_column(TZ)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[bytes] = mapped_column(LargeBinary)


class LedgerSigningKey(Base):
    """An Ed25519 key that signs tree heads; the private key is AES-GCM encrypted with the KEK."""

    __tablename__ = "ledger_signing_keys"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    public_jwk: Mapped[dict[str, str]] = mapped_column(JSONB)
    private_key_enc: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())
    retired_at: Mapped[datetime | None] = mapped_column(TZ)


class DuplicateReport(Base):
    """A refused second record of the same (target, voter_tag)."""

    __tablename__ = "duplicate_reports"

    vote_id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    target: Mapped[str] = mapped_column(String(60), index=True)
    voter_tag: Mapped[str] = mapped_column(String(64))
    first_vote_id: Mapped[uuid.UUID]
    record: Mapped[bytes] = mapped_column(LargeBinary)
    refused_at: Mapped[datetime] = mapped_column(TZ, server_default=func.now())


class AuditResult(Base):
    """The last audit of a target (or of the ledger's own integrity, ``target = 'ledger'``)."""

    __tablename__ = "audit_results"

    target: Mapped[str] = mapped_column(String(60), primary_key=True)
    ledger_count: Mapped[int | None] = mapped_column(Integer)
    service_count: Mapped[int | None] = mapped_column(Integer)
    consistent: Mapped[bool]
    details: Mapped[dict[str, Any]] = mapped_column(JSONB)
    checked_at: Mapped[datetime] = mapped_column(TZ)
    note: Mapped[str] = mapped_column(Text, server_default="")
