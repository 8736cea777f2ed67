"""ledger-svc routes: receipts, signed heads, proofs, keys, recounts and audit results."""

from __future__ import annotations

import base64
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from sqlalchemy import select

from ledger_svc import keys, ledger
from ledger_svc.deps import ContextDep, SessionDep
from ledger_svc.fabric.contract import batch_id
from ledger_svc.models import AuditResult, Batch
from ledger_svc.treehead import TreeHead
from services.http_cache import CachePolicy
from services.problems import ProblemError, problem_responses

router = APIRouter(prefix="/v1/ledger", tags=["ledger"])

#: How each public read may be reused (docs/api.md, "Caching"). A signed head of a given size and a
#: consistency proof between two sizes never change; the latest head and a receipt against it
#: change with every batch (their version is the log's size), the keys when one is added or
#: retired. Recounts are not kept: a public recount is computed when asked.
_LOG_SIZE = "SELECT max(tree_size) FROM tree_heads"
CACHE_POLICIES = (
    CachePolicy("/v1/ledger/head", r"/v1/ledger/head", 1, 5, 3600.0, _LOG_SIZE),
    CachePolicy(
        "/v1/ledger/receipts/{vote_id}", r"/v1/ledger/receipts/[^/]+", 1, 5, 3600.0, _LOG_SIZE
    ),
    CachePolicy("/v1/ledger/heads/{tree_size}", r"/v1/ledger/heads/\d+", 86400, 0, 3600.0),
    CachePolicy(
        "/v1/ledger/proofs/consistency", r"/v1/ledger/proofs/consistency", 86400, 0, 3600.0
    ),
    CachePolicy(
        "/v1/ledger/keys",
        r"/v1/ledger/keys",
        60,
        300,
        3600.0,
        "SELECT count(*) || ':' || count(retired_at) FROM ledger_signing_keys",
    ),
)

_ROOT = "5f1bbd1b4fc3c4e3f7b5f3c8a6c0a2b1d2e3f405162738495a6b7c8d9e0f1a2b"
_HEAD_EXAMPLE = {
    "tree_size": 1024,
    "root": _ROOT,
    "timestamp": "2026-11-24T12:00:00.250Z",
    "signature": "n4S0Y3d1b2c3ZWQyNTUxOS1zaWduYXR1cmUtZXhhbXBsZS1vZi02NC1ieXRlcy4uLi4uLi4uLi4uLi4uLi4uLg==",
    "key_id": "ed25519-20261124-0a1b2c3d4e5f",
}


def _head_json(head: TreeHead) -> dict[str, object]:
    return head.to_json()


def _anchor_json(batch: Batch) -> dict[str, object]:
    anchor: dict[str, object] = {
        "backend": batch.backend,
        "tx_id": batch.tx_id,
        "block": batch.block,
        "batch": batch.seq,
        "batch_root": batch.batch_root.hex(),
        "committed_at": batch.committed_at.isoformat(),
    }
    if batch.backend == "fabric":
        anchor["channel"] = batch.channel
        anchor["batch_id"] = batch_id(batch.seq, batch.batch_root)
    return anchor


@router.get(
    "/receipts/{vote_id}",
    summary="A vote's receipt: its canonical record and inclusion proof against a signed head",
    description=(
        "404 until the vote is recorded (normally within a second or two). `tree_size` asks for "
        "the proof against that published head; by default the latest. Verify offline with "
        "`ledger-svc verify-receipt receipt.json --head head.json` (docs/verification.md)."
    ),
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "vote_id": "0192f3a0-8b1c-7d2e-9f00-1a2b3c4d5e6f",
                        "leaf": "eyJjYXN0X2F0IjoiMjAyNi0xMS0yNFQxMjowMDowMC4xMjM0NTZaIiwiY2hvaWNlIjoiYWdyZWUiLC4uLn0=",
                        "leaf_index": 41,
                        "tree_size": 1024,
                        "audit_path": [_ROOT, _ROOT],
                        "root": _ROOT,
                        "anchor": {
                            "backend": "local",
                            "tx_id": _ROOT,
                            "block": 7,
                            "batch": 7,
                            "committed_at": "2026-11-24T12:00:00.250Z",
                        },
                        "head": _HEAD_EXAMPLE,
                    }
                }
            }
        },
        **problem_responses(404, 422),
    },
)
async def get_receipt(
    vote_id: uuid.UUID,
    session: SessionDep,
    tree_size: Annotated[int | None, Query(ge=1)] = None,
) -> dict[str, Any]:
    found = await ledger.receipt(session, vote_id, size=tree_size)
    return {
        "vote_id": str(vote_id),
        "leaf": base64.b64encode(found.record.record).decode(),
        "leaf_index": found.record.leaf_index,
        "tree_size": found.head.tree_size,
        "audit_path": [h.hex() for h in found.audit_path],
        "root": found.head.root.hex(),
        "anchor": _anchor_json(found.batch),
        "head": _head_json(found.head),
    }


@router.get(
    "/head",
    summary="The latest signed tree head",
    responses={
        200: {"content": {"application/json": {"example": _HEAD_EXAMPLE}}},
        **problem_responses(404),
    },
)
async def get_head(session: SessionDep) -> dict[str, object]:
    head = await ledger.head_at(session)
    if head is None:
        raise ProblemError(
            404, "no-tree-head-yet", "The ledger is empty", "No vote has been recorded yet."
        )
    return _head_json(head)


@router.get(
    "/heads/{tree_size}",
    summary="The signed head of a given tree size (one per batch)",
    responses={
        200: {"content": {"application/json": {"example": _HEAD_EXAMPLE}}},
        **problem_responses(404, 422),
    },
)
async def get_head_at(tree_size: int, session: SessionDep) -> dict[str, object]:
    head = await ledger.head_at(session, tree_size)
    if head is None:
        raise ProblemError(404, "no-such-tree-head", f"No signed head has tree_size {tree_size}")
    return _head_json(head)


@router.get(
    "/proofs/consistency",
    summary="Proof that the log of size `to` extends the log of size `from` (RFC 9162)",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {"from_size": 512, "to_size": 1024, "proof": [_ROOT]}
                }
            }
        },
        **problem_responses(404, 422),
    },
)
async def get_consistency(
    session: SessionDep,
    from_size: Annotated[int, Query(alias="from", ge=1)],
    to_size: Annotated[int, Query(alias="to", ge=1)],
) -> dict[str, object]:
    proof = await ledger.consistency(session, from_size, to_size)
    return {"from_size": from_size, "to_size": to_size, "proof": [h.hex() for h in proof]}


@router.get(
    "/keys",
    summary="Public keys that sign tree heads (JWK, Ed25519)",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "keys": [
                            {
                                "kty": "OKP",
                                "crv": "Ed25519",
                                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo",
                                "kid": "ed25519-20261124-0a1b2c3d4e5f",
                                "status": "active",
                            }
                        ]
                    }
                }
            }
        }
    },
)
async def get_keys(session: SessionDep) -> dict[str, object]:
    return {"keys": await keys.published_keys(session)}


@router.get(
    "/recount/{target_type}/{target_id}",
    summary="Recount a proposal or forum from the ledger alone",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "target": "proposal:6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f",
                        "count": 1000,
                        "by_choice": {"agree": 1000},
                        "duplicate_tags": 0,
                        "refused_duplicates": 0,
                        "tree_size": 1024,
                    }
                }
            }
        },
        **problem_responses(422),
    },
)
async def get_recount(
    target_type: Literal["proposal", "forum"],
    target_id: uuid.UUID,
    session: SessionDep,
    ctx: ContextDep,
) -> dict[str, object]:
    counted = await ledger.recount(session, ctx.backend, f"{target_type}:{target_id}")
    return {
        "target": counted.target,
        "count": counted.count,
        "by_choice": counted.by_choice,
        "duplicate_tags": counted.duplicate_tags,
        "refused_duplicates": counted.refused_duplicates,
        "tree_size": await ledger.tree_size(session),
    }


def _audit_json(result: AuditResult, target_id: str) -> dict[str, object]:
    return {
        "target_id": target_id,
        "target": result.target,
        "ledger_count": result.ledger_count,
        "service_count": result.service_count,
        "duplicate_tags": result.details.get("duplicate_tags", 0),
        "consistent": result.consistent,
        "checked_at": result.checked_at.isoformat(),
        "details": result.details,
    }


_AUDIT_EXAMPLE = {
    "target_id": "6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f",
    "target": "proposal:6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f",
    "ledger_count": 1000,
    "service_count": 999,
    "duplicate_tags": 0,
    "consistent": False,
    "checked_at": "2026-11-24T12:01:00+00:00",
    "details": {
        "missing_in_service": ["0192f3a0-8b1c-7d2e-9f00-1a2b3c4d5e6f"],
        "missing_in_ledger": [],
        "duplicate_tags": 0,
        "refused_duplicates": 0,
        "service_tally": 1000,
        "in_flight": 0,
    },
}


@router.get(
    "/audit/targets/{target_id}",
    summary="The last audit of a proposal or forum: ledger recount vs vote-svc's rows",
    responses={
        200: {"content": {"application/json": {"example": _AUDIT_EXAMPLE}}},
        **problem_responses(404, 422),
    },
)
async def get_audit(target_id: uuid.UUID, session: SessionDep) -> dict[str, object]:
    result = await session.scalar(
        select(AuditResult).where(
            AuditResult.target.in_([f"proposal:{target_id}", f"forum:{target_id}"])
        )
    )
    if result is None:
        raise ProblemError(
            404,
            "not-audited-yet",
            "Not audited yet",
            "The auditor checks active targets every minute.",
        )
    return _audit_json(result, str(target_id))


@router.get(
    "/audit/integrity",
    summary="The last check of the ledger against its own signed tree heads",
    responses={
        200: {
            "content": {
                "application/json": {
                    "example": {
                        "consistent": True,
                        "checked_at": "2026-11-24T12:01:00+00:00",
                        "details": {"problems": [], "tree_size": 1024},
                    }
                }
            }
        },
        **problem_responses(404),
    },
)
async def get_integrity(session: SessionDep) -> dict[str, object]:
    result = await session.get(AuditResult, "ledger")
    if result is None:
        raise ProblemError(404, "not-audited-yet", "Not audited yet")
    return {
        "consistent": result.consistent,
        "checked_at": result.checked_at.isoformat(),
        "details": result.details,
    }
