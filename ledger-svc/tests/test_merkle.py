"""RFC 6962 / 9162 Merkle hashing: known answers, the RFC's recursive definitions, and
property tests that every proof verifies and every forgery fails."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import Any, cast

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger_svc.merkle import (
    EMPTY_ROOT,
    MerkleLog,
    appended_nodes,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_needed_for_append,
    nodes_needed_for_consistency,
    nodes_needed_for_inclusion,
    nodes_needed_for_root,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

MODEST = settings(max_examples=100, deadline=None)

# --- An independent reference: the RFC's recursive definitions, hashing with hashlib only ------


def _sha(*parts: bytes) -> bytes:
    return hashlib.sha256(b"".join(parts)).digest()


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_mth(d: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH."""
    if not d:
        return _sha()
    if len(d) == 1:
        return _sha(b"\x00", d[0])
    k = _k(len(d))
    return _sha(b"\x01", ref_mth(d[:k]), ref_mth(d[k:]))


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH."""
    if len(d) == 1:
        return []
    k = _k(len(d))
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF."""
    if m == len(d):
        return [] if b else [ref_mth(d)]
    k = _k(len(d))
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


def ref_path_shape(m: int, n: int) -> list[str]:
    """Which side each PATH element is on: "R" = MTH(D[k:n]), "L" = MTH(D[0:k])."""
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*ref_path_shape(m, k), "R"]
    return [*ref_path_shape(m - k, n - k), "L"]


def ref_proof_shape(m: int, n: int, b: bool = True) -> list[str]:
    """What each PROOF element is: "S" = the old subtree itself, "R" / "L" as above."""
    if m == n:
        return [] if b else ["S"]
    k = _k(n)
    if m <= k:
        return [*ref_proof_shape(m, k, b), "R"]
    return [*ref_proof_shape(m - k, n - k, False), "L"]


def leaves_for(n: int, salt: bytes = b"") -> list[bytes]:
    """Distinct, deterministic leaf data."""
    return [salt + i.to_bytes(4, "big") for i in range(n)]


def flip(data: bytes, bit: int) -> bytes:
    bit %= len(data) * 8
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


class Recorder:
    """A lookup over a dict that remembers what it was asked for."""

    def __init__(self, nodes: dict[tuple[int, int], bytes]) -> None:
        self.nodes = nodes
        self.asked: set[tuple[int, int]] = set()

    def __call__(self, level: int, index: int) -> bytes:
        self.asked.add((level, index))
        return self.nodes[level, index]


# --- Known answers (certificate-transparency / Trillian test vectors) --------------------------

CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
CT_ROOTS = {
    0: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    1: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    2: "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    3: "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    4: "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    5: "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    6: "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    7: "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    8: "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
}
CT_INCLUSION = {
    (0, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (5, 8): [
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 3): ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"],
    (1, 5): [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}
CT_CONSISTENCY = {
    (1, 8): [
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    (6, 8): [
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    ],
    (2, 5): [
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    ],
}


def test_hashes_are_domain_separated_sha256() -> None:
    assert leaf_hash(b"") == _sha(b"\x00")
    assert leaf_hash(b"").hex() == CT_ROOTS[1]
    assert node_hash(b"a" * 32, b"b" * 32) == _sha(b"\x01", b"a" * 32, b"b" * 32)
    assert EMPTY_ROOT.hex() == CT_ROOTS[0]


@pytest.mark.parametrize("size", sorted(CT_ROOTS))
def test_roots_match_the_published_vectors(size: int) -> None:
    assert MerkleLog(CT_LEAVES[:size]).root().hex() == CT_ROOTS[size]
    assert ref_mth(CT_LEAVES[:size]).hex() == CT_ROOTS[size]


@pytest.mark.parametrize(("index", "size"), sorted(CT_INCLUSION))
def test_inclusion_proofs_match_the_published_vectors(index: int, size: int) -> None:
    log = MerkleLog(CT_LEAVES)
    proof = log.inclusion_proof(index, size)
    assert [p.hex() for p in proof] == CT_INCLUSION[index, size]
    root = bytes.fromhex(CT_ROOTS[size])
    assert verify_inclusion(leaf_hash(CT_LEAVES[index]), index, size, proof, root)


@pytest.mark.parametrize(("old", "new"), sorted(CT_CONSISTENCY))
def test_consistency_proofs_match_the_published_vectors(old: int, new: int) -> None:
    proof = MerkleLog(CT_LEAVES).consistency_proof(old, new)
    assert [p.hex() for p in proof] == CT_CONSISTENCY[old, new]
    old_root, new_root = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
    assert verify_consistency(old, new, old_root, new_root, proof)


def test_every_root_and_proof_agrees_with_the_recursive_definitions() -> None:
    d = leaves_for(40, b"ref")
    log = MerkleLog(d)
    for n in range(41):
        assert log.root(n) == ref_mth(d[:n]), n
        for m in range(n):
            assert log.inclusion_proof(m, n) == ref_path(m, d[:n]), (m, n)
        for m in range(1, n + 1):
            proof = log.consistency_proof(m, n)
            assert proof == ref_subproof(m, d[:n], True), (m, n)
            assert verify_consistency(m, n, ref_mth(d[:m]), ref_mth(d[:n]), proof), (m, n)


def test_a_proof_verifies_for_other_sizes_only_when_they_have_the_same_shape() -> None:
    # A path does not carry the tree size: the signed head binds size to root. A proof for
    # (index, n) checked against root(n) while claiming size n2 must pass exactly when the RFC
    # gives (index, n2) the same shape, and fail otherwise (as when it is too short or long).
    d = leaves_for(40, b"shape")
    log = MerkleLog(d)
    for n in range(1, 34):
        root = log.root(n)
        for index in range(n):
            proof, hashed = log.inclusion_proof(index, n), leaf_hash(d[index])
            shape = ref_path_shape(index, n)
            for claimed in range(index + 1, 41):
                expected = ref_path_shape(index, claimed) == shape
                assert verify_inclusion(hashed, index, claimed, proof, root) is expected
    for n in range(2, 21):
        for m in range(1, n):
            proof, shape = log.consistency_proof(m, n), ref_proof_shape(m, n)
            for claimed_new in range(2, 21):
                for claimed_old in range(1, claimed_new):
                    expected = ref_proof_shape(claimed_old, claimed_new) == shape
                    verified = verify_consistency(
                        claimed_old, claimed_new, log.root(m), log.root(n), proof
                    )
                    assert verified is expected, (m, n, claimed_old, claimed_new)


# --- Appending in batches ----------------------------------------------------------------------


def all_complete_subtrees(size: int) -> set[tuple[int, int]]:
    return {
        (level, index)
        for level in range(size.bit_length())
        for index in range(size >> level)
        if (index + 1) << level <= size
    }


@MODEST
@given(batches=st.lists(st.integers(min_value=0, max_value=40), min_size=1, max_size=12))
def test_batched_appends_build_the_same_tree_as_all_at_once(batches: list[int]) -> None:
    total = sum(batches)
    d = leaves_for(total, b"batch")
    store: dict[tuple[int, int], bytes] = {}
    size = 0
    for count in batches:
        lookup = Recorder(store)
        created = appended_nodes(size, [leaf_hash(x) for x in d[size : size + count]], lookup)
        assert lookup.asked == nodes_needed_for_append(size, count)
        assert len(lookup.asked) <= size.bit_count()
        for level, index, digest in created:
            assert (level, index) not in store, "a stored node is never rewritten"
            store[level, index] = digest
        size += count
        assert set(store) == all_complete_subtrees(size)
        assert root_hash(size, Recorder(store)) == ref_mth(d[:size])
    assert store == MerkleLog(d).nodes


def test_appended_nodes_refuses_what_is_not_a_hash() -> None:
    with pytest.raises(ValueError, match="32-byte"):
        appended_nodes(0, [b"short"], Recorder({}))
    with pytest.raises(ValueError, match="non-negative"):
        appended_nodes(-1, [], Recorder({}))


# --- The nodes_needed_* functions name exactly what will be looked up --------------------------


@MODEST
@given(data=st.data(), size=st.integers(min_value=0, max_value=300))
def test_nodes_needed_are_exactly_the_lookups(data: st.DataObject, size: int) -> None:
    nodes = MerkleLog(leaves_for(size)).nodes

    lookup = Recorder(nodes)
    root_hash(size, lookup)
    assert lookup.asked == nodes_needed_for_root(size)
    assert len(lookup.asked) == size.bit_count()

    if size:
        index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
        lookup = Recorder(nodes)
        inclusion_proof(index, size, lookup)
        assert lookup.asked == nodes_needed_for_inclusion(index, size)

    old = data.draw(st.integers(min_value=0, max_value=size), label="old")
    lookup = Recorder(nodes)
    consistency_proof(old, size, lookup)
    assert lookup.asked == nodes_needed_for_consistency(old, size)

    count = data.draw(st.integers(min_value=0, max_value=50), label="count")
    lookup = Recorder(nodes)
    appended_nodes(size, [leaf_hash(b"%d" % i) for i in range(count)], lookup)
    assert lookup.asked == nodes_needed_for_append(size, count)


# --- Inclusion ---------------------------------------------------------------------------------

sizes = st.integers(min_value=1, max_value=300)
salts = st.binary(min_size=0, max_size=8)


@MODEST
@given(size=sizes, salt=salts)
def test_every_leaf_of_every_tree_proves_its_inclusion(size: int, salt: bytes) -> None:
    d = leaves_for(size, salt)
    log = MerkleLog(d)
    root = log.root()
    for index in range(size):
        proof = log.inclusion_proof(index)
        assert verify_inclusion(leaf_hash(d[index]), index, size, proof, root)
        assert verify_inclusion(leaf_hash(d[index]), index, size, tuple(proof), root)


@MODEST
@given(size=sizes, salt=salts, data=st.data())
def test_any_flipped_bit_breaks_an_inclusion_proof(
    size: int, salt: bytes, data: st.DataObject
) -> None:
    d = leaves_for(size, salt)
    log = MerkleLog(d)
    root = log.root()
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = log.inclusion_proof(index)
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")

    assert not verify_inclusion(leaf_hash(flip(d[index], bit)), index, size, proof, root)
    assert not verify_inclusion(flip(leaf_hash(d[index]), bit), index, size, proof, root)
    assert not verify_inclusion(leaf_hash(d[index]), index, size, proof, flip(root, bit))
    for position in range(len(proof)):
        forged = [*proof]
        forged[position] = flip(forged[position], bit)
        assert not verify_inclusion(leaf_hash(d[index]), index, size, forged, root)


@MODEST
@given(size=sizes, salt=salts, data=st.data())
def test_an_inclusion_proof_holds_for_its_own_position_only(
    size: int, salt: bytes, data: st.DataObject
) -> None:
    d = leaves_for(size + 40, salt)
    log = MerkleLog(d)
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = log.inclusion_proof(index, size)
    hashed = leaf_hash(d[index])
    root = log.root(size)

    other = data.draw(
        st.integers(min_value=0, max_value=size + 5).filter(lambda i: i != index), label="other"
    )
    assert not verify_inclusion(hashed, other, size, proof, root)
    for wrong in (index ^ 1, index ^ 2, index - 1, index + 1, -1, size, size + 1):
        if wrong != index:
            assert not verify_inclusion(hashed, wrong, size, proof, root)

    # A different size with that size's genuine root: the proof must be that size's proof.
    other_size = data.draw(
        st.integers(min_value=index + 1, max_value=size + 40).filter(lambda s: s != size),
        label="other_size",
    )
    genuine = log.inclusion_proof(index, other_size)
    expected = genuine == proof
    assert verify_inclusion(hashed, index, other_size, proof, log.root(other_size)) is expected
    for wrong_size in (size * 2, size // 2, 0):
        if wrong_size not in (size, other_size) and wrong_size <= len(d):
            assert verify_inclusion(hashed, index, wrong_size, proof, log.root(wrong_size)) is (
                wrong_size > index and log.inclusion_proof(index, wrong_size) == proof
            )


@MODEST
@given(size=sizes, salt=salts, data=st.data())
def test_truncated_or_extended_inclusion_proofs_fail(
    size: int, salt: bytes, data: st.DataObject
) -> None:
    d = leaves_for(size, salt)
    log = MerkleLog(d)
    root = log.root()
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="index")
    proof = log.inclusion_proof(index)
    hashed = leaf_hash(d[index])
    extra = data.draw(st.binary(min_size=32, max_size=32), label="extra")
    for forged in (
        proof[:-1],
        proof[1:],
        [*proof, extra],
        [extra, *proof],
        [*proof, root],
        [root, *proof],
    ):
        if forged != proof:
            assert not verify_inclusion(hashed, index, size, forged, root)
    # One hash too many, with the root a taller tree would have: the size forbids it.
    assert not verify_inclusion(hashed, index, size, [*proof, extra], node_hash(extra, root))
    assert not verify_inclusion(hashed, index, size, [*proof, extra], node_hash(root, extra))


def test_inclusion_edge_cases() -> None:
    one = leaf_hash(b"only")
    assert verify_inclusion(one, 0, 1, [], one)
    assert not verify_inclusion(one, 0, 1, [one], one)
    assert not verify_inclusion(one, 1, 1, [], one)
    assert not verify_inclusion(one, 0, 0, [], EMPTY_ROOT)
    with pytest.raises(ValueError, match="outside"):
        inclusion_proof(3, 3, Recorder({}))
    with pytest.raises(ValueError, match="non-negative"):
        inclusion_proof(-1, 3, Recorder({}))


# --- Consistency -------------------------------------------------------------------------------


@MODEST
@given(size=sizes, salt=salts, data=st.data())
def test_consistency_proofs_verify_between_any_two_sizes(
    size: int, salt: bytes, data: st.DataObject
) -> None:
    log = MerkleLog(leaves_for(size, salt))
    for _ in range(5):
        old = data.draw(st.integers(min_value=1, max_value=size), label="old")
        proof = log.consistency_proof(old)
        assert verify_consistency(old, size, log.root(old), log.root(), proof)


@MODEST
@given(size=st.integers(min_value=2, max_value=300), salt=salts, data=st.data())
def test_forged_consistency_proofs_fail(size: int, salt: bytes, data: st.DataObject) -> None:
    d = leaves_for(size + 40, salt)
    log = MerkleLog(d)
    old = data.draw(st.integers(min_value=1, max_value=size - 1), label="old")
    proof = log.consistency_proof(old, size)
    old_root, new_root = log.root(old), log.root(size)
    assert verify_consistency(old, size, old_root, new_root, proof)
    bit = data.draw(st.integers(min_value=0, max_value=255), label="bit")

    assert not verify_consistency(old, size, flip(old_root, bit), new_root, proof)
    assert not verify_consistency(old, size, old_root, flip(new_root, bit), proof)
    assert not verify_consistency(old, size, new_root, old_root, proof)
    for position in range(len(proof)):
        forged = [*proof]
        forged[position] = flip(forged[position], bit)
        assert not verify_consistency(old, size, old_root, new_root, forged)

    extra = data.draw(st.binary(min_size=32, max_size=32), label="extra")
    for forged in (
        [],
        proof[:-1],
        proof[1:],
        [*proof, extra],
        [extra, *proof],
        [proof[0], *proof],
        [*proof, old_root],
    ):
        assert not verify_consistency(old, size, old_root, new_root, forged)
    taller = (node_hash(extra, old_root), node_hash(extra, new_root))
    assert not verify_consistency(old, size, *taller, [*proof, extra])

    # Other sizes, each with its genuine root: only that pair's own proof may verify.
    other_old = data.draw(st.integers(min_value=1, max_value=size + 40), label="other_old")
    other_new = data.draw(st.integers(min_value=other_old, max_value=size + 40), label="other_new")
    for claimed_old, claimed_new in (
        (other_old, other_new),
        (old - 1, size),
        (old + 1, size),
        (old ^ 2, size),
        (old, size * 2),
        (old, size // 2),
        (old, size + 1),
        (size, old),
    ):
        if (claimed_old, claimed_new) == (old, size) or not 0 <= claimed_old <= len(d):
            continue
        if not 0 <= claimed_new <= len(d):
            continue
        genuine_roots = (log.root(claimed_old), log.root(claimed_new))
        expected = (
            claimed_old <= claimed_new and log.consistency_proof(claimed_old, claimed_new) == proof
        )
        assert verify_consistency(claimed_old, claimed_new, *genuine_roots, proof) is expected


def test_consistency_edge_cases() -> None:
    log = MerkleLog(leaves_for(5))
    r3, r5 = log.root(3), log.root(5)
    assert log.consistency_proof(5) == []
    assert verify_consistency(5, 5, r5, r5, [])
    assert not verify_consistency(5, 5, r5, r3, [])
    assert not verify_consistency(5, 5, r5, r5, [r5])
    assert log.consistency_proof(0) == []
    assert verify_consistency(0, 5, EMPTY_ROOT, r5, [])
    assert not verify_consistency(0, 5, r3, r5, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, r5, [r5])
    assert not verify_consistency(5, 3, r5, r3, log.consistency_proof(3))
    with pytest.raises(ValueError, match="larger"):
        consistency_proof(5, 3, log.node)
    with pytest.raises(ValueError, match="only 5"):
        log.consistency_proof(3, 6)


# --- Verifiers take anything and answer False --------------------------------------------------

garbage = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True),
    st.text(max_size=40),
    st.binary(max_size=40),
    st.lists(st.one_of(st.binary(max_size=40), st.integers(), st.none()), max_size=5),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


@MODEST
@given(args=st.tuples(garbage, garbage, garbage, garbage, garbage), which=st.integers(0, 4))
def test_verifiers_never_raise_on_malformed_input(
    args: tuple[object, object, object, object, object], which: int
) -> None:
    log = MerkleLog(leaves_for(7))
    good_inclusion: list[Any] = [
        leaf_hash(leaves_for(7)[2]),
        2,
        7,
        log.inclusion_proof(2),
        log.root(),
    ]
    good_inclusion[which] = args[which]
    assert verify_inclusion(*good_inclusion) in (True, False)
    verify_inclusion(*cast(tuple[Any, ...], args))

    good_consistency: list[Any] = [3, 7, log.root(3), log.root(), log.consistency_proof(3)]
    good_consistency[which] = args[which]
    assert verify_consistency(*good_consistency) in (True, False)
    verify_consistency(*cast(tuple[Any, ...], args))


def test_verifiers_refuse_wrongly_typed_sizes_and_hashes() -> None:
    log = MerkleLog(leaves_for(7))
    hashed, proof, root = leaf_hash(leaves_for(7)[2]), log.inclusion_proof(2), log.root()
    assert verify_inclusion(hashed, 2, 7, proof, root)
    loose: Any = verify_inclusion
    assert not loose(hashed, True, 7, proof, root)
    assert not loose(hashed, 2.0, 7, proof, root)
    assert not loose(hashed.hex(), 2, 7, proof, root)
    assert not loose(hashed, 2, 7, [p.hex() for p in proof], root)
    assert not loose(hashed, 2, 7, b"".join(proof), root)
    assert not loose(hashed, 2, 7, proof, root[:31])
    assert not loose(bytearray(hashed), 2, 7, proof, root)
