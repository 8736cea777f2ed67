// The receipt verifier of the public site: is this vote in the ledger that the published, signed
// tree head vouches for? It follows docs/verification.md section 7 step by step, with its own
// code (WebCrypto SHA-256 and Ed25519), independent of ledger-svc's Python verifier. Runs in a
// browser and in Node 20; every check that can run does, so one report lists every problem, and
// nothing in the input makes it throw.

import {
  equalBytes,
  hashFromHex,
  leafHash,
  sha256,
  toHex,
  verifyConsistency,
  verifyInclusion,
} from "./merkle.js";

const subtle = globalThis.crypto.subtle;

export const SIGNING_CONTEXT = "democracy-seoul-ledger-sth-v1\n";
const RECORD_FIELDS = ["cast_at", "choice", "target", "vote_id", "voter_tag"];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TARGET = /^(proposal|forum):[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const TAG = /^[0-9a-f]{64}$/;
const CAST_AT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/;
const TIMESTAMP = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const SIGNATURE = /^[A-Za-z0-9+/]{86}==$/;
const JWK_X = /^[A-Za-z0-9_-]{43}$/;
const CONTROL = /\p{Cc}/u;

class Malformed extends Error {}

/** Bytes of standard base64 with padding (RFC 4648 section 4); Malformed otherwise. */
export function fromBase64(text, what) {
  if (typeof text !== "string" || !BASE64.test(text)) {
    throw new Malformed(`${what}: 올바른 base64가 아닙니다`);
  }
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

function fromBase64url(text) {
  const standard = text.replaceAll("-", "+").replaceAll("_", "/");
  return Uint8Array.from(atob(standard + "=".repeat((4 - (standard.length % 4)) % 4)), (c) =>
    c.charCodeAt(0),
  );
}

function isObject(value) {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}

function member(data, name) {
  if (!Object.hasOwn(data, name)) throw new Malformed(`"${name}" 항목이 없습니다`);
  return data[name];
}

function size(data, name) {
  const value = member(data, name);
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new Malformed(`"${name}"은(는) 0 이상의 정수여야 합니다`);
  }
  return value;
}

function hash(value, what) {
  const bytes = hashFromHex(value);
  if (bytes === null) throw new Malformed(`${what}은(는) 소문자 16진수 64자리여야 합니다`);
  return bytes;
}

function hashes(value, what) {
  if (!Array.isArray(value)) throw new Malformed(`${what}은(는) 16진수 해시의 목록이어야 합니다`);
  return value.map((item, i) => hash(item, `${what}[${i}]`));
}

/**
 * The canonical vote record of docs/canonical-record.md in `bytes`, or a Malformed error: UTF-8
 * JSON with exactly the five string members that re-encodes to the same bytes (sorted keys, no
 * whitespace, no escaping beyond JSON's), each member in its format.
 */
export function decodeRecord(bytes) {
  let values;
  try {
    values = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes));
  } catch {
    throw new Malformed("UTF-8 JSON이 아닙니다");
  }
  if (!isObject(values) || Object.keys(values).sort().join() !== RECORD_FIELDS.join()) {
    throw new Malformed(`정확히 ${RECORD_FIELDS.join(", ")} 항목만 있어야 합니다`);
  }
  if (!RECORD_FIELDS.every((f) => typeof values[f] === "string")) {
    throw new Malformed("모든 항목은 문자열이어야 합니다");
  }
  const { cast_at, choice, target, vote_id, voter_tag } = values;
  if (!TARGET.test(target)) throw new Malformed("target은 proposal:<uuid> 또는 forum:<uuid>");
  if (!TAG.test(voter_tag)) throw new Malformed("voter_tag는 소문자 16진수 64자리");
  if (!CAST_AT.test(cast_at)) throw new Malformed("cast_at은 YYYY-MM-DDTHH:MM:SS.ffffffZ");
  if (!UUID.test(vote_id)) throw new Malformed("vote_id는 소문자 UUID");
  if (
    choice.length === 0 ||
    choice.length > 100 ||
    CONTROL.test(choice) ||
    choice.normalize("NFC") !== choice
  ) {
    throw new Malformed("choice는 제어 문자 없는 NFC 1~100자");
  }
  const canonical = JSON.stringify({ cast_at, choice, target, vote_id, voter_tag });
  if (!equalBytes(new TextEncoder().encode(canonical), bytes)) {
    throw new Malformed("정규 형식(canonical form)이 아닙니다");
  }
  return { cast_at, choice, target, vote_id, voter_tag };
}

/** A tree head as GET /v1/ledger/head returns it, checked member by member. */
export function parseHead(data) {
  if (!isObject(data)) throw new Malformed("트리 헤드는 JSON 객체여야 합니다");
  const treeSize = size(data, "tree_size");
  const root = hash(member(data, "root"), "root");
  const timestamp = member(data, "timestamp");
  if (typeof timestamp !== "string" || !TIMESTAMP.test(timestamp)) {
    throw new Malformed("timestamp는 YYYY-MM-DDTHH:MM:SS.mmmZ");
  }
  const moment = new Date(timestamp);
  if (Number.isNaN(moment.getTime()) || moment.toISOString() !== timestamp) {
    throw new Malformed(`timestamp가 올바른 시각이 아닙니다: ${timestamp}`);
  }
  const signature = member(data, "signature");
  if (typeof signature !== "string" || !SIGNATURE.test(signature)) {
    throw new Malformed("signature는 64바이트의 base64");
  }
  const keyId = member(data, "key_id");
  if (typeof keyId !== "string" || keyId === "") throw new Malformed("key_id가 비어 있습니다");
  return {
    treeSize,
    root,
    timestamp,
    moment,
    keyId,
    signature: fromBase64(signature, "signature"),
  };
}

/** The exact bytes a head's signature covers (docs/verification.md section 5). */
export function signingInput(head) {
  const body = `{"root":"${toHex(head.root)}","timestamp":"${head.timestamp}","tree_size":${head.treeSize}}`;
  return new TextEncoder().encode(SIGNING_CONTEXT + body);
}

function keyList(keys) {
  if (Array.isArray(keys)) return keys;
  if (isObject(keys) && Array.isArray(keys.keys)) return keys.keys;
  if (isObject(keys) && "kty" in keys) return [keys];
  throw new Malformed("키는 JWKS, JWK 목록 또는 JWK 하나여야 합니다");
}

/** Ed25519 public keys by kid from JWKs (RFC 8037); Malformed on any unusable key. */
export async function importKeys(keys) {
  const index = new Map();
  for (const jwk of keyList(keys)) {
    if (!isObject(jwk) || jwk.kty !== "OKP" || jwk.crv !== "Ed25519") {
      throw new Malformed('"kty": "OKP", "crv": "Ed25519" 인 JWK가 아닙니다');
    }
    if ("d" in jwk) throw new Malformed("JWK에 개인 키가 들어 있습니다");
    if ((jwk.alg ?? "EdDSA") !== "EdDSA" || (jwk.use ?? "sig") !== "sig") {
      throw new Malformed('"alg"는 "EdDSA", "use"는 "sig"여야 합니다');
    }
    if (typeof jwk.x !== "string" || !JWK_X.test(jwk.x) || fromBase64url(jwk.x).length !== 32) {
      throw new Malformed('"x"는 32바이트의 base64url이어야 합니다');
    }
    if (typeof jwk.kid !== "string" || jwk.kid === "") {
      throw new Malformed('모든 키에 "kid"가 있어야 합니다');
    }
    if (index.has(jwk.kid)) throw new Malformed(`두 키의 kid가 같습니다: ${jwk.kid}`);
    let key;
    try {
      key = await subtle.importKey(
        "jwk",
        { kty: "OKP", crv: "Ed25519", x: jwk.x },
        { name: "Ed25519" },
        false,
        ["verify"],
      );
    } catch {
      throw new Malformed(`키 ${jwk.kid}: Ed25519 공개 키가 아닙니다`);
    }
    index.set(jwk.kid, key);
  }
  return index;
}

/** Is the head's signature valid under `key` (a WebCrypto Ed25519 public key)? */
export async function verifyHeadSignature(head, key) {
  try {
    return await subtle.verify({ name: "Ed25519" }, key, head.signature, signingInput(head));
  } catch {
    return false;
  }
}

class Report {
  constructor() {
    this.steps = [];
    this.record = null;
    this.signaturesChecked = false;
  }
  passed(message) {
    this.steps.push({ status: "ok", message });
  }
  failed(message) {
    this.steps.push({ status: "failed", message });
  }
  note(message) {
    this.steps.push({ status: "note", message });
  }
  get failures() {
    return this.steps.filter((s) => s.status === "failed").map((s) => s.message);
  }
  /** Every check passed (and at least one ran). */
  get ok() {
    return this.steps.some((s) => s.status === "ok") && this.failures.length === 0;
  }
  attempt(parse) {
    try {
      return parse();
    } catch (error) {
      if (!(error instanceof Malformed)) throw error;
      this.failed(error.message);
      return null;
    }
  }
}

async function checkLeaf(report, leaf, voteId, recordHash) {
  try {
    const record = decodeRecord(leaf);
    report.record = record;
    report.passed(
      `리프는 정규 투표 기록입니다: 대상 ${record.target}, 선택 '${record.choice}', ` +
        `시각 ${record.cast_at}, 투표자 태그 ${record.voter_tag}`,
    );
    if (voteId !== null) {
      if (record.vote_id === voteId) report.passed(`기록의 vote_id가 영수증과 같습니다 (${voteId})`);
      else report.failed(`기록의 vote_id ${record.vote_id}가 영수증의 ${voteId}와 다릅니다`);
    }
  } catch (error) {
    if (!(error instanceof Malformed)) throw error;
    report.failed(`리프가 정규 투표 기록이 아닙니다: ${error.message}`);
  }
  const digest = toHex(await sha256(leaf));
  if (recordHash === undefined || recordHash === null) {
    report.note(`record_hash = SHA-256(leaf) = ${digest}`);
  } else if (digest === String(recordHash).trim().toLowerCase()) {
    report.passed(`SHA-256(leaf) = ${digest}: 받으신 record_hash와 같습니다`);
  } else {
    report.failed(`SHA-256(leaf) = ${digest}가 record_hash ${recordHash}와 다릅니다`);
  }
}

async function checkInclusion(report, receipt, leaf) {
  const index = report.attempt(() => size(receipt, "leaf_index"));
  const treeSize = report.attempt(() => size(receipt, "tree_size"));
  const path = report.attempt(() => hashes(member(receipt, "audit_path"), '"audit_path"'));
  const root = report.attempt(() => hash(member(receipt, "root"), '"root"'));
  if (leaf !== null && index !== null && treeSize !== null && path !== null && root !== null) {
    const hashed = await leafHash(leaf);
    if (await verifyInclusion(hashed, index, treeSize, path, root)) {
      report.passed(
        `리프 해시 ${toHex(hashed)}(위치 ${index})가 리프 ${treeSize}개, 루트 ${toHex(root)}인 ` +
          `트리에 포함되어 있습니다 (경로 해시 ${path.length}개)`,
      );
    } else {
      report.failed(
        `감사 경로가 리프 해시 ${toHex(hashed)}(위치 ${index})를 리프 ${treeSize}개, 루트 ` +
          `${toHex(root)}인 트리에 포함시키지 못합니다`,
      );
    }
  }
  return { treeSize, root };
}

async function checkSignature(report, head, keyIndex, what) {
  if (keyIndex === null) return;
  const key = keyIndex.get(head.keyId);
  if (key === undefined) report.failed(`${what}: 키 '${head.keyId}'가 공개 키 목록에 없습니다`);
  else if (await verifyHeadSignature(head, key)) {
    report.passed(`${what}: 키 '${head.keyId}'의 Ed25519 서명이 유효합니다`);
  } else report.failed(`${what}: 키 '${head.keyId}'의 서명이 맞지 않습니다`);
}

async function compareWithPublished(report, proofData, treeSize, root, published) {
  if (published.treeSize < treeSize) {
    report.failed(
      `공개된 트리 헤드(크기 ${published.treeSize})가 영수증(크기 ${treeSize})보다 오래되었습니다`,
    );
    return;
  }
  if (published.treeSize === treeSize) {
    if (equalBytes(published.root, root)) {
      report.passed("공개된 트리 헤드의 크기와 루트가 영수증과 같습니다");
    } else {
      report.failed(
        `공개된 트리 헤드의 크기는 ${treeSize}로 같지만 루트 ${toHex(published.root)}가 ` +
          "다릅니다: 원장이 갈라졌거나 다시 쓰였습니다",
      );
    }
    return;
  }
  if (!isObject(proofData)) {
    report.failed(
      `공개된 트리 헤드(크기 ${published.treeSize})가 영수증의 트리(크기 ${treeSize})보다 ` +
        "크지만 일관성 증명이 없습니다",
    );
    return;
  }
  const parsed = report.attempt(() => [
    size(proofData, "from_size"),
    size(proofData, "to_size"),
    hashes(member(proofData, "proof"), '"consistency.proof"'),
  ]);
  if (parsed === null) return;
  const [fromSize, toSize, proof] = parsed;
  if (fromSize !== treeSize || toSize !== published.treeSize) {
    report.failed(
      `일관성 증명이 크기 ${fromSize}에서 ${toSize}까지로, 영수증의 ${treeSize}에서 공개된 ` +
        `${published.treeSize}까지가 아닙니다`,
    );
  } else if (await verifyConsistency(treeSize, published.treeSize, root, published.root, proof)) {
    report.passed(
      `크기 ${treeSize}의 트리는 공개된 크기 ${published.treeSize} 트리의 앞부분입니다 ` +
        `(증명 해시 ${proof.length}개)`,
    );
  } else {
    report.failed(
      `크기 ${treeSize}에서 ${published.treeSize}까지의 일관성 증명이 맞지 않습니다`,
    );
  }
}

async function checkHeads(report, receipt, head, keyIndex, treeSize, root, consistency) {
  const embedded = report.attempt(() => parseHead(member(receipt, "head")));
  if (embedded !== null) {
    await checkSignature(report, embedded, keyIndex, "영수증의 트리 헤드");
    if (treeSize !== null && root !== null) {
      if (embedded.treeSize === treeSize && equalBytes(embedded.root, root)) {
        report.passed("영수증의 트리 헤드가 영수증의 크기와 루트를 말합니다");
      } else {
        report.failed(
          `영수증의 트리 헤드(크기 ${embedded.treeSize}, 루트 ${toHex(embedded.root)})가 ` +
            `영수증(크기 ${treeSize}, 루트 ${toHex(root)})과 다릅니다`,
        );
      }
    }
  }
  const published = report.attempt(() => parseHead(head));
  if (published !== null) {
    report.note(
      `공개된 트리 헤드: 크기 ${published.treeSize}, 루트 ${toHex(published.root)}, ` +
        `${published.timestamp}에 키 '${published.keyId}'로 서명`,
    );
    await checkSignature(report, published, keyIndex, "공개된 트리 헤드");
  }
  if (published !== null && treeSize !== null && root !== null) {
    const proof = consistency ?? receipt.consistency;
    await compareWithPublished(report, proof, treeSize, root, published);
  }
  if (embedded !== null && published !== null && embedded.moment > published.moment) {
    report.note("공개된 트리 헤드가 영수증의 헤드보다 이전 시각입니다. 오래된 헤드일 수 있습니다");
  }
}

/**
 * Check `receipt` (GET /v1/ledger/receipts/{vote_id}) against a published `head`
 * (GET /v1/ledger/head) with the ledger's public `keys` (GET /v1/ledger/keys; without them,
 * null, signatures are not checked and the report says so). Options: `recordHash` (the
 * receipt.record_hash vote-svc gave the voter) and `consistency` (a proof from the receipt's
 * tree to the head, for receipts that carry none).
 *
 * Returns { ok, steps: [{status: "ok"|"failed"|"note", message}], failures, record,
 * signaturesChecked }.
 */
export async function verifyReceipt(receipt, head, keys, options = {}) {
  const report = new Report();
  if (!isObject(receipt)) {
    report.failed("영수증이 JSON 객체가 아닙니다");
    return report;
  }
  let keyIndex = null;
  if (keys !== null && keys !== undefined) {
    try {
      keyIndex = await importKeys(keys);
      report.signaturesChecked = true;
    } catch (error) {
      if (!(error instanceof Malformed)) throw error;
      report.failed(`공개 키를 쓸 수 없습니다: ${error.message}`);
      keyIndex = new Map();
    }
  }

  // 1. The leaf is a canonical vote record, the one this receipt is about.
  const leaf = report.attempt(() => fromBase64(member(receipt, "leaf"), '"leaf"'));
  const voteId = report.attempt(() => {
    const value = member(receipt, "vote_id");
    if (typeof value !== "string" || !UUID.test(value.toLowerCase())) {
      throw new Malformed('"vote_id"는 UUID여야 합니다');
    }
    return value.toLowerCase();
  });
  if (leaf !== null) await checkLeaf(report, leaf, voteId, options.recordHash);

  // 2. The leaf is in the tree of tree_size leaves whose root is root.
  const { treeSize, root } = await checkInclusion(report, receipt, leaf);

  if (isObject(receipt.anchor)) {
    const described = Object.entries(receipt.anchor)
      .map(([k, v]) => `${k}=${v}`)
      .join(", ");
    report.note(`기록 위치(오프라인으로는 확인하지 않음): ${described}`);
  }

  // 3. and 4. The receipt's head and the published one.
  await checkHeads(report, receipt, head, keyIndex, treeSize, root, options.consistency);

  if (keyIndex === null) report.note("서명은 확인하지 않았습니다: 공개 키가 없습니다");
  return report;
}
