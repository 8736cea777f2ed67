// The receipt check: fetch (or take) a receipt, the latest signed tree head and the ledger's
// keys, verify everything here with js/verify.js, and say in words and colour whether the vote
// is in. A receipt comes from ?vote_id= (fetched against the current head), or is given whole in
// ?receipt= (pasted or opened from a file; the form submits it the same way).

import { ApiError, el, getJSON } from "./api.js";
import { formatDate } from "./format.js";
import { verifyReceipt } from "./verify.js";

const $ = (id) => document.getElementById(id);

function show(verdict, title, detail) {
  document.body.dataset.verdict = verdict;
  $("result").hidden = false;
  $("verdict").className = `verdict ${verdict}`;
  $("verdict").replaceChildren(el("strong", {}, title), el("p", {}, detail));
}

function showSteps(steps) {
  const mark = { ok: "✔ 통과", failed: "✘ 실패", note: "• 참고" };
  $("steps").replaceChildren(
    ...steps.map((s) =>
      el("li", { class: `step ${s.status}` }, el("span", { class: "mark" }, mark[s.status]), " ", s.message),
    ),
  );
}

function showSummary(record, receipt, head) {
  const rows = [];
  const add = (term, value) => rows.push(el("dt", {}, term), el("dd", {}, value));
  if (record) {
    const [kind, id] = record.target.split(":");
    add("대상", kind === "proposal" ? el("a", { href: `proposal.html?id=${id}` }, `제안 ${id}`) : `공론장 ${id}`);
    add("선택", record.choice === "agree" ? "동의" : record.choice);
    add("시각", formatDate(record.cast_at));
    add("투표자 태그(가명)", record.voter_tag);
  }
  if (receipt && Number.isInteger(receipt.leaf_index)) {
    add("원장 위치", `${receipt.leaf_index + 1}번째 기록 (전체 ${receipt.tree_size}개 중)`);
  }
  if (head && Number.isInteger(head.tree_size)) {
    add("공개된 트리 헤드", `기록 ${head.tree_size}개 · ${head.timestamp}`);
  }
  $("summary").replaceChildren(...rows);
}

/** The receipt and a consistency proof to `head`, when the receipt is older and has none. */
async function consistencyFor(receipt, head) {
  if (receipt?.consistency || !Number.isInteger(receipt?.tree_size)) return undefined;
  if (!(head.tree_size > receipt.tree_size)) return undefined;
  try {
    return await getJSON("/v1/ledger/proofs/consistency", { from: receipt.tree_size, to: head.tree_size });
  } catch {
    return undefined; // the verifier then says the proof is missing
  }
}

/** The receipt against exactly `head`; if the vote landed in a batch after that head (422
 * no-such-tree-head), once more against the then latest head. */
async function receiptAgainst(voteId, head) {
  const path = `/v1/ledger/receipts/${encodeURIComponent(voteId)}`;
  try {
    return { receipt: await getJSON(path, { tree_size: head.tree_size }), head };
  } catch (error) {
    if (!(error instanceof ApiError && error.problem?.type?.endsWith("/no-such-tree-head"))) throw error;
    const latest = await getJSON("/v1/ledger/head");
    return { receipt: await getJSON(path, { tree_size: latest.tree_size }), head: latest };
  }
}

async function check(params) {
  const voteId = params.get("vote_id")?.trim();
  const pasted = params.get("receipt")?.trim();
  const recordHash = params.get("record_hash")?.trim() || undefined;
  if (!voteId && !pasted) return;
  show("checking", "확인하는 중…", "영수증, 트리 헤드와 공개 키를 받아 이 브라우저에서 계산합니다.");
  let receipt;
  let head;
  let keys;
  try {
    // The head first, then the receipt against exactly that head: no consistency proof needed.
    [head, keys] = await Promise.all([getJSON("/v1/ledger/head"), getJSON("/v1/ledger/keys")]);
    if (pasted) {
      try {
        receipt = JSON.parse(pasted);
      } catch {
        show("not-verified", "확인되지 않음", "붙여넣은 영수증이 올바른 JSON이 아닙니다.");
        return;
      }
    } else {
      ({ receipt, head } = await receiptAgainst(voteId, head));
    }
  } catch (error) {
    if (error instanceof ApiError && error.problem?.type?.endsWith("/receipt-not-found")) {
      show("pending", "아직 기록되지 않음", "이 표는 아직 원장에 기록되지 않았습니다. 잠시 뒤 다시 확인하세요 (몇 초 걸립니다).");
    } else if (error instanceof ApiError && error.problem?.type?.endsWith("/no-tree-head-yet")) {
      show("pending", "아직 기록되지 않음", "원장에 아직 서명된 트리 헤드가 없습니다.");
    } else {
      show("error", "확인할 수 없음", `서버에서 받지 못했습니다: ${error.message}`);
    }
    return;
  }
  const consistency = await consistencyFor(receipt, head);
  const result = await verifyReceipt(receipt, head, keys, { recordHash, consistency });
  showSteps(result.steps);
  showSummary(result.record, receipt, head);
  if (result.ok && result.signaturesChecked) {
    show(
      "verified",
      "확인됨: 이 표는 공개 원장에 들어 있습니다",
      "영수증의 기록이 서울시 원장이 서명해 공개한 트리에 그대로, 영수증이 말하는 위치에 있습니다.",
    );
  } else {
    show(
      "not-verified",
      "확인되지 않음: 이 영수증은 원장과 맞지 않습니다",
      `검사 ${result.failures.length}개가 실패했습니다. 영수증이 바뀌었거나 원장이 다른 내용을 공개하고 있습니다.`,
    );
  }
}

const params = new URLSearchParams(location.search);
$("vote_id").value = params.get("vote_id") ?? "";
$("receipt").value = params.get("receipt") ?? "";
$("record_hash").value = params.get("record_hash") ?? "";
$("file").addEventListener("change", async (event) => {
  const file = event.target.files?.[0];
  if (file) $("receipt").value = await file.text();
});
$("check").addEventListener("submit", (event) => {
  event.preventDefault();
  const query = new URLSearchParams();
  for (const name of ["vote_id", "receipt", "record_hash"]) {
    const value = $(name).value.trim();
    if (value) query.set(name, value);
  }
  history.replaceState(null, "", `?${query}`);
  check(query);
});
check(params);
