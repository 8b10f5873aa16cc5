// The task page: stage timeline of the forward run and each retry and rollback, the failure
// with its per-instance verify table, previous config beside the new one, the event history
// and the audit trail; kept current from the plan's event stream.

import { follow, get, post } from "./api.js";
import { ALLOWED, LABELS } from "./plan.js";
import {
  clock, confirmAction, duration, h, notice, num, seconds, show, showLive, status, when,
} from "./ui.js";

const enc = encodeURIComponent;
const RUN_STARTS = {
  TaskStarted: "Forward run", TaskRetryStarted: "Retry", TaskRollingBack: "Rollback",
};
const ACTOR_EVENTS = new Set([
  "OperationAccepted", "TaskRollingBack", "TaskRetryStarted", "TaskResumed", "TaskPaused",
  "TaskCancelled",
]);

export function taskPage(main, ctx, planId, tenantId) {
  const controller = new AbortController();
  const taskId = `${planId}/${tenantId}`;
  const base = `/plans/${enc(planId)}/tasks/${enc(tenantId)}`;
  let timer = null, busy = false, again = false;

  const title = h("h1", {}, tenantId);
  const meta = h("p", { class: "muted" });
  const actions = h("div", { class: "actions", role: "group", "aria-label": "task actions" });
  const summary = h("div", { class: "grid" });
  const timeline = h("section", { "aria-labelledby": "timeline-h" });
  const failure = h("section", { "aria-labelledby": "failure-h" });
  const configs = h("section", { "aria-labelledby": "config-h" });
  const audit = h("section", { "aria-labelledby": "audit-h" });
  const history = h("section", { "aria-labelledby": "events-h" });
  show(main, title, meta, actions, summary, timeline, failure, configs, audit, history);

  async function refresh() {
    if (busy) { again = true; return; }
    busy = true;
    try {
      const [task, page] = await Promise.all([
        get(base, null, controller.signal),
        get(`${base}/events`, { limit: 1000 }, controller.signal),
      ]);
      draw(task, page.events);
    } catch (error) {
      if (controller.signal.aborted) return;
      if (error.status === 404) show(main, h("h1", {}, tenantId), h("p", { class: "error" }, error.message));
      else notice(error.message, true);
    } finally {
      busy = false;
      if (again && !controller.signal.aborted) { again = false; refresh(); }
    }
  }

  function draw(task, events) {
    show(title, tenantId, status(task.status),
      h("span", { class: "tag" }, h("a", { href: `#/plans/${enc(planId)}` }, `plan ${planId}`)));
    show(meta, `task ${task.task_id} · mode ${task.mode} · version ${task.run_version}`,
      ` · retries ${task.retry_count} · created `, when(task.created_at), " · updated ", when(task.updated_at),
      task.requested ? ` · ${task.requested} requested at the next stage boundary` : "",
      task.waiting_for ? ` · waiting for ${task.waiting_for}` : "");
    drawActions(task);
    const done = task.checkpoint ? task.checkpoint.completed : [];
    show(summary,
      h("section", { class: "card", "aria-label": "stages" }, h("h3", {}, "Stages"),
        h("ol", {}, task.stages.map((name) => h("li", { class: "mono" }, name, " ",
          done.includes(name) ? status("COMPLETED")
            : name === task.current_stage ? status(task.status)
              : task.failure && task.failure.stage === name ? status("FAILED") : h("span", { class: "muted" }, "—"))))),
      h("section", { class: "card", "aria-label": "checkpoint" }, h("h3", {}, "Checkpoint"),
        task.checkpoint
          ? h("p", {}, `after stage ${task.checkpoint.last_stage + 1} (${done[done.length - 1]}), ${task.checkpoint.mode} mode, at `, when(task.checkpoint.at))
          : h("p", { class: "muted" }, "none: a retry starts from the first stage")));
    show(timeline, h("h2", { id: "timeline-h" }, "Stage timeline"), runs(events));
    show(failure, h("h2", { id: "failure-h" }, "Failure"), failureView(task.failure));
    show(configs, h("h2", { id: "config-h" }, "Previous config → new config"), configDiff(task.previous, task.config));
    show(audit, h("h2", { id: "audit-h" }, "Audit trail"), auditView(events));
    show(history, h("h2", { id: "events-h" }, `Events (${num(events.length)})`), eventTable(events));
  }

  // ------------------------------------------------------------------ actions
  function drawActions(task) {
    if (!ctx.canOperate) { show(actions); return; }
    const buttons = (ALLOWED[task.status] || []).map((action) => h("button", {
      type: "button", class: action === "rollback" || action === "cancel" ? "danger" : null,
      onclick: () => taskOp(task, action),
    }, LABELS[action]));
    if (task.status === "COMPLETED" || task.status === "CANCELLED") {
      buttons.push(h("button", { type: "button", onclick: () => revert(task) }, "Revert…"));
    }
    show(actions, buttons);
  }

  async function taskOp(task, action) {
    const who = `tenant ${tenantId} (plan ${planId})`;
    const prev = task.previous;
    const checkpoint = h("input", { type: "checkbox", id: "task-checkpoint", disabled: !task.has_checkpoint });
    const version = h("input", { type: "number", id: "task-version", min: 0,
      placeholder: prev ? String(prev.plan_version) : "" });
    const after = task.checkpoint ? task.checkpoint.completed[task.checkpoint.completed.length - 1] : null;
    const texts = {
      retry: `Retry ${who} from the first stage${after ? ` (or, if ticked, from its checkpoint after ${after})` : ""}, with its new config v${task.config.plan_version}.`,
      rollback: prev
        ? `Roll back ${who} to its previous config: deploy unit ${prev.deploy_unit_name} v${prev.plan_version}, re-running its stages in rollback mode.`
        : `Roll back ${who}: it has no previous config, so the engine will refuse.`,
      pause: `Pause ${who}: it stops at its next stage boundary.`,
      resume: `Resume ${who} from its checkpoint.`,
      cancel: `Cancel ${who}: it stops at its next stage boundary and is not rolled back.`,
    };
    const extra = action === "retry"
      ? [h("label", { class: "inline" }, checkpoint, "from the checkpoint (skip the stages that completed)")]
      : action === "rollback"
        ? [h("label", {}, "Write this version instead (for gateways that only accept increasing versions)", version)]
        : [];
    const result = await confirmAction({
      title: `${LABELS[action]} ${tenantId}`, text: texts[action], okLabel: LABELS[action], extra,
      act: (reason) => post(`${base}/${action}`, {
        reason,
        from_checkpoint: action === "retry" ? checkpoint.checked : false,
        version: action === "rollback" && version.value !== "" ? Number(version.value) : null,
      }),
    });
    if (result) { notice(result.message); refresh(); }
  }

  async function revert(task) {
    const prev = task.previous;
    const result = await confirmAction({
      title: "Revert", okLabel: "Create revert plan",
      text: `Create a new plan that switches tenant ${tenantId} back to its previous config` +
        (prev ? ` (deploy unit ${prev.deploy_unit_name} v${prev.plan_version})` : "") +
        `, through the same stages. Plan ${planId} is left as it is.`,
      act: (reason) => post(`/plans/${enc(planId)}/revert`, { tenants: [tenantId], reason }),
    });
    if (result) {
      notice(`plan ${result.plan_id} created`);
      location.hash = `#/plans/${enc(result.plan_id)}`;
    }
  }

  // ------------------------------------------------------------------ live
  get(`/plans/${enc(planId)}`, { limit: 1 }, controller.signal).then((plan) => {
    refresh();
    follow(planId, plan.last_seq, (events) => {
      if (events.some((e) => e.task_id === taskId) && !timer) {
        timer = setTimeout(() => { timer = null; refresh(); }, 300);
      }
    }, controller.signal, showLive);
  }, (error) => {
    if (!controller.signal.aborted) show(main, h("h1", {}, tenantId), h("p", { class: "error" }, error.message));
  });
  return () => {
    controller.abort();
    clearTimeout(timer);
    showLive(null);
  };
}

// -------------------------------------------------------------------- stage timeline

/** The task's runs (forward, each retry, each rollback), each with its stages' timings. */
export function stageRuns(events) {
  const list = [];
  let run = null;
  for (const event of events) {
    if (RUN_STARTS[event.type]) {
      run = { kind: RUN_STARTS[event.type], at: event.at, actor: event.data && event.data.actor,
        reason: event.data && event.data.reason, stages: [], end: null };
      list.push(run);
      continue;
    }
    if (!run) continue;
    if (event.type === "StageStarted") {
      run.stages.push({ name: event.stage, started: event.at, took: null, result: "running" });
    } else if (event.type === "StageCompleted" || event.type === "StageFailed") {
      const stage = [...run.stages].reverse().find((s) => s.name === event.stage && s.took === null);
      if (stage) {
        stage.took = seconds(stage.started, event.at);
        stage.result = event.type === "StageCompleted" ? "completed" : "failed";
        stage.failure = event.failure;
      }
    } else if (["TaskCompleted", "TaskFailed", "TaskRolledBack", "TaskRollbackFailed",
      "TaskCancelled", "TaskPaused"].includes(event.type)) {
      run.end = { type: event.type, status: event.status, at: event.at };
    }
  }
  return list;
}

function runs(events) {
  const list = stageRuns(events);
  if (!list.length) return h("p", { class: "muted" }, "Not started yet.");
  let retries = 0, rollbacks = 0;
  return list.map((run) => {
    const n = run.kind === "Retry" ? ++retries : run.kind === "Rollback" ? ++rollbacks : 0;
    const longest = Math.max(0.001, ...run.stages.map((s) => s.took || 0));
    return h("section", { class: "timeline", "data-run": run.kind },
      h("h3", {}, `${run.kind}${n ? ` ${n}` : ""}`, " · started ", clock(run.at),
        run.actor ? ` by ${run.actor}` : "", run.reason ? ` (${run.reason})` : "",
        run.end ? [" · ", status(run.end.status || "COMPLETED"), ` after ${duration(seconds(run.at, run.end.at))}`] : ""),
      h("table", {}, h("thead", {}, h("tr", {},
        ["Stage", "Started", "Took", "Result", ""].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, run.stages.map((s) => h("tr", { "data-stage": s.name },
        h("td", { class: "mono" }, s.name),
        h("td", {}, clock(s.started)),
        h("td", { class: "num" }, s.took === null ? "…" : duration(s.took)),
        h("td", {}, s.result === "completed" ? status("COMPLETED") : s.result === "failed"
          ? [status("FAILED"), s.failure ? ` ${s.failure.error_type}` : ""] : status("RUNNING")),
        h("td", { class: "bar-cell" }, h("span", { class: s.result === "failed" ? "dur failed" : "dur",
          style: { width: `${Math.max(1, (100 * (s.took || 0)) / longest)}%` } })))))));
  });
}

// -------------------------------------------------------------------- failure

function failureView(failure) {
  if (!failure) return h("p", { class: "muted" }, "none");
  const details = failure.details || {};
  const instances = Array.isArray(details.instances) ? details.instances : null;
  const rest = Object.entries(details).filter(([key]) => key !== "instances");
  return [
    h("dl", { class: "kv", id: "failure" },
      h("dt", {}, "error"), h("dd", {}, h("strong", {}, failure.error_type)),
      h("dt", {}, "where"), h("dd", { class: "mono" }, [failure.stage, failure.step].filter(Boolean).join(" / ") || "—"),
      h("dt", {}, "message"), h("dd", {}, failure.message),
      h("dt", {}, "retryable"), h("dd", {}, failure.retryable ? "yes" : "no"),
      rest.map(([key, value]) => [h("dt", {}, key), h("dd", { class: "mono" },
        typeof value === "object" ? JSON.stringify(value) : String(value))])),
    instances ? h("table", { id: "instances", "aria-label": "instances" },
      h("caption", { class: "muted" }, `${instances.filter((i) => !i.matched).length} of ${instances.length} instances never reported the expected version`),
      h("thead", {}, h("tr", {}, ["Instance", "Last reported", "Result"].map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, instances.map((i) => h("tr", { "data-instance": i.instance },
        h("td", { class: "mono" }, i.instance),
        h("td", { class: "mono" }, i.last_reported ?? i.error ?? "—"),
        h("td", {}, i.matched ? status("COMPLETED") : status("FAILED")))))) : null,
  ];
}

// -------------------------------------------------------------------- configs

/** Lines of `a` and `b` marked same / del / add, by longest common subsequence. */
export function lineDiff(a, b) {
  const n = a.length, m = b.length;
  const lcs = Array.from({ length: n + 1 }, () => new Array(m + 1).fill(0));
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lcs[i][j] = a[i] === b[j] ? lcs[i + 1][j + 1] + 1 : Math.max(lcs[i + 1][j], lcs[i][j + 1]);
    }
  }
  const left = [], right = [];
  let i = 0, j = 0;
  while (i < n || j < m) {
    if (i < n && j < m && a[i] === b[j]) { left.push(["same", a[i++]]); right.push(["same", b[j++]]); }
    else if (j < m && (i === n || lcs[i][j + 1] >= lcs[i + 1][j])) right.push(["add", b[j++]]);
    else left.push(["del", a[i++]]);
  }
  return { left, right };
}

function configDiff(previous, config) {
  const lines = (value) => (value ? JSON.stringify(value, null, 2).split("\n") : []);
  const { left, right } = lineDiff(lines(previous), lines(config));
  const pane = (label, marked, id) => h("div", {},
    h("h3", {}, label),
    h("pre", { id, tabindex: "0", "aria-label": label },
      marked.length ? marked.map(([kind, text]) => h("span", { class: kind },
        kind === "del" ? "− " : kind === "add" ? "+ " : "  ", text)) : "(none)"));
  return h("div", { class: "diff" },
    pane(previous ? `previous (v${previous.plan_version}, ${previous.deploy_unit_name})` : "previous (none)", left, "config-previous"),
    pane(`new (v${config.plan_version}, ${config.deploy_unit_name})`, right, "config-new"));
}

// -------------------------------------------------------------------- audit and events

function detailOf(event) {
  const data = event.data || {};
  const parts = [];
  if (event.type === "OperationAccepted") parts.push(`${data.operation} ${data.target}`);
  if (event.failure) parts.push(`${event.failure.error_type}: ${event.failure.message}`);
  if (data.message) parts.push(data.message);
  return parts.join(" · ");
}

function auditView(events) {
  const rows = events.filter((e) => ACTOR_EVENTS.has(e.type) && e.data && e.data.actor);
  if (!rows.length) return h("p", { class: "muted" }, "No operator has acted on this task.");
  return h("ul", { id: "audit" }, rows.map((e) => h("li", {},
    when(e.at), ` — ${e.data.actor}: `, h("strong", {}, e.type === "OperationAccepted" ? e.data.operation : e.type),
    e.type === "OperationAccepted" ? ` ${e.data.target}` : "",
    e.data.reason ? ` — “${e.data.reason}”` : "")));
}

function eventTable(events) {
  return h("table", { id: "events" },
    h("thead", {}, h("tr", {}, ["#", "Time", "Event", "Status", "Stage", "Detail", "By"]
      .map((c) => h("th", { scope: "col" }, c)))),
    h("tbody", {}, events.map((e) => h("tr", {},
      h("td", { class: "num" }, String(e.seq)),
      h("td", {}, clock(e.at)),
      h("td", {}, e.type),
      h("td", {}, e.status ? status(e.status) : ""),
      h("td", { class: "mono" }, e.stage || ""),
      h("td", {}, detailOf(e)),
      h("td", {}, (e.data && e.data.actor) || e.triggered_by || "")))));
}
