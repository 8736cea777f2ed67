"""The offline receipt verifier: the worked example of docs/verification.md, tampering of every
kind, and the command line."""

from __future__ import annotations

import argparse
import base64
import copy
import hashlib
import io
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_svc.merkle import MerkleLog, leaf_hash
from ledger_svc.treehead import TreeHead, public_jwk, sign_head
from ledger_svc.verify import (
    VerificationResult,
    consistency_json,
    receipt_json,
    verify_receipt,
)
from ledger_svc.verify_cli import add_verify_command, run
from services.canonical import VoteRecord, target_key, voter_tag

DOC = Path(__file__).resolve().parents[2] / "docs" / "verification.md"

# --- The worked example of docs/verification.md (everything derived from public constants) ----

#: k_ledger of docs/canonical-record.md's test vector (never a real key).
K_LEDGER = b"\x01" * 32
TARGET = "proposal:6a0f2b1e-93c4-4f7e-8f4a-7a3d2c1b0e9f"
#: RFC 8032 §7.1 TEST 1 secret key: public, so anyone can re-derive the signatures.
SIGNING_KEY = Ed25519PrivateKey.from_private_bytes(
    bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
)
KEY_ID = "ledger-example"
SEOUL = timezone(timedelta(hours=9))


@dataclass(frozen=True)
class Example:
    records: list[bytes]
    log: MerkleLog
    head3: TreeHead
    head5: TreeHead
    jwks: dict[str, list[dict[str, str]]]
    receipt: dict[str, object]
    receipt_at_5: dict[str, object]


def example_records() -> list[bytes]:
    """Five agreements with one proposal; the first is docs/canonical-record.md's vector."""
    vote_ids = ["11111111-2222-4333-8444-555555555555"] + [
        f"{d * 8}-{d * 4}-4{d * 3}-8{d * 3}-{d * 12}" for d in "2345"
    ]
    records = []
    for i, vote_id in enumerate(vote_ids):
        citizen = uuid.UUID(f"0b5e8c1e-3b7c-4a55-9d0c-3f1a1f7f2a1{i}")
        cast_at = datetime(2026, 11, 24, 21, 0, 0, 123456, tzinfo=SEOUL) + timedelta(
            seconds=i * 1.5
        )
        record = VoteRecord.build(
            target=TARGET,
            voter_tag=voter_tag(K_LEDGER, citizen, TARGET),
            vote_id=uuid.UUID(vote_id),
            cast_at=cast_at,
            choice="agree",
        )
        records.append(record.encode())
    return records


def worked_example() -> Example:
    records = example_records()
    log = MerkleLog()
    log.extend(records[:3])  # batch 1
    head3 = sign_head(
        SIGNING_KEY, KEY_ID, 3, log.root(), datetime(2026, 11, 24, 12, 0, 1, tzinfo=UTC)
    )
    log.extend(records[3:])  # batch 2
    head5 = sign_head(
        SIGNING_KEY, KEY_ID, 5, log.root(), datetime(2026, 11, 24, 12, 0, 6, 500000, tzinfo=UTC)
    )
    anchor = {"backend": "local", "tx_id": "1", "committed_at": "2026-11-24T12:00:01.000Z"}
    vote_id = VoteRecord.decode(records[1]).vote_id
    receipt = receipt_json(
        vote_id=vote_id,
        leaf=records[1],
        leaf_index=1,
        audit_path=log.inclusion_proof(1, 3),
        head=head3,
        anchor=anchor,
        consistency=consistency_json(3, 5, log.consistency_proof(3, 5)),
    )
    receipt_at_5 = receipt_json(
        vote_id=vote_id,
        leaf=records[1],
        leaf_index=1,
        audit_path=log.inclusion_proof(1, 5),
        head=head5,
        anchor=anchor,
    )
    jwks = {"keys": [public_jwk(SIGNING_KEY.public_key(), KEY_ID)]}
    return Example(records, log, head3, head5, jwks, receipt, receipt_at_5)


EXAMPLE = worked_example()
KEYS = EXAMPLE.jwks["keys"]


def example_documents() -> dict[str, str]:
    """The example's files as docs/verification.md prints them."""
    return {
        "receipt.json": json.dumps(EXAMPLE.receipt, indent=2, ensure_ascii=False),
        "head.json": json.dumps(EXAMPLE.head5.to_json(), indent=2),
        "keys.json": json.dumps(EXAMPLE.jwks, indent=2),
    }


def cli_transcript(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    for name, text in example_documents().items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    code = run(
        [
            str(tmp_path / "receipt.json"),
            "--head",
            str(tmp_path / "head.json"),
            "--keys",
            str(tmp_path / "keys.json"),
        ]
    )
    assert code == 0
    return capsys.readouterr().out


def failures(result: VerificationResult) -> str:
    return "\n".join(result.failures)


# --- The worked example ------------------------------------------------------------------------


def test_the_worked_example_verifies_with_signatures() -> None:
    result = verify_receipt(EXAMPLE.receipt, EXAMPLE.head5.to_json(), KEYS)
    assert result.ok, failures(result)
    assert result.signatures_checked
    assert result.record is not None
    assert str(result.record.vote_id) == EXAMPLE.receipt["vote_id"]
    statuses = [step.status for step in result.steps]
    assert statuses.count("ok") == 7
    assert "failed" not in statuses


def test_the_worked_example_is_exactly_what_the_document_shows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = DOC.read_text(encoding="utf-8")
    for name, text in example_documents().items():
        assert text in doc, f"{name} in docs/verification.md is out of date"
    for record in EXAMPLE.records:
        assert record.decode() in doc
        assert leaf_hash(record).hex() in doc
    for (level, index), digest in EXAMPLE.log.nodes.items():
        assert digest.hex() in doc, (level, index)
    for head in (EXAMPLE.head3, EXAMPLE.head5):
        assert head.signing_input().decode() in doc
        assert head.signature.hex() in doc
    assert cli_transcript(tmp_path, capsys) in doc


def test_the_first_record_is_the_canonical_record_test_vector() -> None:
    first = EXAMPLE.records[0]
    assert hashlib.sha256(first).hexdigest() == (
        "7f10aa42510bfd4a676159bd0683c51180e26e45a88c463a0053ca5c10cf7de8"
    )


def test_a_receipt_at_the_published_size_needs_no_consistency_proof() -> None:
    result = verify_receipt(EXAMPLE.receipt_at_5, EXAMPLE.head5.to_json(), KEYS)
    assert result.ok, failures(result)
    assert any(
        "the published head has the receipt's size and root" in s.message for s in result.steps
    )


def test_a_consistency_proof_may_come_separately() -> None:
    receipt = {k: v for k, v in EXAMPLE.receipt.items() if k != "consistency"}
    proof = EXAMPLE.receipt["consistency"]
    assert not verify_receipt(receipt, EXAMPLE.head5.to_json(), KEYS).ok
    assert verify_receipt(receipt, EXAMPLE.head5.to_json(), KEYS, consistency=proof).ok
    wrong = consistency_json(2, 5, EXAMPLE.log.consistency_proof(2, 5))
    assert not verify_receipt(EXAMPLE.receipt, EXAMPLE.head5.to_json(), KEYS, consistency=wrong).ok


def test_without_keys_the_report_says_signatures_were_not_checked() -> None:
    result = verify_receipt(EXAMPLE.receipt, EXAMPLE.head5.to_json())
    assert result.ok
    assert not result.signatures_checked
    assert result.steps[-1].status == "note"
    assert "signatures NOT checked" in result.steps[-1].message


def test_the_record_hash_of_the_vote_receipt_is_checked() -> None:
    digest = hashlib.sha256(EXAMPLE.records[1]).hexdigest()
    assert verify_receipt(EXAMPLE.receipt, EXAMPLE.head5.to_json(), KEYS, record_hash=digest).ok
    result = verify_receipt(EXAMPLE.receipt, EXAMPLE.head5.to_json(), KEYS, record_hash="00" * 32)
    assert not result.ok
    assert "is NOT the record_hash" in failures(result)
    assert not verify_receipt(EXAMPLE.receipt, EXAMPLE.head5.to_json(), record_hash="é").ok


# --- Tampering ---------------------------------------------------------------------------------

Receipt = dict[str, Any]


def with_leaf(record: VoteRecord | bytes) -> Callable[[Receipt], None]:
    data = record.encode() if isinstance(record, VoteRecord) else record

    def change(receipt: Receipt) -> None:
        receipt["leaf"] = base64.b64encode(data).decode()

    return change


def set_member(path: str, value: object) -> Callable[[Receipt], None]:
    def change(receipt: Receipt) -> None:
        *parents, last = path.split(".")
        target = receipt
        for name in parents:
            target = target[name]
        target[last] = value

    return change


def drop(name: str) -> Callable[[Receipt], None]:
    def change(receipt: Receipt) -> None:
        del receipt[name]

    return change


def flip_hex(path: str, position: int = 0) -> Callable[[Receipt], None]:
    def change(receipt: Receipt) -> None:
        *parents, last = path.split(".")
        target = receipt
        for name in parents:
            target = target[name]
        value = target[last]
        if isinstance(value, list):
            value[position] = _flipped(value[position])
        else:
            target[last] = _flipped(value)

    return change


def _flipped(hex_digest: str) -> str:
    raw = bytearray(bytes.fromhex(hex_digest))
    raw[0] ^= 1
    return raw.hex()


def _record(index: int) -> VoteRecord:
    return VoteRecord.decode(EXAMPLE.records[index])


TAMPERING: dict[str, tuple[Callable[[Receipt], None], str]] = {
    "another choice": (with_leaf(replace(_record(1), choice="no")), "does NOT prove leaf hash"),
    "another voter tag": (
        with_leaf(replace(_record(1), voter_tag="0" * 64)),
        "does NOT prove leaf hash",
    ),
    "someone else's record": (with_leaf(EXAMPLE.records[2]), "is not the receipt's"),
    "a non-canonical leaf": (
        with_leaf(EXAMPLE.records[1].replace(b'","', b'", "', 1)),
        "not a canonical vote record",
    ),
    "a voter tag with a trailing line feed": (
        with_leaf(EXAMPLE.records[1].replace(b'"}', b'\\n"}')),
        "not a canonical vote record",
    ),
    "a leaf that is not base64": (set_member("leaf", "%%%"), "not valid base64"),
    "another vote id": (
        set_member("vote_id", "99999999-2222-4333-8444-555555555555"),
        "is not the receipt's",
    ),
    "a vote id that is no UUID": (set_member("vote_id", "vote-1"), "must be a UUID"),
    "another index": (set_member("leaf_index", 0), "does NOT prove"),
    "an index past the tree": (set_member("leaf_index", 3), "does NOT prove"),
    "a negative index": (set_member("leaf_index", -1), "non-negative integer"),
    "a flipped path hash": (flip_hex("audit_path", 1), "does NOT prove"),
    "a shortened path": (lambda r: r["audit_path"].pop(), "does NOT prove"),
    "a path in upper case": (
        lambda r: r.__setitem__("audit_path", [p.upper() for p in r["audit_path"]]),
        "lowercase hex",
    ),
    "a flipped root": (flip_hex("root"), "does NOT prove"),
    # Index 1 has the same path shape in trees of 3 and 4 leaves: the signed head catches it.
    "a larger tree size": (set_member("tree_size", 4), "does not match the receipt's"),
    "no head": (drop("head"), 'no "head" member'),
    "a head of another size": (
        set_member("head", EXAMPLE.head5.to_json()),
        "does not match the receipt's",
    ),
    "a head with a forged signature": (
        set_member("head.signature", base64.b64encode(bytes(64)).decode()),
        "does NOT verify",
    ),
    "a head signed by an unknown key": (set_member("head.key_id", "other"), "no key with id"),
    "no consistency proof": (drop("consistency"), "there is no consistency proof"),
    "a consistency proof for other sizes": (
        set_member("consistency.from_size", 2),
        "not from the receipt's 3",
    ),
    "a flipped consistency hash": (flip_hex("consistency.proof", 0), "does NOT verify"),
    "a truncated consistency proof": (
        lambda r: r["consistency"]["proof"].pop(),
        "does NOT verify",
    ),
    "a consistency proof that is no list": (
        set_member("consistency.proof", "abc"),
        "list of hex hashes",
    ),
}


@pytest.mark.parametrize("name", sorted(TAMPERING))
def test_tampering_is_detected(name: str) -> None:
    change, expected = TAMPERING[name]
    receipt = copy.deepcopy(EXAMPLE.receipt)
    change(receipt)
    result = verify_receipt(receipt, EXAMPLE.head5.to_json(), KEYS)
    assert not result.ok
    assert expected in failures(result), failures(result)


def test_a_published_head_older_than_the_receipt_cannot_vouch_for_it() -> None:
    result = verify_receipt(EXAMPLE.receipt_at_5, EXAMPLE.head3.to_json(), KEYS)
    assert not result.ok
    assert "older than the receipt" in failures(result)


def test_a_forked_log_is_detected() -> None:
    # The same key signs another history: the receipt's size with another root, or a longer
    # tree that does not extend the receipt's.
    other = MerkleLog(
        [*EXAMPLE.records[:2], EXAMPLE.records[3], EXAMPLE.records[2], EXAMPLE.records[4]]
    )
    moment = datetime(2026, 11, 24, 12, 0, 9, tzinfo=UTC)
    forked = sign_head(SIGNING_KEY, KEY_ID, 5, other.root(5), moment)

    result = verify_receipt(EXAMPLE.receipt_at_5, forked.to_json(), KEYS)
    assert "DIFFERENT root" in failures(result)

    receipt = copy.deepcopy(EXAMPLE.receipt)
    receipt["consistency"] = consistency_json(3, 5, other.consistency_proof(3, 5))
    result = verify_receipt(receipt, forked.to_json(), KEYS)
    assert "does NOT verify" in failures(result)
    assert "the published tree head: Ed25519 signature by key 'ledger-example' is valid" in [
        s.message for s in result.steps
    ]


def test_a_published_head_signed_by_another_key_fails() -> None:
    impostor = Ed25519PrivateKey.from_private_bytes(bytes(32))
    head = sign_head(impostor, KEY_ID, 5, EXAMPLE.head5.root, EXAMPLE.head5.timestamp)
    result = verify_receipt(EXAMPLE.receipt, head.to_json(), KEYS)
    assert "the published tree head: the signature by key 'ledger-example' does NOT verify" in (
        failures(result)
    )
    # Without keys the same head passes the Merkle checks: that is what the note warns about.
    assert verify_receipt(EXAMPLE.receipt, head.to_json()).ok


@pytest.mark.parametrize(
    "keys",
    [
        [],
        [{"kty": "EC"}],
        "keys",
        {"keys": []},
        [public_jwk(Ed25519PrivateKey.from_private_bytes(bytes(32)).public_key(), KEY_ID)],
    ],
)
def test_unusable_or_wrong_keys_fail(keys: Any) -> None:
    result = verify_receipt(EXAMPLE.receipt, EXAMPLE.head5.to_json(), keys)
    assert not result.ok
    assert any(
        reason in failures(result) for reason in ("unusable", "no key with id", "does NOT verify")
    )


@pytest.mark.parametrize("head", [None, {}, [], "head", EXAMPLE.head5.to_json() | {"root": "00"}])
def test_a_malformed_published_head_fails(head: object) -> None:
    result = verify_receipt(EXAMPLE.receipt, head, KEYS)
    assert not result.ok


# --- Properties --------------------------------------------------------------------------------


@st.composite
def vote_records(draw: st.DrawFn) -> bytes:
    target = target_key(draw(st.sampled_from(["proposal", "forum"])), draw(st.uuids()))
    return VoteRecord.build(
        target=target,
        voter_tag=voter_tag(K_LEDGER, draw(st.uuids()), target),
        vote_id=draw(st.uuids()),
        cast_at=datetime(2026, 1, 1, tzinfo=UTC)
        + timedelta(microseconds=draw(st.integers(0, 10**12))),
        choice=draw(st.sampled_from(["agree", "찬성", "option A"])),
    ).encode()


@settings(max_examples=40, deadline=None)
@given(
    records=st.lists(vote_records(), min_size=1, max_size=40),
    data=st.data(),
)
def test_every_receipt_of_every_batch_verifies_against_every_later_head(
    records: list[bytes], data: st.DataObject
) -> None:
    cuts = sorted(
        data.draw(
            st.sets(st.integers(min_value=1, max_value=len(records)), max_size=5), label="cuts"
        )
        | {len(records)}
    )
    log = MerkleLog(records)
    moment = datetime(2026, 1, 1, tzinfo=UTC)
    heads = {
        size: sign_head(SIGNING_KEY, KEY_ID, size, log.root(size), moment + timedelta(seconds=i))
        for i, size in enumerate(cuts)
    }
    index = data.draw(st.integers(min_value=0, max_value=len(records) - 1), label="index")
    issued_at = min(size for size in cuts if size > index)
    later = data.draw(st.sampled_from([s for s in cuts if s >= issued_at]), label="later")
    receipt = receipt_json(
        vote_id=VoteRecord.decode(records[index]).vote_id,
        leaf=records[index],
        leaf_index=index,
        audit_path=log.inclusion_proof(index, issued_at),
        head=heads[issued_at],
        anchor={"backend": "local", "tx_id": str(issued_at)},
        consistency=consistency_json(issued_at, later, log.consistency_proof(issued_at, later)),
    )
    result = verify_receipt(receipt, heads[later].to_json(), KEYS)
    assert result.ok, failures(result)

    bit = data.draw(st.integers(min_value=0, max_value=8 * len(records[index]) - 1), label="bit")
    tampered = bytearray(records[index])
    tampered[bit // 8] ^= 1 << (bit % 8)
    forged = receipt | {"leaf": base64.b64encode(bytes(tampered)).decode()}
    assert not verify_receipt(forged, heads[later].to_json(), KEYS).ok


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(
    member=st.sampled_from(
        [*EXAMPLE.receipt, "head.tree_size", "head.root", "head.timestamp", "consistency.proof"]
    ),
    value=json_values,
    head=st.one_of(st.just(EXAMPLE.head5.to_json()), json_values),
)
def test_no_input_makes_the_verifier_raise(member: str, value: object, head: object) -> None:
    receipt = copy.deepcopy(EXAMPLE.receipt)
    set_member(member, value)(receipt)
    result = verify_receipt(receipt, head, KEYS)
    assert isinstance(result.ok, bool)
    assert not verify_receipt(value, head).ok


# --- Command line ------------------------------------------------------------------------------


def test_the_command_prints_each_step_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = cli_transcript(tmp_path, capsys)
    assert out.splitlines()[-1] == "RECEIPT VERIFIED"
    assert "FAILED" not in out


def test_the_command_exits_1_on_a_bad_receipt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    receipt = copy.deepcopy(EXAMPLE.receipt)
    flip_hex("root")(receipt)
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    (tmp_path / "head.json").write_text(json.dumps(EXAMPLE.head5.to_json()))
    assert run([str(tmp_path / "receipt.json"), "--head", str(tmp_path / "head.json")]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out
    assert out.splitlines()[-1] == "RECEIPT NOT VERIFIED"


@pytest.mark.parametrize(
    "keys",
    [EXAMPLE.jwks, KEYS, KEYS[0]],
    ids=["jwks", "list", "one-jwk"],
)
def test_the_keys_file_may_be_a_jwks_a_list_or_one_key(
    tmp_path: Path, keys: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "head.json").write_text(json.dumps(EXAMPLE.head5.to_json()))
    (tmp_path / "keys.json").write_text(json.dumps(keys))
    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps(EXAMPLE.receipt)))
    argv = ["-", "--head", str(tmp_path / "head.json"), "--keys", str(tmp_path / "keys.json")]
    assert run(argv) == 0


def test_the_command_takes_a_separate_consistency_proof(tmp_path: Path) -> None:
    receipt = {k: v for k, v in EXAMPLE.receipt.items() if k != "consistency"}
    (tmp_path / "receipt.json").write_text(json.dumps(receipt))
    (tmp_path / "head.json").write_text(json.dumps(EXAMPLE.head5.to_json()))
    (tmp_path / "proof.json").write_text(json.dumps(EXAMPLE.receipt["consistency"]))
    argv = [str(tmp_path / "receipt.json"), "--head", str(tmp_path / "head.json")]
    assert run(argv) == 1
    assert run([*argv, "--consistency", str(tmp_path / "proof.json")]) == 0


def test_unreadable_input_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "head.json").write_text("{not json")
    assert run([str(tmp_path / "missing.json"), "--head", str(tmp_path / "head.json")]) == 1
    assert "cannot read the input" in capsys.readouterr().out
    (tmp_path / "receipt.json").write_text(json.dumps(EXAMPLE.receipt))
    assert run([str(tmp_path / "receipt.json"), "--head", str(tmp_path / "head.json")]) == 1
    (tmp_path / "keys.json").write_text('"not keys"')
    (tmp_path / "head.json").write_text(json.dumps(EXAMPLE.head5.to_json()))
    argv = [str(tmp_path / "receipt.json"), "--head", str(tmp_path / "head.json")]
    assert run([*argv, "--keys", str(tmp_path / "keys.json")]) == 1


def test_the_command_plugs_into_a_service_cli(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="ledger-svc")
    sub = parser.add_subparsers(required=True, dest="command")
    add_verify_command(sub)
    (tmp_path / "receipt.json").write_text(json.dumps(EXAMPLE.receipt_at_5))
    (tmp_path / "head.json").write_text(json.dumps(EXAMPLE.head5.to_json()))
    args = parser.parse_args(
        [
            "verify-receipt",
            str(tmp_path / "receipt.json"),
            "--head",
            str(tmp_path / "head.json"),
            "--record-hash",
            hashlib.sha256(EXAMPLE.records[1]).hexdigest(),
        ]
    )
    assert args.func(args) == 0
    assert "is the record_hash you were given" in capsys.readouterr().out
