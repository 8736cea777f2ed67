"""Request and response bodies of vote-svc (the public contract of API.md)."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from services.canonical import MAX_CHOICE_LENGTH, InvalidRecord, format_time, normalise_choice

_HEX = re.compile(r"[0-9a-f]{1,128}")

_VOTE_ID = "11111111-2222-4333-8444-555555555555"
_PROPOSAL_ID = "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f"
_FORUM_ID = "2c9d4e5f-1a2b-4c3d-8e4f-5a6b7c8d9e0f"
_CAST_AT = "2026-11-24T12:00:00.123456Z"
_RECORD_HASH = "7f10aa42510bfd4a676159bd0683c51180e26e45a88c463a0053ca5c10cf7de8"
_VOTER_TAG = "328425d282733a9dfe874ddca11949b52f40e56295bc9787b138e4f352b7703f"
_RECORD = (
    "eyJjYXN0X2F0IjoiMjAyNi0xMS0yNFQxMjowMDowMC4xMjM0NTZaIiwiY2hvaWNlIjoiYWdyZWUiLCJ0YXJnZXQiOiJw"
    "cm9wb3NhbDo2YTBmMmIxZS05M2M0LTRmN2UtOGY0YS03YTNkMmMxYjBlOWYiLCJ2b3RlX2lkIjoiMTExMTExMTEtMjIy"
    "Mi00MzMzLTg0NDQtNTU1NTU1NTU1NTU1Iiwidm90ZXJfdGFnIjoiMzI4NDI1ZDI4MjczM2E5ZGZlODc0ZGRjYTExOTQ5"
    "YjUyZjQwZTU2Mjk1YmM5Nzg3YjEzOGU0ZjM1MmI3NzAzZiJ9"
)
_RECEIPT: dict[str, Any] = {"record_hash": _RECORD_HASH, "voter_tag": _VOTER_TAG}


class AgreementCreate(BaseModel):
    """Agree (공감) with a proposal."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"proposal_id": _PROPOSAL_ID}]}
    )

    proposal_id: uuid.UUID


class BallotCreate(BaseModel):
    """A ballot in a forum: one of the forum's options."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"choice": "찬성"}]})

    choice: str = Field(
        min_length=1,
        max_length=MAX_CHOICE_LENGTH,
        description="One of the forum's `options` (compared after Unicode NFC normalisation)",
    )

    @field_validator("choice")
    @classmethod
    def _canonical_choice(cls, value: str) -> str:
        try:
            return normalise_choice(value)
        except InvalidRecord as exc:
            raise ValueError(str(exc)) from exc


class Receipt(BaseModel):
    """What lets a voter find and check their vote on the public ledger."""

    record_hash: str = Field(
        description="SHA-256 (hex) of the canonical record (docs/canonical-record.md)"
    )
    voter_tag: str = Field(
        description="HMAC(k_ledger, citizen_id || target), hex: the voter's pseudonym on this target"
    )


class FullReceipt(Receipt):
    """The receipt with the canonical record itself."""

    record: str = Field(description="Base64 of the canonical record bytes (the ledger's leaf)")


class AgreementPublic(BaseModel):
    """An accepted agreement."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "vote_id": _VOTE_ID,
                    "proposal_id": _PROPOSAL_ID,
                    "cast_at": _CAST_AT,
                    "receipt": _RECEIPT,
                }
            ]
        }
    )

    vote_id: uuid.UUID
    proposal_id: uuid.UUID
    cast_at: datetime
    receipt: Receipt


def agreement_json(
    *,
    vote_id: uuid.UUID,
    proposal_id: uuid.UUID,
    cast_at: datetime,
    record_hash: str,
    voter_tag: str,
) -> bytes:
    """The body of :class:`AgreementPublic`, written directly (the hot path's 201).

    Every value is drawn from an alphabet that needs no JSON escaping: UUIDs, lowercase hex
    digests and an RFC 3339 time (``cast_at`` exactly as in the canonical record). A test checks
    that it parses as, and equals, what the model itself would answer.
    """
    if not (_HEX.fullmatch(record_hash) and _HEX.fullmatch(voter_tag)):
        raise ValueError("record_hash and voter_tag are lowercase hex")
    return (
        f'{{"vote_id":"{vote_id}","proposal_id":"{proposal_id}",'
        f'"cast_at":"{format_time(cast_at)}",'
        f'"receipt":{{"record_hash":"{record_hash}","voter_tag":"{voter_tag}"}}}}'
    ).encode()


class BallotPublic(BaseModel):
    """An accepted forum ballot."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "vote_id": _VOTE_ID,
                    "forum_id": _FORUM_ID,
                    "choice": "찬성",
                    "cast_at": _CAST_AT,
                    "receipt": _RECEIPT,
                }
            ]
        }
    )

    vote_id: uuid.UUID
    forum_id: uuid.UUID
    choice: str
    cast_at: datetime
    receipt: Receipt


class VotePublic(BaseModel):
    """A vote as its voter sees it, with the full receipt."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "vote_id": _VOTE_ID,
                    "target_type": "proposal",
                    "target_id": _PROPOSAL_ID,
                    "choice": "agree",
                    "cast_at": _CAST_AT,
                    "receipt": {**_RECEIPT, "record": _RECORD},
                    "ledger_receipt": f"/v1/ledger/receipts/{_VOTE_ID}",
                }
            ]
        }
    )

    vote_id: uuid.UUID
    target_type: Literal["proposal", "forum"]
    target_id: uuid.UUID
    choice: str
    cast_at: datetime
    receipt: FullReceipt
    ledger_receipt: str = Field(
        description="Where ledger-svc serves the inclusion proof once the vote is recorded"
    )


class ProposalTally(BaseModel):
    """How many citizens agreed with a proposal."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"proposal_id": _PROPOSAL_ID, "agreements": 1024}]}
    )

    proposal_id: uuid.UUID
    agreements: int


class ForumTally(BaseModel):
    """How many citizens took part in a forum, and the count per option."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "forum_id": _FORUM_ID,
                    "participants": 1203,
                    "by_choice": {"찬성": 801, "반대": 312, "유보": 90},
                }
            ]
        }
    )

    forum_id: uuid.UUID
    participants: int
    by_choice: dict[str, int]


class TargetRecord(BaseModel):
    """One vote as the public ledger knows it (no citizen id)."""

    vote_id: uuid.UUID
    voter_tag: str
    record_hash: str
    cast_at: datetime


class TargetRecords(BaseModel):
    """Every vote row of a target, counted from the rows themselves (for the ledger's audit)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "target_type": "proposal",
                    "target_id": _PROPOSAL_ID,
                    "tally": 2,
                    "rows": 2,
                    "records": [
                        {
                            "vote_id": "0192f3a0-8b1c-7d2e-9f00-1a2b3c4d5e6f",
                            "voter_tag": "328425d282733a9dfe874ddca11949b52f40e56295bc9787b138e4f352b7703f",
                            "record_hash": "7f10aa42510bfd4a676159bd0683c51180e26e45a88c463a0053ca5c10cf7de8",
                            "cast_at": "2026-11-24T12:00:00.123456Z",
                        }
                    ],
                }
            ]
        }
    )

    target_type: Literal["proposal", "forum"]
    target_id: uuid.UUID
    tally: int = Field(description="The running counter")
    rows: int = Field(description="Vote rows counted now")
    records: list[TargetRecord]


class MyVotePublic(BaseModel):
    """One of my votes: an agreement (``choice`` = ``agree``) or a forum ballot."""

    vote_id: uuid.UUID
    target_type: Literal["proposal", "forum"]
    target_id: uuid.UUID
    choice: str
    cast_at: datetime
    receipt: Receipt
    ledger_status: Literal["recorded", "pending"] = Field(
        description="`recorded` once the ledger committed the vote's batch, `pending` before"
    )
    ledger_batch: int | None = Field(description="The ledger batch that recorded it")
    recorded_at: datetime | None
    ledger_receipt: str = Field(description="Where the inclusion proof is served once recorded")


class MyVotePage(BaseModel):
    """A page of my votes, newest first."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "vote_id": _VOTE_ID,
                            "target_type": "proposal",
                            "target_id": _PROPOSAL_ID,
                            "choice": "agree",
                            "cast_at": _CAST_AT,
                            "receipt": _RECEIPT,
                            "ledger_status": "recorded",
                            "ledger_batch": 42,
                            "recorded_at": "2026-11-24T12:00:01.200000Z",
                            "ledger_receipt": f"/v1/ledger/receipts/{_VOTE_ID}",
                        }
                    ],
                    "next_cursor": None,
                }
            ]
        }
    )

    items: list[MyVotePublic]
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null on the last page"
    )


class Cell(BaseModel):
    """One cell of a breakdown: ``count`` is null when ``suppressed``."""

    key: str
    count: int | None
    suppressed: bool


class AgreementStatistics(BaseModel):
    """Who agreed with a proposal, by age band and residency (cells under ``k`` suppressed)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "proposal_id": _PROPOSAL_ID,
                    "agreements": 132,
                    "k": 10,
                    "by_age_band": [
                        {"key": "under_14", "count": None, "suppressed": True},
                        {"key": "14_17", "count": None, "suppressed": True},
                        {"key": "18_29", "count": 41, "suppressed": False},
                        {"key": "30_39", "count": 52, "suppressed": False},
                        {"key": "40_49", "count": 27, "suppressed": False},
                        {"key": "50_59", "count": None, "suppressed": True},
                        {"key": "60_69", "count": None, "suppressed": True},
                        {"key": "70_plus", "count": None, "suppressed": True},
                        {"key": "unknown", "count": None, "suppressed": True},
                    ],
                    "by_residency": [
                        {"key": "resident", "count": 120, "suppressed": False},
                        {"key": "worker", "count": None, "suppressed": True},
                        {"key": "student", "count": None, "suppressed": True},
                        {"key": "unknown", "count": None, "suppressed": True},
                    ],
                }
            ]
        }
    )

    proposal_id: uuid.UUID
    agreements: int
    k: int
    by_age_band: list[Cell]
    by_residency: list[Cell]


class HourPublic(BaseModel):
    hour: datetime
    agreements: int
    total: int


class SigningHistory(BaseModel):
    """Agreements per hour since the first, with the running total."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "proposal_id": _PROPOSAL_ID,
                    "interval": "hour",
                    "items": [
                        {"hour": "2026-11-24T12:00:00Z", "agreements": 31, "total": 31},
                        {"hour": "2026-11-24T13:00:00Z", "agreements": 0, "total": 31},
                        {"hour": "2026-11-24T14:00:00Z", "agreements": 12, "total": 43},
                    ],
                }
            ]
        }
    )

    proposal_id: uuid.UUID
    interval: Literal["hour"] = "hour"
    items: list[HourPublic]
