"""The offline receipt verifier: is my vote in the ledger the published tree head vouches for?

Needs nothing but the receipt JSON (``GET /v1/ledger/receipts/{vote_id}``), a published tree
head (``GET /v1/ledger/head``) and, to check signatures, the ledger's public keys (JWKs). The
algorithm is written out in docs/verification.md so that it can be re-implemented elsewhere::

    ledger-svc verify-receipt receipt.json --head head.json [--keys keys.json]
        [--record-hash HEX] [--consistency proof.json]

Every check runs that can run, so one report lists every problem; nothing in the input can make
the verifier raise. The command itself (reading the files, printing the report) is
``ledger_svc.verify_cli``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ledger_svc.merkle import leaf_hash, verify_consistency, verify_inclusion
from ledger_svc.treehead import (
    InvalidKey,
    InvalidTreeHead,
    TreeHead,
    format_timestamp,
    keys_by_id,
    verify_head,
)
from services.canonical import InvalidRecord, VoteRecord

Status = Literal["ok", "failed", "note"]
_T = TypeVar("_T")

_HEX_HASH = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class Step:
    """One line of the report: a check that passed or failed, or a note."""

    status: Status
    message: str

    def __str__(self) -> str:
        return (
            f"{self.status.upper() if self.status == 'failed' else self.status:<7} {self.message}"
        )


@dataclass
class VerificationResult:
    """The report. ``ok`` only if at least one check ran and none failed."""

    steps: list[Step] = field(default_factory=list)
    #: The decoded canonical record, when the leaf was one.
    record: VoteRecord | None = None
    #: Whether the tree heads' signatures were checked (only with keys).
    signatures_checked: bool = False

    @property
    def ok(self) -> bool:
        """True when every check passed."""
        return any(s.status == "ok" for s in self.steps) and not self.failures

    @property
    def failures(self) -> list[str]:
        """The messages of the failed checks."""
        return [s.message for s in self.steps if s.status == "failed"]

    def passed(self, message: str) -> None:
        self.steps.append(Step("ok", message))

    def failed(self, message: str) -> None:
        self.steps.append(Step("failed", message))

    def note(self, message: str) -> None:
        self.steps.append(Step("note", message))


class _Malformed(ValueError):
    """A receipt member that is missing or of the wrong shape."""


def _member(data: Mapping[str, object], name: str) -> object:
    if name not in data:
        raise _Malformed(f'no "{name}" member')
    return data[name]


def _size(data: Mapping[str, object], name: str) -> int:
    value = _member(data, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _Malformed(f'"{name}" must be a non-negative integer')
    return value


def _hash(value: object, what: str) -> bytes:
    if not isinstance(value, str) or not _HEX_HASH.fullmatch(value):
        raise _Malformed(f"{what} must be 64 lowercase hex digits")
    return bytes.fromhex(value)


def _hashes(value: object, what: str) -> list[bytes]:
    if not isinstance(value, list):
        raise _Malformed(f"{what} must be a list of hex hashes")
    return [_hash(item, f"{what}[{i}]") for i, item in enumerate(value)]


def _try(result: VerificationResult, parse: Callable[[], _T]) -> _T | None:
    try:
        return parse()
    except (_Malformed, InvalidTreeHead) as exc:
        result.failed(str(exc))
        return None


def _check_signature(
    result: VerificationResult, head: TreeHead, keys: dict[str, Ed25519PublicKey] | None, what: str
) -> None:
    if keys is None:
        return
    key = keys.get(head.key_id)
    if key is None:
        result.failed(f"{what}: no key with id {head.key_id!r} among the given keys")
    elif verify_head(head, key):
        result.passed(f"{what}: Ed25519 signature by key {head.key_id!r} is valid")
    else:
        result.failed(f"{what}: the signature by key {head.key_id!r} does NOT verify")


def verify_receipt(
    receipt: object,
    head: object,
    keys: Sequence[Mapping[str, object]] | None = None,
    *,
    record_hash: str | None = None,
    consistency: object = None,
) -> VerificationResult:
    """Check a receipt against a published tree head (docs/verification.md, "The verifier").

    ``keys`` are the ledger's public JWKs; without them signatures are not checked (and the
    report says so). ``record_hash`` is the ``receipt.record_hash`` vote-svc gave the voter; when
    given, the leaf must hash to it. ``consistency`` is a proof from the receipt's tree to the
    published head (``GET /v1/ledger/proofs/consistency``) for receipts that carry none."""
    result = VerificationResult()
    if not isinstance(receipt, Mapping):
        result.failed("the receipt is not a JSON object")
        return result
    key_index = _keys(result, keys)

    # 1. The leaf is a canonical vote record, the one this receipt is about.
    leaf = _try(result, lambda: _leaf_bytes(receipt))
    vote_id = _try(result, lambda: _vote_id(receipt))
    if leaf is not None:
        _check_leaf(result, leaf, vote_id, record_hash)

    # 2. The leaf is in the tree of tree_size leaves whose root is root.
    tree_size, root = _check_inclusion(result, receipt, leaf)

    anchor = receipt.get("anchor")
    if isinstance(anchor, Mapping):
        described = ", ".join(f"{k}={v}" for k, v in anchor.items())
        result.note(f"anchor (not checked offline): {described}")

    # 3. and 4. The receipt's head and the published one.
    _check_heads(result, receipt, head, key_index, tree_size, root, consistency)

    if key_index is None:
        result.note("signatures NOT checked: no keys given (--keys)")
    return result


def _check_leaf(
    result: VerificationResult, leaf: bytes, vote_id: uuid.UUID | None, record_hash: str | None
) -> None:
    """The leaf decodes to a canonical record of ``vote_id`` and hashes to ``record_hash``."""
    try:
        record = _decode_record(leaf)
    except InvalidRecord as exc:
        result.failed(f"the leaf is not a canonical vote record: {exc}")
    else:
        result.record = record
        result.passed(
            f"the leaf is a canonical vote record: target {record.target}, "
            f"choice {record.choice!r}, cast at {record.cast_at}, voter tag {record.voter_tag}"
        )
        if vote_id is not None:
            if record.vote_id == vote_id:
                result.passed(f"the record's vote_id is the receipt's ({vote_id})")
            else:
                result.failed(
                    f"the record's vote_id {record.vote_id} is not the receipt's {vote_id}"
                )
    digest = hashlib.sha256(leaf).hexdigest()
    if record_hash is None:
        result.note(f"record_hash = SHA-256(leaf) = {digest}")
    elif hmac.compare_digest(digest.encode(), record_hash.strip().lower().encode()):
        result.passed(f"SHA-256(leaf) = {digest} is the record_hash you were given")
    else:
        result.failed(f"SHA-256(leaf) = {digest} is NOT the record_hash {record_hash}")


def _check_inclusion(
    result: VerificationResult, receipt: Mapping[str, object], leaf: bytes | None
) -> tuple[int | None, bytes | None]:
    """The audit path proves the leaf into the receipt's tree; that tree's size and root (None
    where the receipt's member is unusable)."""
    index = _try(result, lambda: _size(receipt, "leaf_index"))
    tree_size = _try(result, lambda: _size(receipt, "tree_size"))
    path = _try(result, lambda: _hashes(_member(receipt, "audit_path"), '"audit_path"'))
    root = _try(result, lambda: _hash(_member(receipt, "root"), '"root"'))
    if (
        leaf is not None
        and index is not None
        and tree_size is not None
        and path is not None
        and root is not None
    ):
        hashed = leaf_hash(leaf)
        if verify_inclusion(hashed, index, tree_size, path, root):
            result.passed(
                f"leaf hash {hashed.hex()} at index {index} is included in the tree of "
                f"{tree_size} leaves with root {root.hex()} ({len(path)} path hashes)"
            )
        else:
            result.failed(
                f"the audit path does NOT prove leaf hash {hashed.hex()} at index {index} "
                f"into the tree of {tree_size} leaves with root {root.hex()}"
            )
    return tree_size, root


def _check_heads(
    result: VerificationResult,
    receipt: Mapping[str, object],
    head: object,
    key_index: dict[str, Ed25519PublicKey] | None,
    tree_size: int | None,
    root: bytes | None,
    consistency: object,
) -> None:
    """The receipt's own tree head is signed and speaks of the receipt's tree; the published
    head is signed and extends (or is) that tree."""
    embedded = _try(result, lambda: TreeHead.from_json(_member(receipt, "head")))
    if embedded is not None:
        _check_signature(result, embedded, key_index, "the receipt's tree head")
        if tree_size is not None and root is not None:
            if embedded.tree_size == tree_size and embedded.root == root:
                result.passed("the receipt's tree head has the receipt's tree_size and root")
            else:
                result.failed(
                    f"the receipt's tree head (size {embedded.tree_size}, root "
                    f"{embedded.root.hex()}) does not match the receipt's (size {tree_size}, "
                    f"root {root.hex()})"
                )
    published = _try(result, lambda: TreeHead.from_json(head))
    if published is not None:
        result.note(
            f"published head: size {published.tree_size}, root {published.root.hex()}, "
            f"signed at {format_timestamp(published.timestamp)} by key {published.key_id!r}"
        )
        _check_signature(result, published, key_index, "the published tree head")
    if published is not None and tree_size is not None and root is not None:
        proof = receipt.get("consistency") if consistency is None else consistency
        _compare_with_published(result, proof, tree_size, root, published)
    if embedded is not None and published is not None and embedded.timestamp > published.timestamp:
        result.note("the published head is dated before the receipt's head; is it stale?")


def _keys(
    result: VerificationResult, keys: Sequence[Mapping[str, object]] | None
) -> dict[str, Ed25519PublicKey] | None:
    if keys is None:
        return None
    try:
        if isinstance(keys, str | bytes | Mapping) or not isinstance(keys, Sequence):
            raise InvalidKey("keys must be a list of JWKs")
        index = keys_by_id(keys)
    except InvalidKey as exc:
        result.failed(f"the keys are unusable: {exc}")
        return {}
    result.signatures_checked = True
    return index


def _decode_record(leaf: bytes) -> VoteRecord:
    record = VoteRecord.decode(leaf)
    # services.canonical checks formats with ``re.match(...$)``, which lets one trailing "\n"
    # through; docs/canonical-record.md allows none, so neither does the verifier.
    if any("\n" in value for value in (record.target, record.voter_tag, record.cast_at)):
        raise InvalidRecord("a field ends with a line feed")
    return record


def _leaf_bytes(receipt: Mapping[str, object]) -> bytes:
    leaf = _member(receipt, "leaf")
    if not isinstance(leaf, str):
        raise _Malformed('"leaf" must be a base64 string')
    try:
        return base64.b64decode(leaf, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _Malformed('"leaf" is not valid base64') from exc


def _vote_id(receipt: Mapping[str, object]) -> uuid.UUID:
    value = _member(receipt, "vote_id")
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return uuid.UUID(value)
    except ValueError as exc:
        raise _Malformed('"vote_id" must be a UUID') from exc


def _compare_with_published(
    result: VerificationResult,
    consistency: object,
    tree_size: int,
    root: bytes,
    published: TreeHead,
) -> None:
    if published.tree_size < tree_size:
        result.failed(
            f"the published head (size {published.tree_size}) is older than the receipt (size "
            f"{tree_size}); it cannot vouch for it: fetch the current head"
        )
        return
    if published.tree_size == tree_size:
        if hmac.compare_digest(published.root, root):
            result.passed("the published head has the receipt's size and root")
        else:
            result.failed(
                f"the published head has the receipt's size {tree_size} but a DIFFERENT root "
                f"{published.root.hex()}: the log has been forked or rewritten"
            )
        return
    if not isinstance(consistency, Mapping):
        result.failed(
            f"the published head is larger (size {published.tree_size}) than the receipt's tree "
            f"(size {tree_size}) and there is no consistency proof: ask for the receipt at size "
            f"{published.tree_size}, or for the consistency proof from {tree_size} to "
            f"{published.tree_size} (--consistency)"
        )
        return
    parsed = _try(
        result,
        lambda: (
            _size(consistency, "from_size"),
            _size(consistency, "to_size"),
            _hashes(_member(consistency, "proof"), '"consistency.proof"'),
        ),
    )
    if parsed is None:
        return
    from_size, to_size, proof = parsed
    if (from_size, to_size) != (tree_size, published.tree_size):
        result.failed(
            f"the consistency proof is from size {from_size} to {to_size}, not from the "
            f"receipt's {tree_size} to the published {published.tree_size}"
        )
    elif verify_consistency(tree_size, published.tree_size, root, published.root, proof):
        result.passed(
            f"the tree of size {tree_size} is a prefix of the published tree of size "
            f"{published.tree_size} ({len(proof)} proof hashes)"
        )
    else:
        result.failed(
            f"the consistency proof from size {tree_size} to {published.tree_size} does NOT "
            "verify: the published head does not extend the receipt's tree"
        )


# --- Building what the verifier reads (for the API) -------------------------------------------


def consistency_json(from_size: int, to_size: int, proof: Sequence[bytes]) -> dict[str, object]:
    """``{"from_size", "to_size", "proof": [hex, ...]}``."""
    return {"from_size": from_size, "to_size": to_size, "proof": [p.hex() for p in proof]}


def receipt_json(
    *,
    vote_id: uuid.UUID | str,
    leaf: bytes,
    leaf_index: int,
    audit_path: Sequence[bytes],
    head: TreeHead,
    anchor: Mapping[str, object],
    consistency: Mapping[str, object] | None = None,
) -> dict[str, object]:
    """The receipt JSON this verifier checks: the leaf's inclusion in the tree ``head`` signs
    (``tree_size`` and ``root`` come from the head), optionally with a :func:`consistency_json`
    up to a later head."""
    receipt: dict[str, object] = {
        "vote_id": str(vote_id),
        "leaf": base64.b64encode(leaf).decode("ascii"),
        "leaf_index": leaf_index,
        "tree_size": head.tree_size,
        "audit_path": [p.hex() for p in audit_path],
        "root": head.root.hex(),
        "anchor": dict(anchor),
        "head": head.to_json(),
    }
    if consistency is not None:
        receipt["consistency"] = dict(consistency)
    return receipt
