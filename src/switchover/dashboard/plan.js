// The plan page: progress by status, the wave timeline with Promote, the failure budget,
// failures by type and stage, and a paged task table (filter by status, search by tenant),
// all kept current from the plan's event stream.

import { follow, get, post } from "./api.js";
import { budgetText, planDuration, waveText } from "./plans.js";
import {
  TASK_STATUSES, bar, clock, confirmAction, h, legend, notice, num, show, showLive, status, when,
} from "./ui.js";

const PAGE = 50;
const REFRESH_MS = 1000;
const enc = encodeURIComponent;

/** What each status allows (the task state machine): the buttons a selection offers. */
export const ALLOWED = {
  PENDING: ["cancel"],
  RUNNING: ["pause", "cancel"],
  PAUSED: ["resume", "rollback", "cancel"],
  FAILED: ["retry", "rollback", "cancel"],
  ROLLBACK_FAILED: ["rollback"],
  ROLLING_BACK: [], COMPLETED: [], CANCELLED: [], ROLLED_BACK: [],
};
export const LABELS = { retry: "Retry", rollback: "Roll back", pause: "Pause", resume: "Resume", cancel: "Cancel" };
const DANGER = new Set(["rollback", "cancel"]);
const FINAL = new Set(["COMPLETED", "CANCELLED", "ROLLED_BACK"]);
const SETTLED_PLAN = new Set(["COMPLETED", "FAILED", "CANCELLED"]);

export function planPage(main, ctx, planId, query) {
  const controller = new AbortController();
  const state = {
    statusFilter: query.get("status") || "",
    prefix: query.get("tenant") || "",
    offset: Number(query.get("offset") || 0),
    detail: null,
    rows: new Map(),
    refreshing: false,
    again: false,
    timer: null,
  };

  const title = h("h1", {}, planId);
  const meta = h("p", { class: "muted" });
  const actions = h("div", { class: "actions", role: "group", "aria-label": "plan actions" });
  const progress = h("section", { "aria-label": "progress" });
  const cards = h("div", { class: "grid" });
  const filters = h("div", { class: "filters" });
  const bulk = h("div", { class: "actions", role: "group", "aria-label": "actions on the selection" });
  const tbody = h("tbody");
  const pager = h("div", { class: "pager" });
  show(main, title, meta, actions, progress, cards,
    h("h2", { id: "tasks-heading" }, "Tasks"), filters, bulk,
    h("table", { "aria-labelledby": "tasks-heading", id: "tasks" },
      h("thead", {}, h("tr", {},
        ["Tenant", "Status", "Stage", "Progress", "Retries", "Updated", "Failure"]
          .map((c) => h("th", { scope: "col" }, c)))),
      tbody),
    pager);

  // ------------------------------------------------------------------ filters (built once)
  const select = h("select", { id: "status-filter", "aria-label": "filter by status",
    onchange: () => { state.statusFilter = select.value; state.offset = 0; navigate(); } });
  const search = h("input", { id: "tenant-search", type: "search", placeholder: "tenant id starts with…",
    "aria-label": "search by tenant id", value: state.prefix, maxlength: 64 });
  let searchTimer = null;
  search.addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => { state.prefix = search.value.trim(); state.offset = 0; navigate(); }, 250);
  });
  show(filters, h("label", {}, "Status ", select), h("label", {}, "Tenant ", search));

  function navigate() {
    const q = new URLSearchParams();
    if (state.statusFilter) q.set("status", state.statusFilter);
    if (state.prefix) q.set("tenant", state.prefix);
    if (state.offset) q.set("offset", String(state.offset));
    const hash = `#/plans/${enc(planId)}${q.toString() ? `?${q}` : ""}`;
    history.replaceState(null, "", hash);
    refresh();
  }

  // ------------------------------------------------------------------ reading and drawing
  async function refresh() {
    if (state.refreshing) { state.again = true; return; }
    state.refreshing = true;
    try {
      const detail = await get(`/plans/${enc(planId)}`, {
        status: state.statusFilter || undefined,
        tenant_prefix: state.prefix || undefined,
        offset: state.offset,
        limit: PAGE,
      }, controller.signal);
      const first = state.detail === null;
      state.detail = detail;
      draw(detail);
      if (first) performance.mark("switchover:plan-drawn"); // the first screen, for bench/dashboard.py
    } catch (error) {
      if (controller.signal.aborted) return;
      if (error.status === 404) show(main, h("h1", {}, planId), h("p", { class: "error" }, error.message));
      else notice(error.message, true);
    } finally {
      state.refreshing = false;
      if (state.again && !controller.signal.aborted) { state.again = false; refresh(); }
    }
  }

  function scheduleRefresh() {
    if (state.timer) return;
    state.timer = setTimeout(() => { state.timer = null; refresh(); }, REFRESH_MS);
  }

  function draw(plan) {
    const halted = plan.rollout && plan.rollout.halted;
    show(title, plan.plan_id, status(halted && plan.status === "RUNNING" ? "HALTED" : plan.status),
      plan.operator_paused ? h("span", { class: "tag" }, "paused by operator") : null);
    show(meta, "submitted ", when(plan.created_at), plan.created_by ? ` by ${plan.created_by}` : "",
      plan.reason ? `: ${plan.reason}` : "", ` · ${SETTLED_PLAN.has(plan.status) ? "took" : "running for"} ${planDuration(plan)}`,
      ` · version ${plan.version} · ${num(plan.task_count)} tenants · at most ${plan.max_concurrency} at once`);
    drawActions(plan);
    const counts = plan.counts;
    const settled = (counts.COMPLETED || 0) + (counts.ROLLED_BACK || 0) + (counts.CANCELLED || 0)
      + (counts.FAILED || 0) + (counts.ROLLBACK_FAILED || 0);
    show(progress, h("div", { id: "settled" }, `${num(settled)} of ${num(plan.task_count)} tasks settled`),
      bar(counts, plan.task_count), legend(counts));
    show(cards, wavesCard(plan), budgetCard(plan), failuresCard(plan));
    drawSelect(counts);
    drawBulk(plan);
    state.rows = new Map();
    show(tbody, plan.tasks.length ? plan.tasks.map((t) => taskRow(t)) :
      h("tr", {}, h("td", { colspan: 7, class: "muted" }, "No task matches.")));
    const from = plan.matching ? state.offset + 1 : 0;
    const to = Math.min(state.offset + plan.tasks.length, plan.matching);
    show(pager,
      h("button", { type: "button", disabled: state.offset === 0,
        onclick: () => { state.offset = Math.max(0, state.offset - PAGE); navigate(); } }, "← Previous"),
      h("span", { id: "page-range" }, `${num(from)}–${num(to)} of ${num(plan.matching)}`),
      h("button", { type: "button", disabled: to >= plan.matching,
        onclick: () => { state.offset += PAGE; navigate(); } }, "Next →"));
  }

  function drawSelect(counts) {
    const current = state.statusFilter;
    show(select, h("option", { value: "" }, "all (what needs a look first)"),
      TASK_STATUSES.map((s) => h("option", { value: s, selected: s === current }, `${s} (${num(counts[s])})`)));
    select.value = current;
  }

  function taskRow(task) {
    const link = `#/plans/${enc(planId)}/tasks/${enc(task.tenant_id)}`;
    const done = task.checkpoint ? task.checkpoint.completed.length : 0;
    const stage = task.current_stage || (task.failure && task.failure.stage)
      || (FINAL.has(task.status) ? "—" : task.stages[task.next_stage] || "—");
    const row = h("tr", { "data-task": task.task_id },
      h("td", { class: "mono" }, h("a", { href: link }, task.tenant_id)),
      h("td", { class: "st" }, status(task.status)),
      h("td", { class: "stage mono" }, stage),
      h("td", {}, `${done}/${task.stages.length} stages${task.mode === "ROLLBACK" ? " (rollback)" : ""}`),
      h("td", { class: "num" }, String(task.retry_count)),
      h("td", {}, when(task.updated_at)),
      h("td", {}, task.failure ? `${task.failure.error_type}: ${task.failure.message}` : ""));
    state.rows.set(task.task_id, row);
    return row;
  }

  // ------------------------------------------------------------------ cards
  function wavesCard(plan) {
    const policy = plan.policy;
    if (!policy || !policy.waves || !policy.waves.length) {
      return h("section", { class: "card", "aria-label": "waves" }, h("h3", {}, "Waves"),
        h("p", { class: "muted" }, "One wave: every tenant, at most max_concurrency at once."));
    }
    const rollout = plan.rollout, gate = rollout.gate;
    const current = gate ? gate.wave : rollout.wave;
    let start = 0;
    const items = policy.waves.map((wave, i) => {
      const range = `tenants ${num(start + 1)}–${num(wave.end)}`;
      start = wave.end;
      let what;
      if (i < current || (plan.status === "COMPLETED")) what = "admitted";
      else if (i === current && gate && gate.kind === "bake") {
        what = `baking until ${clock(gate.until)}`;
      } else if (i === current && gate) {
        what = `waiting for approval since ${clock(gate.since)}`;
      } else if (i === current) what = rollout.halted ? "halted" : "running";
      else what = wave.approval ? "needs approval" : "waiting";
      const promote = i === current && gate && gate.kind === "approval" && ctx.canOperate
        ? h("button", { type: "button", id: "promote", onclick: () => promoteWave(plan, i) }, `Promote wave ${i + 1}`)
        : null;
      return h("li", { class: i === current ? "w-current" : "", "data-wave": String(i + 1) },
        h("span", {}, `Wave ${i + 1}`), h("span", { class: "muted" }, range),
        h("span", { class: "wave-state" }, what), promote);
    });
    return h("section", { class: "card", "aria-label": "waves" }, h("h3", {}, "Waves"),
      h("p", { id: "wave-text" }, waveText(plan)),
      policy.bake ? h("p", { class: "muted" }, `bake ${policy.bake} s between waves`) : null,
      h("ol", { class: "waves" }, items));
  }

  function budgetCard(plan) {
    const text = budgetText(plan);
    const halted = plan.rollout && plan.rollout.halted;
    return h("section", { class: "card", "aria-label": "failure budget" }, h("h3", {}, "Failure budget"),
      h("p", { id: "budget" }, text || "no budget: failures never halt the plan"),
      halted ? h("p", { class: "error" }, `halted: ${halted}. Resume overrides the budget; or cancel.`) : null,
      plan.rollout && plan.rollout.overridden ? h("p", { class: "muted" }, "budget overridden by an operator") : null,
      plan.policy && plan.policy.auto_rollback ? h("p", { class: "muted" }, "each failed task is rolled back automatically") : null);
  }

  function failuresCard(plan) {
    const failures = plan.failures || [];
    return h("section", { class: "card", "aria-label": "failures" }, h("h3", {}, "Failures by type and stage"),
      failures.length
        ? h("table", {}, h("tbody", {}, failures.map((f) => h("tr", {},
          h("td", {}, f.error_type), h("td", { class: "mono" }, f.stage || "—"),
          h("td", { class: "num" }, h("a", { href: `#/plans/${enc(planId)}?status=FAILED` }, num(f.count)))))))
        : h("p", { class: "muted" }, "none"));
  }

  // ------------------------------------------------------------------ actions
  function drawActions(plan) {
    if (!ctx.canOperate) { show(actions); return; }
    const running = plan.status === "RUNNING", paused = plan.status === "PAUSED";
    const settledPlan = !running && !paused;
    const counts = plan.counts;
    const revertable = (counts.COMPLETED || 0) + (counts.CANCELLED || 0);
    show(actions,
      running ? h("button", { type: "button", onclick: () => planOp("pause",
        `Pause plan ${planId}: running tasks stop at their next stage boundary; nothing new is admitted.`) }, "Pause plan") : null,
      paused || (plan.rollout && plan.rollout.halted) ? h("button", { type: "button", onclick: () => planOp("resume",
        `Resume plan ${planId}: paused tasks continue from their checkpoint${plan.rollout && plan.rollout.halted ? "; the failure budget no longer halts it" : ""}.`) }, "Resume plan") : null,
      !settledPlan ? h("button", { type: "button", class: "danger", onclick: () => planOp("cancel",
        `Cancel plan ${planId}: ${num((counts.PENDING || 0) + (counts.PAUSED || 0))} pending or paused tasks are cancelled; running tasks stop at their next stage boundary. Cancelled tasks are not rolled back.`) }, "Cancel plan") : null,
      revertable ? h("button", { type: "button", onclick: () => revert(plan, revertable) }, "Revert…") : null);
  }

  async function planOp(action, text) {
    const label = action[0].toUpperCase() + action.slice(1);
    const result = await confirmAction({ title: `${label} plan`, text, okLabel: label,
      act: (reason) => post(`/plans/${enc(planId)}/${action}`, { reason }) });
    if (result) { notice(result.message); refresh(); }
  }

  async function promoteWave(plan, index) {
    const wave = plan.policy.waves[index];
    const first = index === 0 ? 0 : plan.policy.waves[index - 1].end;
    const result = await confirmAction({
      title: "Promote", okLabel: `Promote wave ${index + 1}`,
      text: `Admit wave ${index + 1} of plan ${planId}: ${num(wave.end - first)} tenants (${num(first + 1)}–${num(wave.end)}) start switching.`,
      act: (reason) => post(`/plans/${enc(planId)}/promote`, { reason }),
    });
    if (result) { notice(result.message); refresh(); }
  }

  async function revert(plan, count) {
    const result = await confirmAction({
      title: "Revert", okLabel: "Create revert plan",
      text: `Create a new plan that switches the ${num(count)} COMPLETED or CANCELLED tasks of plan ${planId} back to their previous config, through the same stages. Plan ${planId} itself is left as it is.`,
      act: (reason) => post(`/plans/${enc(planId)}/revert`, { statuses: ["COMPLETED", "CANCELLED"], reason }),
    });
    if (result) {
      notice(`plan ${result.plan_id} created with ${num(result.task_count)} tasks` +
        (result.skipped.length ? `; ${result.skipped.length} skipped` : ""));
      location.hash = `#/plans/${enc(result.plan_id)}`;
    }
  }

  // Actions on every task of the selected status: exactly what the filter shows.
  function drawBulk(plan) {
    const s = state.statusFilter;
    if (!ctx.canOperate || !s || !plan.matching || state.prefix) { show(bulk); return; }
    const n = plan.matching, what = `${num(n)} ${s} task${n === 1 ? "" : "s"} of plan ${planId}`;
    const buttons = ALLOWED[s].map((action) => h("button", {
      type: "button", class: DANGER.has(action) ? "danger" : null,
      onclick: () => bulkOp(action, s, n, what),
    }, `${LABELS[action]} ${num(n)} ${s}`));
    show(bulk, buttons.length ? h("span", { class: "muted" }, "Selection:") : null, buttons);
  }

  async function bulkOp(action, s, n, what) {
    const checkpoint = h("input", { type: "checkbox", id: "bulk-checkpoint" });
    const version = h("input", { type: "number", id: "bulk-version", min: 0, placeholder: "their previous version" });
    const texts = {
      retry: `Retry ${what}, each from the first stage (or from its checkpoint, if ticked).`,
      rollback: `Roll back ${what} to their previous config.`,
      pause: `Pause ${what}: each stops at its next stage boundary.`,
      resume: `Resume ${what} from their checkpoints.`,
      cancel: `Cancel ${what}: running ones stop at their next stage boundary; none is rolled back.`,
    };
    const extra = action === "retry"
      ? [h("label", { class: "inline" }, checkpoint, "from the checkpoint (skip the stages that completed)")]
      : action === "rollback"
        ? [h("label", {}, "Write this version instead (for gateways that only accept increasing versions)", version)]
        : [];
    const label = LABELS[action];
    const result = await confirmAction({
      title: `${label} ${num(n)} ${s} tasks`, text: texts[action], okLabel: label, extra,
      act: (reason) => post(`/plans/${enc(planId)}/selection/${action}`, {
        statuses: [s], reason,
        from_checkpoint: action === "retry" ? checkpoint.checked : false,
        version: action === "rollback" && version.value !== "" ? Number(version.value) : null,
      }),
    });
    if (!result) return;
    const accepted = result.accepted.reduce((sum, a) => sum + a.task_ids.length, 0);
    const refused = result.refused;
    notice(`${label}: ${num(accepted)} accepted` + (refused.length
      ? `; ${num(refused.length)} refused — ${refused.slice(0, 3).map((r) => `${r.task_id}: ${r.message}`).join("; ")}`
      : ""), refused.length > 0);
    refresh();
  }

  // ------------------------------------------------------------------ live
  function onEvents(events) {
    for (const event of events) {
      const row = event.task_id && state.rows.get(event.task_id);
      if (row && event.status) {
        show(row.querySelector(".st"), status(event.status));
        if (event.stage) show(row.querySelector(".stage"), event.stage);
      }
    }
    scheduleRefresh();
  }

  refresh().then(() => {
    if (controller.signal.aborted || !state.detail) return;
    follow(planId, state.detail.last_seq, onEvents, controller.signal, showLive);
  });
  return () => {
    controller.abort();
    clearTimeout(state.timer);
    clearTimeout(searchTimer);
    showLive(null);
  };
}
