// The proposal list and search: GET /v1/proposals (q, status, sort, keyset cursor) and
// GET /v1/proposals/similar (text) for "비슷한 제안 찾기".

import { bar, el, getJSON } from "./api.js";
import { CATEGORY, STATUS, formatDate, formatNumber, tierBars } from "./format.js";

const form = document.getElementById("search");
const list = document.getElementById("proposals");
const more = document.getElementById("more");
const status = document.getElementById("status");
let cursor = null;

function card(p) {
  const bars = tierBars(p.agreement_count ?? 0, []);
  const next = bars.find((t) => !t.reached) ?? bars.at(-1);
  const progress =
    next && p.agreement_count !== undefined
    ? el(
        "div",
        { class: "mini" },
        bar(Math.min(1, (p.agreement_count ?? 0) / next.threshold), next.reached ? "done" : ""),
        el("span", { class: "muted" }, `다음 단계 ${formatNumber(next.threshold)}명 (${next.label})`),
      )
    : null;
  return el(
    "li",
    { class: "card", dataset: { proposalId: p.id } },
    el("a", { href: `proposal.html?id=${encodeURIComponent(p.id)}`, class: "title" }, p.title),
    el(
      "div",
      { class: "meta" },
      el("span", { class: `badge status-${p.status}` }, STATUS[p.status] ?? p.status),
      p.category ? el("span", {}, CATEGORY[p.category] ?? p.category) : null,
      p.district ? el("span", {}, p.district) : null,
      p.created_at ? el("span", { class: "muted" }, formatDate(p.created_at, false)) : null,
      p.score !== undefined ? el("span", { class: "muted" }, `유사도 ${Math.round(p.score * 100)}%`) : null,
    ),
    p.agreement_count !== undefined
      ? el("p", { class: "count" }, el("strong", {}, formatNumber(p.agreement_count)), "명 서명")
      : null,
    progress,
  );
}

async function load(reset) {
  const data = new FormData(form);
  if (reset) {
    list.replaceChildren();
    cursor = null;
  }
  status.textContent = "불러오는 중…";
  try {
    let items;
    if (data.get("similar") && data.get("q")) {
      const page = await getJSON("/v1/proposals/similar", { text: data.get("q"), limit: 20 });
      items = page.items;
      cursor = null;
    } else {
      const page = await getJSON("/v1/proposals", {
        q: data.get("q"),
        status: data.get("status"),
        sort: data.get("sort"),
        cursor,
        limit: 20,
      });
      items = page.items;
      cursor = page.next_cursor;
    }
    list.append(...items.map(card));
    more.hidden = !cursor;
    status.textContent = list.children.length ? `제안 ${formatNumber(list.children.length)}건` : "제안이 없습니다.";
    document.body.dataset.loaded = "true";
  } catch (error) {
    status.textContent = `불러오지 못했습니다: ${error.message}`;
    document.body.dataset.loaded = "error";
  }
}

// The search lives in the address (?q=&status=&sort=&similar=), so a result can be shared.
const params = new URLSearchParams(location.search);
for (const [name, value] of params) {
  const field = form.elements.namedItem(name);
  if (field instanceof HTMLInputElement && field.type === "checkbox") field.checked = value === "1";
  else if (field) field.value = value;
}
form.addEventListener("submit", (event) => {
  event.preventDefault();
  const query = new URLSearchParams();
  for (const [k, v] of new FormData(form)) if (v) query.set(k, String(v));
  history.replaceState(null, "", `?${query}`);
  load(true);
});
more.addEventListener("click", () => load(false));
load(true);
