// The site's verifier against the published test vectors of docs/verification.md (read from the
// page itself, so the page and this code cannot drift apart), the certificate-transparency
// vectors, RFC 8032 / RFC 8037, and one-byte forgeries that must all fail. Run:
//   node --test web/test/
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import {
  hashFromHex,
  leafHash,
  nodeHash,
  rootHash,
  sha256,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from "../js/merkle.js";
import { decodeRecord, importKeys, parseHead, signingInput, verifyHeadSignature, verifyReceipt } from "../js/verify.js";

const PAGE = readFileSync(new URL("../../docs/verification.md", import.meta.url), "utf8");
const bytes = (hex) => Uint8Array.from(hex.match(/../g) ?? [], (h) => parseInt(h, 16));
const utf8 = (text) => new TextEncoder().encode(text);

/** The JSON code block that follows the line introducing `name` in the worked example. */
function file(name) {
  const at = PAGE.indexOf(`\`${name}\``, PAGE.indexOf("### The files"));
  assert.ok(at > 0, `${name} is in docs/verification.md`);
  const block = PAGE.slice(at).match(/```json\n([\s\S]*?)```/);
  return JSON.parse(block[1]);
}

/** Rows `| # | `a` | `b` |` of the worked example's tables. */
function rows(afterHeading) {
  const section = PAGE.slice(PAGE.indexOf(afterHeading));
  const table = section.slice(0, section.indexOf("\n\n", section.indexOf("|---")));
  return [...table.matchAll(/^\| (\d) \| `([^`]+)`(?: \| `([^`]+)`)? \|$/gm)].map((m) => m.slice(2));
}

const receipt = file("receipt.json");
const head = file("head.json");
const keys = file("keys.json");
const records = rows("### The records and their leaf hashes").map(([r]) => r);
const recordHashes = rows("| # | record_hash");

test("the worked example's records hash to the published record and leaf hashes", async () => {
  assert.equal(records.length, 5);
  assert.equal(recordHashes.length, 5);
  for (const [i, record] of records.entries()) {
    assert.equal(toHex(await sha256(utf8(record))), recordHashes[i][0]);
    assert.equal(toHex(await leafHash(utf8(record))), recordHashes[i][1]);
    assert.equal(decodeRecord(utf8(record)).vote_id.length, 36);
  }
  const leaves = records.map(utf8);
  assert.equal(
    toHex(await rootHash(leaves.slice(0, 3))),
    "9a54dc8dd5f33aee5f1f8adce1914b475f80206cb8eda7a6f537016217012333",
  );
  assert.equal(
    toHex(await rootHash(leaves)),
    "6ebf16ec14428d6690078d4a8c06a36c1433030d4a594c2902058d04b932d1c3",
  );
  assert.ok(PAGE.includes(toHex(await rootHash(leaves.slice(0, 2)))), "H01 is on the page");
});

test("the worked example's tree heads: signing input and Ed25519 signatures", async () => {
  const parsed = parseHead(head);
  const expected =
    'democracy-seoul-ledger-sth-v1\n{"root":"6ebf16ec14428d6690078d4a8c06a36c1433030d4a594c2902058d04b932d1c3","timestamp":"2026-11-24T12:00:06.500Z","tree_size":5}';
  assert.deepEqual(signingInput(parsed), utf8(expected));
  assert.ok(PAGE.includes(expected.split("\n")[1]));
  assert.ok(PAGE.includes(toHex(parsed.signature)), "the signature's hex is on the page");
  const index = await importKeys(keys);
  assert.ok(await verifyHeadSignature(parsed, index.get("ledger-example")));
  assert.ok(await verifyHeadSignature(parseHead(receipt.head), index.get("ledger-example")));
});

test("the worked example's receipt verifies against the published head and keys", async () => {
  const result = await verifyReceipt(receipt, head, keys, {
    recordHash: "858d49c9e0f281c898030f44979c796fa9ecc42f168ea1260fe2f4dbf9195fe5",
  });
  assert.deepEqual(result.failures, []);
  assert.ok(result.ok);
  assert.ok(result.signaturesChecked);
  assert.equal(result.record.vote_id, "22222222-2222-4222-8222-222222222222");
  // The Python verifier's checks, one for one: the "ok" lines of "The verifier's output" on the
  // page, plus the record_hash check (given here, not there).
  const output = PAGE.slice(PAGE.indexOf("### The verifier's output"));
  const pythonOk = output.slice(0, output.indexOf("RECEIPT VERIFIED")).match(/^ok /gm).length;
  assert.equal(pythonOk, 7);
  assert.equal(result.steps.filter((s) => s.status === "ok").length, pythonOk + 1);
});

test("without keys only the hashes are checked, and the report says so", async () => {
  const result = await verifyReceipt(receipt, head, null);
  assert.ok(result.ok);
  assert.equal(result.signaturesChecked, false);
  assert.match(result.steps.at(-1).message, /서명은 확인하지 않았습니다/);
});

const CT_LEAVES = [
  "",
  "00",
  "10",
  "2021",
  "3031",
  "40414243",
  "5051525354555657",
  "606162636465666768696a6b6c6d6e6f",
].map(bytes);
const CT_ROOTS = [
  "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
  "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
  "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
  "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
  "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
  "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
  "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
  "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
  "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
];
const CT_INCLUSION = [
  [0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]],
  [5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]],
  [2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]],
  [1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]],
];
const CT_CONSISTENCY = [
  [1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7", "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]],
  [6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a", "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0", "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]],
  [2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e", "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]],
];

test("certificate-transparency vectors: roots of every size", async () => {
  assert.ok(PAGE.includes(CT_ROOTS[8]), "the size-8 root is the one the page publishes");
  for (let n = 0; n <= 8; n++) {
    assert.equal(toHex(await rootHash(CT_LEAVES.slice(0, n))), CT_ROOTS[n], `size ${n}`);
  }
});

test("certificate-transparency vectors: inclusion and consistency proofs", async () => {
  for (const [index, n, path] of CT_INCLUSION) {
    const proof = path.map(hashFromHex);
    const root = hashFromHex(CT_ROOTS[n]);
    assert.ok(await verifyInclusion(await leafHash(CT_LEAVES[index]), index, n, proof, root));
    assert.equal(await verifyInclusion(await leafHash(CT_LEAVES[index]), index + 1, n, proof, root), false);
    assert.equal(await verifyInclusion(await leafHash(CT_LEAVES[index]), index, n, proof.slice(1), root), false);
  }
  for (const [m, n, path] of CT_CONSISTENCY) {
    const proof = path.map(hashFromHex);
    const [oldRoot, newRoot] = [hashFromHex(CT_ROOTS[m]), hashFromHex(CT_ROOTS[n])];
    assert.ok(await verifyConsistency(m, n, oldRoot, newRoot, proof), `${m} -> ${n}`);
    assert.equal(await verifyConsistency(m, n, newRoot, oldRoot, proof), false);
    assert.equal(await verifyConsistency(m, n, oldRoot, newRoot, [...proof, proof[0]]), false);
  }
  const empty = await sha256();
  assert.ok(await verifyConsistency(0, 3, empty, hashFromHex(CT_ROOTS[3]), []));
  assert.ok(await verifyConsistency(3, 3, hashFromHex(CT_ROOTS[3]), hashFromHex(CT_ROOTS[3]), []));
  assert.equal(await verifyConsistency(4, 3, empty, empty, []), false);
});

test("every inclusion and consistency proof of a 21-leaf tree verifies (recursive reference)", async () => {
  const leaves = Array.from({ length: 21 }, (_, i) => utf8(`leaf ${i}`));
  const mth = (d) => rootHash(d);
  const k = (n) => {
    let p = 1;
    while (p * 2 < n) p *= 2;
    return p;
  };
  async function path(m, d) {
    if (d.length === 1) return [];
    const s = k(d.length);
    if (m < s) return [...(await path(m, d.slice(0, s))), await mth(d.slice(s))];
    return [...(await path(m - s, d.slice(s))), await mth(d.slice(0, s))];
  }
  async function subproof(m, d, b) {
    if (m === d.length) return b ? [] : [await mth(d)];
    const s = k(d.length);
    if (m <= s) return [...(await subproof(m, d.slice(0, s), b)), await mth(d.slice(s))];
    return [...(await subproof(m - s, d.slice(s), false)), await mth(d.slice(0, s))];
  }
  for (let n = 1; n <= leaves.length; n++) {
    const d = leaves.slice(0, n);
    const root = await mth(d);
    for (let m = 0; m < n; m++) {
      assert.ok(await verifyInclusion(await leafHash(d[m]), m, n, await path(m, d), root));
      if (m > 0) {
        const proof = await subproof(m, d, true);
        assert.ok(await verifyConsistency(m, n, await mth(d.slice(0, m)), root, proof));
      }
    }
  }
});

test("RFC 8032 7.1 TEST 1 and the RFC 8037 Appendix A JWK of the same key", async () => {
  const index = await importKeys([{ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo", kid: "rfc" }]);
  const signature = bytes(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
  );
  const key = index.get("rfc");
  assert.ok(await crypto.subtle.verify({ name: "Ed25519" }, key, signature, new Uint8Array()));
  assert.equal(await crypto.subtle.verify({ name: "Ed25519" }, key, signature, Uint8Array.of(0)), false);
});

function flipped(text, at) {
  const chars = [...text];
  chars[at] = chars[at] === "a" ? "b" : "a";
  return chars.join("");
}

function flipLeafByte(base64, at) {
  const raw = Uint8Array.from(atob(base64), (c) => c.charCodeAt(0));
  raw[at] ^= 0x01;
  return btoa(String.fromCharCode(...raw));
}

test("one flipped byte anywhere makes the receipt fail", async () => {
  const cases = {
    "leaf byte 0": { ...receipt, leaf: flipLeafByte(receipt.leaf, 0) },
    "leaf byte in voter tag": { ...receipt, leaf: flipLeafByte(receipt.leaf, 200) },
    "audit path": { ...receipt, audit_path: [flipped(receipt.audit_path[0], 5), receipt.audit_path[1]] },
    root: { ...receipt, root: flipped(receipt.root, 63) },
    "leaf index": { ...receipt, leaf_index: 0 },
    "tree size": { ...receipt, tree_size: 4 },
    "dropped path hash": { ...receipt, audit_path: receipt.audit_path.slice(1) },
    "receipt head signature": {
      ...receipt,
      head: { ...receipt.head, signature: flipped(receipt.head.signature, 10) },
    },
    "receipt head timestamp": {
      ...receipt,
      head: { ...receipt.head, timestamp: "2026-11-24T12:00:01.001Z" },
    },
    "consistency proof": {
      ...receipt,
      consistency: { ...receipt.consistency, proof: receipt.consistency.proof.slice(0, 3) },
    },
    "vote id": { ...receipt, vote_id: "33333333-3333-4333-8333-333333333333" },
  };
  for (const [what, forged] of Object.entries(cases)) {
    const result = await verifyReceipt(forged, head, keys);
    assert.equal(result.ok, false, what);
    assert.ok(result.failures.length > 0, what);
  }
  const published = { ...head, signature: flipped(head.signature, 3) };
  assert.equal((await verifyReceipt(receipt, published, keys)).ok, false, "published signature");
  const otherKey = { keys: [{ ...keys.keys[0], kid: "other" }] };
  assert.equal((await verifyReceipt(receipt, head, otherKey)).ok, false, "unknown key id");
  const wrongHash = { recordHash: "00".repeat(32) };
  assert.equal((await verifyReceipt(receipt, head, keys, wrongHash)).ok, false, "record hash");
});

test("malformed input is reported, never thrown", async () => {
  for (const bad of [null, [], "x", 7, {}, { ...receipt, leaf: "not base64!" }, { ...receipt, head: 1 }]) {
    const result = await verifyReceipt(bad, head, keys);
    assert.equal(result.ok, false);
  }
  assert.equal((await verifyReceipt(receipt, { tree_size: "5" }, keys)).ok, false);
  assert.equal((await verifyReceipt(receipt, head, { keys: [{ kty: "RSA" }] })).ok, false);
  assert.equal((await verifyReceipt(receipt, head, [{ ...keys.keys[0], d: "secret" }])).ok, false);
});

test("non-canonical records are refused", () => {
  const good = records[1];
  for (const bad of [
    good.replace('{"cast_at"', '{ "cast_at"'),
    good.replace('"agree"', '"\\u0061gree"'),
    good.slice(0, -1) + ',"extra":"x"}',
    good.replace("22222222-2222-4222-8222-222222222222", "22222222-2222-4222-8222-22222222222A"),
    good.replace("12:00:01.623456Z", "12:00:01.62345Z"),
    good + "\n",
  ]) {
    assert.throws(() => decodeRecord(utf8(bad)), bad);
  }
  assert.equal(decodeRecord(utf8(good)).choice, "agree");
  assert.equal(nodeHash.length, 2);
});
