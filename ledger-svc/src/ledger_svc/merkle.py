"""RFC 6962 / RFC 9162 Merkle tree hashing, independent of where the nodes are stored.

The log is a list of leaves ``D[0:n]``. Its hash is RFC 9162 §2.1.1's Merkle Tree Hash::

    MTH({})      = SHA-256()
    MTH({d(0)})  = SHA-256(0x00 || d(0))
    MTH(D[0:n])  = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))   k = largest power of two < n

Storage keeps only *complete, aligned* subtrees, addressed as ``(level, index)``: level 0 holds
the leaf hashes and node ``(L, i)`` covers leaves ``[i * 2**L, (i + 1) * 2**L)``. Such a node never
changes once it exists, so rows are only ever inserted. Every other hash the RFC needs (the right
edge of a tree whose size is not a power of two) is folded on demand from the complete subtrees
that tile it.

Each function that reads nodes takes a ``lookup(level, index) -> bytes`` and has a twin
``nodes_needed_*`` returning exactly the addresses it will look up, so that a caller backed by SQL
can fetch them in one query and hand in ``lambda level, index: fetched[level, index]``. Builders
(``appended_nodes``, ``root_hash``, proofs) raise :class:`ValueError` on impossible arguments;
verifiers (``verify_inclusion``, ``verify_consistency``) never raise and answer ``False`` to
anything malformed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Sequence

#: Gives the stored hash of the complete subtree ``(level, index)``.
Lookup = Callable[[int, int], bytes]
#: ``(level, index)`` of a complete, aligned subtree.
Address = tuple[int, int]

HASH_SIZE = 32
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
#: The root of the empty tree: SHA-256 of nothing.
EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(data: bytes) -> bytes:
    """SHA-256(0x00 || data): the hash of one leaf."""
    return hashlib.sha256(LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _check_size(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be a non-negative integer, not {value!r}")


# --- Ranges of leaves and the complete subtrees that tile them ---------------------------------
#
# Every subtree the RFC's recursion visits is a range [start, end) whose start is a multiple of
# the smallest power of two >= end - start. Such a range is tiled by complete subtrees, one per
# set bit of its length, largest (leftmost) first; its MTH is those hashes folded from the right.


def _tiles(start: int, end: int) -> list[Address]:
    """The complete subtrees covering ``[start, end)``, left to right."""
    tiles: list[Address] = []
    position = start
    for level in range((end - start).bit_length() - 1, -1, -1):
        if (end - start) >> level & 1:
            tiles.append((level, position >> level))
            position += 1 << level
    return tiles


def _range_hash(start: int, end: int, lookup: Lookup) -> bytes:
    """MTH(D[start:end]) from stored complete subtrees."""
    hashes = [lookup(level, index) for level, index in _tiles(start, end)]
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


def _nodes_of(ranges: Iterable[tuple[int, int]]) -> set[Address]:
    return {tile for start, end in ranges for tile in _tiles(start, end)}


# --- Appending ---------------------------------------------------------------------------------


def _append_plan(old_size: int, count: int) -> list[Address]:
    """The subtrees that become complete when ``count`` leaves follow ``old_size``, in an order
    where both children of a node come before it."""
    plan: list[Address] = []
    for leaf in range(old_size, old_size + count):
        level, index = 0, leaf
        plan.append((level, index))
        # A right child (odd index) completes its parent.
        while index & 1:
            level, index = level + 1, index >> 1
            plan.append((level, index))
    return plan


def _stored_left_child(old_size: int, level: int, index: int) -> Address | None:
    """The left child of new node ``(level, index)`` if it was already stored, else None."""
    child_level, child_index = level - 1, 2 * index
    if (child_index + 1) << child_level <= old_size:
        return child_level, child_index
    return None


def nodes_needed_for_append(old_size: int, count: int) -> set[Address]:
    """Stored nodes :func:`appended_nodes` looks up to append ``count`` leaves to ``old_size``
    (left siblings on the old tree's right edge; at most one per level)."""
    _check_size("old_size", old_size)
    _check_size("count", count)
    needed: set[Address] = set()
    for level, index in _append_plan(old_size, count):
        if level and (child := _stored_left_child(old_size, level, index)) is not None:
            needed.add(child)
    return needed


def appended_nodes(
    old_size: int, new_leaf_hashes: Sequence[bytes], lookup: Lookup
) -> list[tuple[int, int, bytes]]:
    """Every ``(level, index, hash)`` that becomes complete when these leaf hashes are appended
    to a tree of ``old_size`` leaves, the leaves themselves (level 0) included. Children come
    before their parent. ``lookup`` is asked only for :func:`nodes_needed_for_append`."""
    _check_size("old_size", old_size)
    for h in new_leaf_hashes:
        if not isinstance(h, bytes) or len(h) != HASH_SIZE:
            raise ValueError("leaf hashes must be 32-byte SHA-256 digests")
    new: dict[Address, bytes] = {}
    created: list[tuple[int, int, bytes]] = []
    for level, index in _append_plan(old_size, len(new_leaf_hashes)):
        if level == 0:
            digest = new_leaf_hashes[index - old_size]
        else:
            stored = _stored_left_child(old_size, level, index)
            left = lookup(*stored) if stored is not None else new[level - 1, 2 * index]
            digest = node_hash(left, new[level - 1, 2 * index + 1])
        new[level, index] = digest
        created.append((level, index, digest))
    return created


# --- Root --------------------------------------------------------------------------------------


def nodes_needed_for_root(size: int) -> set[Address]:
    """Stored nodes :func:`root_hash` looks up (one per set bit of ``size``)."""
    _check_size("size", size)
    return set(_tiles(0, size)) if size else set()


def root_hash(size: int, lookup: Lookup) -> bytes:
    """MTH of the first ``size`` leaves."""
    _check_size("size", size)
    return _range_hash(0, size, lookup) if size else EMPTY_ROOT


# --- Inclusion ---------------------------------------------------------------------------------


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose MTH form PATH(index, D[0:size]) (RFC 9162 §2.1.3.1), leaf to root."""
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of size {size}")
    ranges: list[tuple[int, int]] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
    ranges.reverse()
    return ranges


def nodes_needed_for_inclusion(index: int, size: int) -> set[Address]:
    """Stored nodes :func:`inclusion_proof` looks up."""
    _check_size("index", index)
    _check_size("size", size)
    return _nodes_of(_inclusion_ranges(index, size))


def inclusion_proof(index: int, size: int, lookup: Lookup) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``size`` leaves, leaf to root."""
    _check_size("index", index)
    _check_size("size", size)
    return [_range_hash(start, end, lookup) for start, end in _inclusion_ranges(index, size)]


# --- Consistency -------------------------------------------------------------------------------


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The ranges whose MTH form PROOF(old_size, D[0:new_size]) (RFC 9162 §2.1.4.1)."""
    if old_size > new_size:
        raise ValueError(f"old size {old_size} is larger than new size {new_size}")
    if old_size in (0, new_size):
        return []
    ranges: list[tuple[int, int]] = []
    start, end, whole = 0, new_size, True
    # SUBPROOF(m, D[start:end], whole) with m = old_size - start, unrolled from the top.
    while old_size != end:
        k = _split(end - start)
        if old_size - start <= k:
            ranges.append((start + k, end))
            end = start + k
        else:
            ranges.append((start, start + k))
            start += k
            whole = False
    if not whole:
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def nodes_needed_for_consistency(old_size: int, new_size: int) -> set[Address]:
    """Stored nodes :func:`consistency_proof` looks up."""
    _check_size("old_size", old_size)
    _check_size("new_size", new_size)
    return _nodes_of(_consistency_ranges(old_size, new_size))


def consistency_proof(old_size: int, new_size: int, lookup: Lookup) -> list[bytes]:
    """The proof that the tree of ``old_size`` leaves is a prefix of the tree of ``new_size``
    leaves. Empty when ``old_size`` is 0 or equals ``new_size``."""
    _check_size("old_size", old_size)
    _check_size("new_size", new_size)
    return [
        _range_hash(start, end, lookup) for start, end in _consistency_ranges(old_size, new_size)
    ]


# --- Verification (never raises) ---------------------------------------------------------------


def _is_size(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_hash(value: object) -> bool:
    return isinstance(value, bytes) and len(value) == HASH_SIZE


def _is_path(proof: object) -> bool:
    return (
        isinstance(proof, Sequence)
        and not isinstance(proof, bytes | str)
        and all(_is_hash(p) for p in proof)
    )


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` show leaf ``index`` with hash ``leaf_hash`` to be in
    the tree of ``size`` leaves whose root is ``root``?"""
    if not (
        _is_hash(leaf_hash) and _is_size(index) and _is_size(size) and _is_path(proof)
    ) or not _is_hash(root):
        return False
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(r, root)


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: does ``proof`` show the tree of ``old_size`` leaves with root
    ``old_root`` to be a prefix of the tree of ``new_size`` leaves with root ``new_root``?

    Beyond the RFC (which assumes ``0 < old_size < new_size``): equal sizes need an empty proof
    and equal roots; ``old_size == 0`` needs an empty proof and ``old_root`` = SHA-256()."""
    if not (
        _is_size(old_size)
        and _is_size(new_size)
        and _is_hash(old_root)
        and _is_hash(new_root)
        and _is_path(proof)
    ):
        return False
    if old_size > new_size:
        return False
    if old_size == new_size:
        return not proof and hmac.compare_digest(old_root, new_root)
    if old_size == 0:
        return not proof and hmac.compare_digest(old_root, EMPTY_ROOT)
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and hmac.compare_digest(fr, old_root) and hmac.compare_digest(sr, new_root)


# --- In memory ---------------------------------------------------------------------------------


class MerkleLog:
    """A Merkle log held in a dict, built on the same functions as the stored one (for tests and
    for anyone who wants to rebuild a tree from its leaves)."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self._nodes: dict[Address, bytes] = {}
        self._size = 0
        self.extend(leaves)

    def __len__(self) -> int:
        return self._size

    @property
    def size(self) -> int:
        """Number of leaves."""
        return self._size

    @property
    def nodes(self) -> dict[Address, bytes]:
        """Every complete subtree (a copy)."""
        return dict(self._nodes)

    def node(self, level: int, index: int) -> bytes:
        """The hash of complete subtree ``(level, index)``; KeyError if it is not complete."""
        return self._nodes[level, index]

    def append(self, data: bytes) -> int:
        """Append one leaf (its bytes); return its index."""
        self.extend_hashes([leaf_hash(data)])
        return self._size - 1

    def extend(self, leaves: Iterable[bytes]) -> None:
        """Append leaves (their bytes) as one batch."""
        self.extend_hashes([leaf_hash(data) for data in leaves])

    def extend_hashes(self, leaf_hashes: Sequence[bytes]) -> list[tuple[int, int, bytes]]:
        """Append leaf hashes as one batch; return the nodes that became complete."""
        created = appended_nodes(self._size, leaf_hashes, self.node)
        for level, index, digest in created:
            self._nodes[level, index] = digest
        self._size += len(leaf_hashes)
        return created

    def leaf_hash(self, index: int) -> bytes:
        """The hash of leaf ``index``."""
        return self._nodes[0, index]

    def _size_or_current(self, size: int | None) -> int:
        if size is None:
            return self._size
        _check_size("size", size)
        if size > self._size:
            raise ValueError(f"the log has only {self._size} leaves, not {size}")
        return size

    def root(self, size: int | None = None) -> bytes:
        """The root of the first ``size`` leaves (all by default)."""
        return root_hash(self._size_or_current(size), self.node)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        """The audit path of leaf ``index`` in the tree of ``size`` leaves (all by default)."""
        return inclusion_proof(index, self._size_or_current(size), self.node)

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """The consistency proof from ``old_size`` to ``new_size`` (all by default)."""
        new = self._size_or_current(new_size)
        return consistency_proof(old_size, new, self.node)
