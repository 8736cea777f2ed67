// RFC 6962 / RFC 9162 Merkle tree hashing with WebCrypto SHA-256 (docs/verification.md,
// sections 2-4). Written from the specification, independently of ledger-svc's Python code;
// runs unchanged in a browser and in Node 20 (globalThis.crypto.subtle).

const subtle = globalThis.crypto.subtle;

/** SHA-256 of the concatenated byte arrays. */
export async function sha256(...parts) {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const joined = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    joined.set(part, at);
    at += part.length;
  }
  return new Uint8Array(await subtle.digest("SHA-256", joined));
}

const LEAF_PREFIX = Uint8Array.of(0x00);
const NODE_PREFIX = Uint8Array.of(0x01);

/** leaf_hash(d) = HASH(0x00 || d) */
export function leafHash(data) {
  return sha256(LEAF_PREFIX, data);
}

/** node_hash(l, r) = HASH(0x01 || l || r) */
export function nodeHash(left, right) {
  return sha256(NODE_PREFIX, left, right);
}

/** Lowercase hex of bytes. */
export function toHex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

const HEX_HASH = /^[0-9a-f]{64}$/;

/** The 32 bytes of a 64-digit lowercase hex hash, or null when it is not one. */
export function hashFromHex(text) {
  if (typeof text !== "string" || !HEX_HASH.test(text)) return null;
  const out = new Uint8Array(32);
  for (let i = 0; i < 32; i++) out[i] = parseInt(text.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Constant-shape byte comparison. */
export function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

function largestPowerOfTwoBelow(n) {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** MTH(D[0:n]) by the recursive definition (RFC 9162 2.1.1); for tests and small trees. */
export async function rootHash(leaves) {
  if (leaves.length === 0) return sha256();
  if (leaves.length === 1) return leafHash(leaves[0]);
  const k = largestPowerOfTwoBelow(leaves.length);
  return nodeHash(await rootHash(leaves.slice(0, k)), await rootHash(leaves.slice(k)));
}

function validPath(path) {
  return Array.isArray(path) && path.every((p) => p instanceof Uint8Array && p.length === 32);
}

// Sizes and indices are JavaScript numbers; the shifts below are done by halving so that trees
// beyond 2^31 leaves still work (exact up to 2^53).
const half = (n) => Math.floor(n / 2);
const odd = (n) => n % 2 === 1;

/**
 * Does `path` prove `hash` (a leaf hash) to be leaf `index` of the tree of `size` leaves whose
 * root is `root`? (RFC 9162 2.1.3.2)
 */
export async function verifyInclusion(hash, index, size, path, root) {
  if (!Number.isSafeInteger(index) || !Number.isSafeInteger(size) || index < 0) return false;
  if (index >= size || !validPath(path)) return false;
  let fn = index;
  let sn = size - 1;
  let r = hash;
  for (const p of path) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      r = await nodeHash(p, r);
      while (fn !== 0 && !odd(fn)) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      r = await nodeHash(r, p);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equalBytes(r, root);
}

function isPowerOfTwo(n) {
  while (n > 1) {
    if (odd(n)) return false;
    n = half(n);
  }
  return n === 1;
}

/**
 * Does `proof` show the tree of size `m` with root `oldRoot` to be a prefix of the tree of size
 * `n` with root `newRoot`? (RFC 9162 2.1.4.2; m = 0 only with an empty proof and the empty root)
 */
export async function verifyConsistency(m, n, oldRoot, newRoot, proof) {
  if (!Number.isSafeInteger(m) || !Number.isSafeInteger(n) || m < 0 || m > n) return false;
  if (!validPath(proof)) return false;
  if (m === n) return proof.length === 0 && equalBytes(oldRoot, newRoot);
  if (m === 0) return proof.length === 0 && equalBytes(oldRoot, await sha256());
  if (proof.length === 0) return false;
  const nodes = isPowerOfTwo(m) ? [oldRoot, ...proof] : proof;
  let fn = m - 1;
  let sn = n - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = nodes[0];
  let sr = nodes[0];
  for (const c of nodes.slice(1)) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (fn !== 0 && !odd(fn)) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equalBytes(fr, oldRoot) && equalBytes(sr, newRoot);
}
