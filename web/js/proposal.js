// A proposal's page: GET /v1/proposals/{id} (tiers, obligations, answers, adoption), the live
// tally of vote-svc, the timeline, the forum's participants and, where the platform has them,
// the implementation milestones (GET /v1/proposals/{id}/milestones; a 404 hides the section).

import { ApiError, bar, el, getJSON } from "./api.js";
import {
  ANSWER,
  CATEGORY,
  MILESTONE_STATUS,
  STATUS,
  formatDate,
  formatNumber,
  formatWon,
  milestoneList,
  obligationView,
  tierBars,
  timelineText,
} from "./format.js";

const $ = (id) => document.getElementById(id);
const BUDGET_PARTICIPANTS = 1000;

/** The response, or `fallback` when the platform answers 404 (an optional part). */
async function optional(path, fallback = null) {
  try {
    return await getJSON(path);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return fallback;
    throw error;
  }
}

function renderTiers(count, tiersReached) {
  $("count").textContent = formatNumber(count);
  $("tiers").replaceChildren(
    ...tierBars(count, tiersReached).map((t) =>
      el(
        "li",
        { class: t.reached ? "tier reached" : "tier", dataset: { tier: t.threshold, reached: t.reached } },
        el(
          "div",
          { class: "tier-head" },
          el("strong", {}, `${formatNumber(t.threshold)}명`),
          el("span", {}, t.label),
          el(
            "span",
            { class: t.reached ? "ok" : "muted" },
            t.reached
              ? `달성${t.reachedAt ? ` · ${formatDate(t.reachedAt)}` : ""}`
              : `${formatNumber(count)} / ${formatNumber(t.threshold)}`,
          ),
        ),
        bar(t.fraction, t.reached ? "done" : ""),
      ),
    ),
  );
}

function renderForum(forum) {
  if (!forum) return;
  const n = forum.participant_count ?? 0;
  $("forum").replaceChildren(
    el(
      "div",
      { class: "forum" },
      el("h3", {}, `공론장: ${forum.title ?? ""}`),
      el(
        "p",
        { class: "muted" },
        `${formatDate(forum.opens_at)} ~ ${formatDate(forum.closes_at)} · 참여 ${formatNumber(n)}명 ` +
          `(${formatNumber(BUDGET_PARTICIPANTS)}명 이상이면 예산 연계)`,
      ),
      bar(Math.min(1, n / BUDGET_PARTICIPANTS), n >= BUDGET_PARTICIPANTS ? "done" : ""),
    ),
  );
}

let obligations = [];
function renderObligations() {
  const now = new Date();
  $("obligations").replaceChildren(
    ...(obligations.length
      ? obligations.map((o) => {
          const v = obligationView(o, now);
          return el(
            "li",
            { class: `obligation ${v.state}`, dataset: { kind: o.kind, state: v.state } },
            el("strong", {}, v.label),
            el("span", { class: "countdown" }, v.text),
          );
        })
      : [el("li", { class: "muted" }, "아직 서울시의 의무가 생기지 않았습니다 (50명 서명부터).")]),
  );
}

function renderAnswers(answers, adoption) {
  const blocks = answers.map((a) =>
    el(
      "blockquote",
      { class: `answer ${a.kind}` },
      el("p", { class: "who" }, `${ANSWER[a.kind] ?? a.kind}${a.department ? ` · ${a.department}` : ""}`),
      el("p", {}, a.body),
      el("p", { class: "muted" }, formatDate(a.created_at)),
    ),
  );
  if (adoption) {
    blocks.push(
      el(
        "blockquote",
        { class: "answer adoption" },
        el("p", { class: "who" }, adoption.decision === "adopt" ? "위원회 채택" : "위원회 불채택"),
        el("p", {}, adoption.rationale ?? ""),
        el("p", { class: "muted" }, formatDate(adoption.decided_at)),
      ),
    );
  }
  $("answers").replaceChildren(...(blocks.length ? blocks : [el("p", { class: "muted" }, "아직 답변이 없습니다.")]));
}

function renderMilestones(body) {
  const items = milestoneList(body);
  if (body === null) return;
  $("milestones-section").hidden = false;
  $("milestones").replaceChildren(
    ...(items.length
      ? items.map((m) =>
          el(
            "li",
            { class: `milestone ${m.status}`, dataset: { status: m.status } },
            el(
              "div",
              { class: "tier-head" },
              el("strong", {}, m.title ?? ""),
              el("span", { class: `badge milestone-${m.status}` }, MILESTONE_STATUS[m.status] ?? m.status),
              m.budget_krw !== undefined && m.budget_krw !== null ? el("span", {}, formatWon(m.budget_krw)) : null,
            ),
            typeof m.progress === "number" ? bar(Math.max(0, Math.min(1, m.progress > 1 ? m.progress / 100 : m.progress)), m.status === "done" ? "done" : "") : null,
            m.note ? el("p", {}, m.note) : null,
            el("p", { class: "muted" }, formatDate(m.updated_at ?? m.created_at ?? m.at)),
          ),
        )
      : [el("li", { class: "muted" }, "아직 공개된 이행 단계가 없습니다.")]),
  );
}

function renderTimeline(timeline) {
  const entries = timeline?.entries ?? [];
  $("timeline").replaceChildren(
    ...entries.map((e) => {
      const t = timelineText(e);
      return el(
        "li",
        { class: `event kind-${e.kind}`, dataset: { kind: e.kind } },
        el("time", { datetime: e.at }, formatDate(e.at)),
        el("strong", {}, t.title),
        t.detail ? el("span", { class: "muted" }, t.detail) : null,
      );
    }),
  );
}

async function main() {
  const id = new URLSearchParams(location.search).get("id");
  if (!id) {
    $("status").textContent = "제안을 고르세요: 주소에 ?id=<제안 id>가 없습니다.";
    document.body.dataset.loaded = "error";
    return;
  }
  try {
    const [proposal, timeline, tally, milestones] = await Promise.all([
      getJSON(`/v1/proposals/${encodeURIComponent(id)}`),
      optional(`/v1/proposals/${encodeURIComponent(id)}/timeline`),
      optional(`/v1/votes/tallies/proposals/${encodeURIComponent(id)}`),
      // Milestones are optional in every way: any refusal only hides the section.
      getJSON(`/v1/proposals/${encodeURIComponent(id)}/milestones`).catch(() => null),
    ]);
    document.title = `${proposal.title} · 서울 시민참여 플랫폼`;
    $("title").textContent = proposal.title;
    const meta = [
      el("span", { class: `badge status-${proposal.status}` }, STATUS[proposal.status] ?? proposal.status),
      el("span", {}, CATEGORY[proposal.category] ?? proposal.category),
      proposal.district ? el("span", {}, proposal.district) : null,
      el("span", { class: "muted" }, `서명 마감 ${formatDate(proposal.closes_at)}`),
    ];
    $("meta").replaceChildren(...meta.filter(Boolean));
    $("body").textContent = proposal.body;
    const count = Math.max(proposal.agreement_count ?? 0, tally?.agreements ?? 0);
    renderTiers(count, proposal.tiers_reached ?? []);
    obligations = proposal.obligations ?? [];
    renderObligations();
    setInterval(renderObligations, 30_000);
    renderAnswers(proposal.answers ?? [], proposal.adoption);
    renderMilestones(milestones);
    renderTimeline(timeline);
    if (proposal.forum_id) renderForum(await optional(`/v1/forums/${encodeURIComponent(proposal.forum_id)}`));
    $("status").textContent = "";
    $("proposal").hidden = false;
    document.body.dataset.loaded = "true";
  } catch (error) {
    $("status").textContent =
      error instanceof ApiError && error.status === 404
        ? "없는 제안입니다."
        : `불러오지 못했습니다: ${error.message}`;
    document.body.dataset.loaded = "error";
  }
}

main();
