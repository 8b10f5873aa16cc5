// The plans page: every plan with status, counts, waves and budget, start, duration, actor.

import { get } from "./api.js";
import { bar, date, duration, h, legend, num, show, status, when } from "./ui.js";

const SETTLED = new Set(["COMPLETED", "FAILED", "CANCELLED"]);
const POLL_MS = 2000;

/** "wave 2 of 3", "baking before wave 3 until 10:04:05", "awaiting approval of wave 3". */
export function waveText(plan) {
  const policy = plan.policy, rollout = plan.rollout || {};
  if (rollout.halted) return `halted: ${rollout.halted}`;
  if (!policy || !policy.waves || !policy.waves.length) return null;
  const of = policy.waves.length, gate = rollout.gate;
  if (!gate) return `wave ${rollout.wave + 1} of ${of}`;
  if (gate.kind === "bake") return `baking before wave ${gate.wave + 1} of ${of}`;
  return `awaiting approval of wave ${gate.wave + 1} of ${of}`;
}

/** How many failures the plan's budget allows, as text, or null without a budget. */
export function budgetText(plan) {
  const budget = plan.policy && plan.policy.budget;
  if (!budget) return null;
  const failures = (plan.rollout && plan.rollout.failures) || 0;
  const allowed = [];
  if (budget.max_failed !== null && budget.max_failed !== undefined) allowed.push(num(budget.max_failed));
  if (budget.max_failed_ratio !== null && budget.max_failed_ratio !== undefined) {
    const ratio = budget.max_failed_ratio;
    allowed.push(`${+(ratio * 100).toFixed(2)}% (${num(Math.floor(ratio * plan.task_count))})`);
  }
  return `${num(failures)} failed of ${allowed.join(" or ")} allowed`;
}

export function planDuration(plan) {
  const end = SETTLED.has(plan.status) ? date(plan.updated_at) : new Date();
  return duration((end - date(plan.created_at)) / 1000);
}

export function plansPage(main) {
  const controller = new AbortController();
  let timer = null;
  const body = h("tbody");
  const empty = h("p", { class: "muted", hidden: true },
    "No plans yet. Submit one with ", h("code", {}, "switchover run PLAN.yaml"),
    " or POST it to ", h("code", {}, "/plans"), ".");
  show(main,
    h("h1", {}, "Plans"),
    h("table", { "aria-label": "plans" },
      h("thead", {}, h("tr", {},
        ["Plan", "Status", "Tasks", "Waves", "Failure budget", "Started", "Duration", "By"]
          .map((c) => h("th", { scope: "col" }, c)))),
      body),
    empty);

  async function load() {
    try {
      const answer = await get("/plans", null, controller.signal);
      const plans = Array.isArray(answer) ? answer : answer.plans;
      show(body, plans.map(row));
      empty.hidden = plans.length > 0;
    } catch (error) {
      if (controller.signal.aborted) return;
      show(body, h("tr", {}, h("td", { colspan: 8, class: "error" }, error.message)));
    }
    if (!controller.signal.aborted) timer = setTimeout(load, POLL_MS);
  }
  load();
  return () => { controller.abort(); clearTimeout(timer); };
}

function row(plan) {
  const counts = plan.counts || {};
  const done = (counts.COMPLETED || 0) + (counts.ROLLED_BACK || 0) + (counts.CANCELLED || 0);
  const link = `#/plans/${encodeURIComponent(plan.plan_id)}`;
  return h("tr", { "data-plan": plan.plan_id },
    h("td", {}, h("a", { href: link }, plan.plan_id),
      plan.reason ? h("div", { class: "muted" }, plan.reason) : null),
    h("td", {}, status(plan.rollout && plan.rollout.halted && plan.status === "RUNNING"
      ? "HALTED" : plan.status), plan.operator_paused ? h("span", { class: "tag" }, "paused by operator") : null),
    h("td", {}, h("div", {}, `${num(done)} of ${num(plan.task_count)} settled`),
      bar(counts, plan.task_count, true), legend(counts)),
    h("td", {}, waveText(plan) || h("span", { class: "muted" }, "—")),
    h("td", {}, budgetText(plan) || h("span", { class: "muted" }, "—")),
    h("td", {}, when(plan.created_at)),
    h("td", {}, planDuration(plan)),
    h("td", {}, plan.created_by || "—"));
}
