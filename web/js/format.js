// Korean labels and the pure computations behind the pictures (tier bars, countdowns, timeline
// lines). No DOM here, so Node's test runner checks it too (web/test/format.test.mjs).

export const STATUS = {
  open: "서명 진행 중",
  closed: "서명 마감",
  adopted: "채택",
  budget_linked: "예산 연계",
  withdrawn: "철회",
  hidden: "숨김",
};

export const CATEGORY = {
  transport: "교통",
  environment: "환경",
  welfare: "복지",
  housing: "주거",
  safety: "안전",
  culture: "문화",
  economy: "경제",
  education: "교육",
  health: "보건",
  administration: "행정",
  other: "기타",
};

export const OBLIGATION = {
  department_answer: "담당 부서 답변",
  forum: "공론장 개최",
  mayor_answer: "시장 답변",
  budget_review: "예산 반영 검토",
};

export const ANSWER = { department: "담당 부서 답변", mayor: "시장 답변" };

export const MILESTONE_STATUS = {
  planned: "계획",
  in_progress: "진행 중",
  done: "완료",
  dropped: "중단",
};

/** The platform's default tiers (docs/proposals.md, PROPOSAL_TIERS). */
export const DEFAULT_TIERS = [
  { tier: "department_answer", threshold: 50 },
  { tier: "forum", threshold: 100 },
  { tier: "mayor_answer", threshold: 1000 },
];

const TIME_ZONE = "Asia/Seoul";

/** 2026년 11월 24일 오후 9:00 (Seoul time), or "" for no time. */
export function formatDate(iso, withTime = true) {
  if (!iso) return "";
  const options = { timeZone: TIME_ZONE, year: "numeric", month: "long", day: "numeric" };
  if (withTime) Object.assign(options, { hour: "numeric", minute: "2-digit" });
  return new Intl.DateTimeFormat("ko-KR", options).format(new Date(iso));
}

/** 1,234 */
export function formatNumber(n) {
  return new Intl.NumberFormat("ko-KR").format(n);
}

/** 1,200,000원 */
export function formatWon(n) {
  return `${formatNumber(n)}원`;
}

/**
 * The tiers as bars: every default tier, with the thresholds the proposal actually reached
 * (they win when the platform is configured otherwise), each {tier, threshold, reached,
 * reachedAt, fraction (0..1)}, ordered by threshold.
 */
export function tierBars(agreementCount, tiersReached = []) {
  const byTier = new Map(DEFAULT_TIERS.map((t) => [t.tier, { ...t }]));
  for (const t of tiersReached) byTier.set(t.tier, { tier: t.tier, threshold: t.threshold, reachedAt: t.reached_at });
  return [...byTier.values()]
    .sort((a, b) => a.threshold - b.threshold)
    .map((t) => {
      const reached = Boolean(t.reachedAt) || agreementCount >= t.threshold;
      return {
        tier: t.tier,
        label: OBLIGATION[t.tier] ?? t.tier,
        threshold: t.threshold,
        reached,
        reachedAt: t.reachedAt ?? null,
        fraction: reached ? 1 : Math.max(0, Math.min(1, agreementCount / t.threshold)),
      };
    });
}

/** "3일 4시간 남음", "5시간 12분 남음", "2일 지남" — from `now` to `dueAt` (ISO). */
export function countdown(dueAt, now = new Date()) {
  let ms = new Date(dueAt).getTime() - now.getTime();
  const late = ms < 0;
  ms = Math.abs(ms);
  const minutes = Math.floor(ms / 60000);
  const days = Math.floor(minutes / 1440);
  const hours = Math.floor((minutes % 1440) / 60);
  const mins = minutes % 60;
  let text;
  if (days > 0) text = `${days}일 ${hours}시간`;
  else if (hours > 0) text = `${hours}시간 ${mins}분`;
  else text = `${mins}분`;
  return late ? `${text} 지남` : `${text} 남음`;
}

/** One obligation as shown: {label, state: fulfilled|overdue|pending, text}. */
export function obligationView(o, now = new Date()) {
  const label = OBLIGATION[o.kind] ?? o.kind;
  if (o.fulfilled_at) {
    return { label, state: "fulfilled", text: `이행됨 · ${formatDate(o.fulfilled_at)}` };
  }
  const overdue = o.overdue || new Date(o.due_at) < now;
  return {
    label,
    state: overdue ? "overdue" : "pending",
    text: `${overdue ? "기한 초과" : "기한"} ${formatDate(o.due_at)} · ${countdown(o.due_at, now)}`,
  };
}

/** A timeline entry in words: {title, detail}. */
export function timelineText(entry) {
  const d = entry.data ?? {};
  switch (entry.kind) {
    case "submitted":
      return { title: "제안 등록", detail: "" };
    case "opened":
      return { title: "서명 시작", detail: d.closes_at ? `마감 ${formatDate(d.closes_at)}` : "" };
    case "tier_reached":
      return {
        title: `${formatNumber(d.threshold ?? 0)}명 달성`,
        detail: `${OBLIGATION[d.obligation ?? d.tier] ?? d.tier ?? ""}${d.due_at ? ` · 기한 ${formatDate(d.due_at)}` : ""}`,
      };
    case "forum_opened":
      return { title: "공론장 열림", detail: "" };
    case "forum_closed":
      return { title: "공론장 마감", detail: d.participants ? `참여 ${formatNumber(d.participants)}명` : "" };
    case "answered":
      return { title: ANSWER[d.kind] ?? "답변", detail: d.department ?? "" };
    case "status_changed":
      return { title: `상태 변경: ${STATUS[d.to_status] ?? d.to_status ?? ""}`, detail: d.reason ?? "" };
    case "obligation_overdue":
      return { title: "의무 기한 초과", detail: OBLIGATION[d.obligation ?? d.kind] ?? "" };
    case "committee_adopt":
      return { title: "위원회 채택", detail: d.grouped_with ? "비슷한 제안과 함께" : "" };
    case "committee_decline":
      return { title: "위원회 불채택", detail: "" };
    case "comments":
      return { title: `댓글 ${formatNumber(d.count ?? 0)}개`, detail: d.date ?? "" };
    case "milestone":
    case "milestone_published":
      return {
        title: `이행 단계: ${d.title ?? ""}`,
        detail: MILESTONE_STATUS[d.status] ?? d.status ?? "",
      };
    default:
      return { title: entry.kind, detail: "" };
  }
}

/** The milestones of GET /v1/proposals/{id}/milestones, whichever list shape it returns. */
export function milestoneList(body) {
  if (Array.isArray(body)) return body;
  if (body && Array.isArray(body.items)) return body.items;
  if (body && Array.isArray(body.milestones)) return body.milestones;
  return [];
}
