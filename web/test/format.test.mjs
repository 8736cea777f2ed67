// The pure parts of the pages: tier bars, countdowns, obligation states, timeline wording.
import assert from "node:assert/strict";
import { test } from "node:test";

import { countdown, milestoneList, obligationView, tierBars, timelineText } from "../js/format.js";

test("tier bars: the default 50 / 100 / 1,000, reached ones full, the rest by fraction", () => {
  const bars = tierBars(50, [{ tier: "department_answer", threshold: 50, reached_at: "2026-11-03T10:00:00Z" }]);
  assert.deepEqual(
    bars.map((b) => [b.threshold, b.reached, b.fraction]),
    [
      [50, true, 1],
      [100, false, 0.5],
      [1000, false, 0.05],
    ],
  );
  assert.equal(bars[0].reachedAt, "2026-11-03T10:00:00Z");
  assert.equal(bars[1].label, "공론장 개최");
});

test("tier bars: a platform configured otherwise shows the thresholds actually reached", () => {
  const bars = tierBars(7, [{ tier: "department_answer", threshold: 5, reached_at: "2026-11-03T10:00:00Z" }]);
  assert.deepEqual(bars.map((b) => b.threshold), [5, 100, 1000]);
  assert.equal(tierBars(0, [])[0].fraction, 0);
});

test("countdowns in Korean, before and after the deadline", () => {
  const now = new Date("2026-12-01T00:00:00Z");
  assert.equal(countdown("2026-12-04T04:30:00Z", now), "3일 4시간 남음");
  assert.equal(countdown("2026-12-01T05:12:00Z", now), "5시간 12분 남음");
  assert.equal(countdown("2026-12-01T00:09:59Z", now), "9분 남음");
  assert.equal(countdown("2026-11-29T00:00:00Z", now), "2일 0시간 지남");
});

test("obligations: fulfilled, pending or overdue (by the flag or by the clock)", () => {
  const now = new Date("2026-12-01T00:00:00Z");
  const due = "2026-12-03T00:00:00Z";
  assert.equal(obligationView({ kind: "forum", due_at: due, fulfilled_at: "2026-11-30T00:00:00Z" }, now).state, "fulfilled");
  assert.equal(obligationView({ kind: "forum", due_at: due, overdue: false }, now).state, "pending");
  assert.equal(obligationView({ kind: "forum", due_at: due, overdue: true }, now).state, "overdue");
  const late = obligationView({ kind: "mayor_answer", due_at: "2026-11-30T00:00:00Z", overdue: false }, now);
  assert.equal(late.state, "overdue");
  assert.equal(late.label, "시장 답변");
  assert.match(late.text, /기한 초과 .* 1일 0시간 지남/);
});

test("timeline entries in words; unknown kinds keep their name", () => {
  assert.equal(timelineText({ kind: "tier_reached", data: { threshold: 1000, obligation: "mayor_answer" } }).title, "1,000명 달성");
  assert.equal(timelineText({ kind: "status_changed", data: { to_status: "budget_linked" } }).title, "상태 변경: 예산 연계");
  assert.equal(timelineText({ kind: "something_new", data: {} }).title, "something_new");
});

test("milestones: a list, {items} or {milestones}", () => {
  const m = [{ title: "설계" }];
  assert.deepEqual(milestoneList(m), m);
  assert.deepEqual(milestoneList({ items: m }), m);
  assert.deepEqual(milestoneList({ milestones: m }), m);
  assert.deepEqual(milestoneList(null), []);
});
